//! End to end on the local stack (run by `scripts/bench-end-to-end.sh`): a
//! 1,000-member event due at t0, through every step in-process on real
//! PostgreSQL and moto:
//!
//! schedule-events (`run_scheduler` for t0, real `SqsQueue`) → the
//! schedule-notifications message, received from moto and handed to
//! `schedule_notifications::handle_batch` (fan-out, real `SqsQueue` to moto,
//! `BENCH_E2E_SQS_SEND_CONCURRENCY` calls in flight per channel, default 8 as
//! the template sets it) → the send-sms / send-email queues received in
//! batches of 10 and handed to `deliver_batch` with the real `SmsSender` /
//! `EmailSender` → moto's SNS and SES.
//!
//! t0 is the firing's trigger time, and the scheduler run starts at t0 (the
//! event is made due at a whole second just ahead instead of waiting for a
//! wall-clock minute). Each delivery's lateness is its `sent_timestamp` in
//! `event_reminders_logs` (taken when the provider accepted) minus the
//! trigger time.
//!
//! Each function instance is a thread with its own runtime, SDK clients and
//! pool of the template's DbPoolSize (2). The pollers stand in for Lambda's
//! SQS event source: `BENCH_E2E_POLLERS` per sender queue (default 2, the
//! template's Sms/Email MaximumConcurrency defaults) and one for
//! schedule-notifications, receiving up to 10 messages (1 s long poll) and
//! deleting what the handler acknowledged. The queues carry the template's
//! visibility timeouts. The run ends when every delivery is logged sent, or
//! 15 s after the last delivery once the fan-out has given its message back
//! (SQS would show it again only 720 s later), or after
//! `BENCH_E2E_MAX_SECONDS` (default 300).

use chrono::{DateTime, TimeDelta, Utc};
use schedule_events::{SchedulerConfig, run_scheduler};
use schedule_notifications::{FanOutConfig, handle_batch};
use send_email::EmailSender;
use send_sms::{OptOuts, SmsSender};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use torium_aws::{
    AwsError, EmailOptions, MessageQueue, OutgoingMessage, Ses, SmsOptions, Sns, SqsDeadLetters, SqsQueue,
};
use torium_delivery::{ChannelSender, deliver_batch};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use torium_runtime::{Clock, Consumer, DEFAULT_GROUP_CONCURRENCY, DEFAULT_MARGIN, Deadline, Metrics};
use torium_store::{DbSettings, SslMode, Store, connect_pool};
use torium_tests::TestDatabase;
use torium_tests::moto::{self, ReceivedMessage, create_api_fifo_queue, create_fifo_queue, sqs_event};

/// The template's `DbPoolSize` default: connections per function instance.
const POOL_SIZE: usize = 2;
const SENDER_TIMEOUT: Duration = Duration::from_secs(30);
const FAN_OUT_TIMEOUT: Duration = Duration::from_secs(120);
const SCHEDULER_TIMEOUT: Duration = Duration::from_secs(120);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `SqsQueue` with its calls and time counted (the fan-out's queue).
struct Counted {
    inner: SqsQueue,
    calls: AtomicUsize,
    failed: AtomicUsize,
    time: Mutex<Duration>,
}

impl MessageQueue for Counted {
    async fn send_all(&self, queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        let t = Instant::now();
        let result = self.inner.send_all(queue_url, messages).await;
        *self.time.lock().unwrap() += t.elapsed();
        match &result {
            Ok(calls) => self.calls.fetch_add(*calls, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }
}

/// What one poller spent where.
#[derive(Default, Debug, Clone, Copy)]
struct PollerTime {
    receives: usize,
    receive: Duration,
    handled: usize,
    handle: Duration,
    delete: Duration,
    receive_errors: usize,
    delete_errors: usize,
}

impl std::ops::AddAssign for PollerTime {
    fn add_assign(&mut self, o: Self) {
        self.receives += o.receives;
        self.receive += o.receive;
        self.handled += o.handled;
        self.handle += o.handle;
        self.delete += o.delete;
        self.receive_errors += o.receive_errors;
        self.delete_errors += o.delete_errors;
    }
}

/// A function instance's own store, as its cold start builds it.
fn store_for(url: &str) -> Store {
    let mut settings = DbSettings::from_url(url, SslMode::Disable).expect("database URL");
    settings.pool_size = POOL_SIZE;
    Store::new(connect_pool(&settings).expect("pool"))
}

/// A function instance: a thread with its own Tokio runtime (and so its
/// own SDK clients, connections and pool, made inside it), as each Lambda
/// instance is a process of its own.
fn instance<F, Fut, T>(work: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(work())
    })
}

/// What an instance needs to build itself.
#[derive(Clone)]
struct Setup {
    database_url: String,
    dead_letter_url: String,
    from_address: String,
    send_concurrency: usize,
}

impl Setup {
    async fn consumer(&self, sqs: &SqsQueue) -> Consumer<SqsDeadLetters> {
        Consumer {
            dead_letters: SqsDeadLetters::new(sqs, self.dead_letter_url.clone()),
            group_concurrency: DEFAULT_GROUP_CONCURRENCY,
            // EMF lines kept in memory: the bench's output stays readable.
            metrics: Metrics::in_memory("bench").0,
            clock: Clock::system(), // the run's firings are due now
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Channel {
    Sms,
    Email,
}

/// Up to ten messages (1 s long poll) with their receipt handles.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<(ReceivedMessage, String)>, String> {
    use aws_sdk_sqs::types::MessageSystemAttributeName as Attr;
    let out = match sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(Attr::All)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => return Err(e.to_string()),
    };
    Ok(out
        .messages()
        .iter()
        .map(|m| {
            let attribute = |name: Attr| m.attributes().and_then(|a| a.get(&name)).cloned().unwrap_or_default();
            (
                ReceivedMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    group_id: attribute(Attr::MessageGroupId),
                    deduplication_id: attribute(Attr::MessageDeduplicationId),
                    sent_timestamp: attribute(Attr::SentTimestamp),
                },
                m.receipt_handle().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Deletes what the handler acknowledged (as Lambda does); returns how many.
/// A delete that fails leaves the message to come back after its
/// visibility timeout (where the delivery log makes it a no-op).
async fn delete_acknowledged(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    received: &[(ReceivedMessage, String)],
    response: &SqsBatchResponse,
) -> Result<usize, String> {
    use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
    let failed: std::collections::HashSet<&str> =
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    let entries: Vec<_> = received
        .iter()
        .enumerate()
        .filter(|(_, (m, _))| !failed.contains(m.message_id.as_str()))
        .map(|(i, (_, handle))| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build().unwrap()
        })
        .collect();
    let acknowledged = entries.len();
    if !entries.is_empty() {
        sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.map_err(|e| e.to_string())?;
    }
    Ok(acknowledged)
}

/// Set by the main task once every delivery is logged sent (or the time is up).
struct Shared {
    done: std::sync::atomic::AtomicBool,
    /// The fan-out gave its message back: SQS shows it again only after the
    /// queue's visibility timeout (720 s), past the bench's bound.
    fan_out_failed: std::sync::atomic::AtomicBool,
    stop_at: Instant,
}

impl Shared {
    fn running(&self) -> bool {
        !self.done.load(Ordering::SeqCst) && Instant::now() < self.stop_at
    }
}

/// One sender instance (its cold start, then receive, deliver_batch,
/// delete, until every delivery is acknowledged).
async fn sender_instance(setup: Setup, channel: Channel, url: String, shared: Arc<Shared>) -> PollerTime {
    let sdk = moto::sdk_config().await;
    let sqs = SqsQueue::new(&sdk);
    let store = store_for(&setup.database_url);
    let consumer = setup.consumer(&sqs).await;
    match channel {
        Channel::Sms => {
            let sender = SmsSender {
                sns: Sns::new(&sdk),
                options: SmsOptions { sms_type: "Transactional".into(), sender_id: Some("Torium".into()) },
                opt_outs: OptOuts::load(&Sns::new(&sdk), Duration::from_secs(300)).await,
            };
            poll(&store, sqs.client(), &url, &sender, &consumer, &shared).await
        }
        Channel::Email => {
            let options = EmailOptions { from_address: setup.from_address.clone(), configuration_set: None };
            let sender = EmailSender { ses: Ses::new(&sdk), options };
            poll(&store, sqs.client(), &url, &sender, &consumer, &shared).await
        }
    }
}

async fn poll(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    sender: &impl ChannelSender,
    consumer: &Consumer<SqsDeadLetters>,
    shared: &Shared,
) -> PollerTime {
    let mut time = PollerTime::default();
    while shared.running() {
        let t = Instant::now();
        let received = receive(sqs, url).await;
        time.receives += 1;
        time.receive += t.elapsed();
        let Ok(received) = received else {
            time.receive_errors += 1;
            continue;
        };
        if received.is_empty() {
            continue;
        }
        let messages: Vec<ReceivedMessage> = received.iter().map(|(m, _)| m.clone()).collect();
        let event: SqsEvent = sqs_event(&messages);
        let t = Instant::now();
        let deadline = Deadline::after(SENDER_TIMEOUT, DEFAULT_MARGIN);
        let response = deliver_batch(store, sender, consumer, &deadline, &event).await;
        time.handle += t.elapsed();
        let t = Instant::now();
        match delete_acknowledged(sqs, url, &received, &response).await {
            Ok(acknowledged) => time.handled += acknowledged,
            Err(_) => time.delete_errors += 1,
        }
        time.delete += t.elapsed();
    }
    time
}

/// What the schedule-notifications instance saw.
struct FanOutRun {
    picked: Option<DateTime<Utc>>,
    done: Option<DateTime<Utc>>,
    invocations: usize,
    time: PollerTime,
    calls: usize,
    failed_calls: usize,
    /// Messages handle_batch gave back for retry.
    returned: usize,
    send_time: Duration,
}

/// The schedule-notifications instance: receive, handle_batch, delete,
/// until the firing is fanned out.
async fn fan_out_instance(setup: Setup, url: String, config: FanOutConfig, shared: Arc<Shared>) -> FanOutRun {
    let sdk = moto::sdk_config().await;
    let sqs = SqsQueue::new(&sdk);
    let store = store_for(&setup.database_url);
    let consumer = setup.consumer(&sqs).await;
    // SQS_SEND_CONCURRENCY as the template sets it (8) unless the bench says otherwise.
    let inner = sqs.clone().with_send_concurrency(setup.send_concurrency);
    let queue = Counted { inner, calls: AtomicUsize::new(0), failed: AtomicUsize::new(0), time: Mutex::default() };
    let client = sqs.client();
    let mut run = FanOutRun {
        picked: None,
        done: None,
        invocations: 0,
        time: PollerTime::default(),
        calls: 0,
        failed_calls: 0,
        returned: 0,
        send_time: Duration::ZERO,
    };
    while shared.running() && run.done.is_none() {
        let t = Instant::now();
        let received = receive(client, &url).await;
        run.time.receives += 1;
        run.time.receive += t.elapsed();
        let Ok(received) = received else {
            run.time.receive_errors += 1;
            continue;
        };
        if received.is_empty() {
            continue;
        }
        run.picked.get_or_insert_with(Utc::now);
        let messages: Vec<ReceivedMessage> = received.iter().map(|(m, _)| m.clone()).collect();
        let deadline = Deadline::after(FAN_OUT_TIMEOUT, DEFAULT_MARGIN);
        let t = Instant::now();
        let response = handle_batch(&store, &queue, &config, &consumer, &deadline, &sqs_event(&messages)).await;
        run.time.handle += t.elapsed();
        run.invocations += 1;
        let t = Instant::now();
        run.returned += response.batch_item_failures.len();
        if !response.batch_item_failures.is_empty() {
            shared.fan_out_failed.store(true, Ordering::SeqCst);
        }
        match delete_acknowledged(client, &url, &received, &response).await {
            Ok(acknowledged) => run.time.handled += acknowledged,
            Err(_) => run.time.delete_errors += 1,
        }
        run.time.delete += t.elapsed();
        let finished: Option<bool> = store
            .pool()
            .get()
            .await
            .expect("a connection")
            .query_one("SELECT bool_and(fanned_out_at IS NOT NULL) FROM event_reminders", &[])
            .await
            .expect("fan-out progress")
            .get(0);
        if finished == Some(true) {
            run.done = Some(Utc::now());
        }
    }
    run.calls = queue.calls.load(Ordering::Relaxed);
    run.failed_calls = queue.failed.load(Ordering::Relaxed);
    run.send_time = *queue.time.lock().unwrap();
    run
}

/// The handlers' warnings and errors, as JSON lines in a file (summarised
/// in the figures).
fn log_to_file() -> std::path::PathBuf {
    let path = std::env::var("BENCH_LOG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("torium-bench-end-to-end.log"));
    let file = std::fs::File::create(&path).expect("the log file");
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(Mutex::new(file))
        .init();
    path
}

/// (count, level, message) of the log's lines, most frequent first.
fn log_summary(path: &std::path::Path) -> Vec<(usize, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let level = v["level"].as_str().unwrap_or("?").to_owned();
        let mut message = v["fields"]["message"].as_str().unwrap_or("?").to_owned();
        if let Some(error) = v["fields"]["error"].as_str() {
            message = format!("{message}: {}", error.chars().take(120).collect::<String>());
        }
        *counts.entry((level, message)).or_default() += 1;
    }
    let mut summary: Vec<_> = counts.into_iter().map(|((l, m), n)| (n, l, m)).collect();
    summary.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
    summary
}

#[tokio::main]
async fn main() {
    let log = log_to_file();
    let members: i64 = env_or("BENCH_E2E_MEMBERS", 1000);
    let pollers: usize = env_or("BENCH_E2E_POLLERS", 2);
    let max_time = Duration::from_secs(env_or("BENCH_E2E_MAX_SECONDS", 300));
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let sdk = moto::sdk_config().await;
    let sqs = SqsQueue::new(&sdk);
    let client = sqs.client().clone();

    // The suite's queues, as the template declares them (FIFO, their
    // deduplication, their visibility timeouts: 6 x the consumer's timeout).
    let schedule_notifications = create_api_fifo_queue(&client, "schedule-notifications").await;
    let fan_out_config = FanOutConfig::with_queues(
        &create_fifo_queue(&client, "send-sms").await,
        &create_fifo_queue(&client, "send-email").await,
        &create_fifo_queue(&client, "send-push").await,
        &schedule_notifications,
    );
    // The channel queues are high-throughput FIFO in the template.
    use aws_sdk_sqs::types::QueueAttributeName as Attr;
    for (url, seconds, high_throughput) in [
        (&schedule_notifications, 6 * FAN_OUT_TIMEOUT.as_secs(), false),
        (&fan_out_config.channels.sms, 6 * SENDER_TIMEOUT.as_secs(), true),
        (&fan_out_config.channels.email, 6 * SENDER_TIMEOUT.as_secs(), true),
    ] {
        let mut request =
            client.set_queue_attributes().queue_url(url).attributes(Attr::VisibilityTimeout, seconds.to_string());
        if high_throughput {
            request = request
                .attributes(Attr::DeduplicationScope, "messageGroup")
                .attributes(Attr::FifoThroughputLimit, "perMessageGroupId");
        }
        request.send().await.expect("the queue's attributes");
    }
    let scheduler_config = SchedulerConfig {
        queue_url: schedule_notifications.clone(),
        max_lateness: TimeDelta::minutes(60),
        claim_batch_size: 200,
        max_batches: 50,
    };
    let from_address = "noreply@torium.example".to_owned();
    Ses::new(&sdk)
        .client()
        .create_email_identity()
        .email_identity(&from_address)
        .send()
        .await
        .expect("verify the sender");
    let setup = Setup {
        database_url: db.url.clone(),
        dead_letter_url: create_fifo_queue(&client, "dead-letters").await,
        from_address,
        send_concurrency: env_or("BENCH_E2E_SQS_SEND_CONCURRENCY", 8),
    };

    // moto's own pace for SendMessageBatch (ten messages, one call at a time).
    let probe_queue = create_fifo_queue(&client, "probe").await;
    let mut probe = Vec::new();
    for call in 0..5 {
        let messages: Vec<OutgoingMessage> = (0..10)
            .map(|i| OutgoingMessage {
                body: format!("{{\"probe\":{i},\"text\":\"{}\"}}", "x".repeat(600)),
                group_id: format!("user-{i}"),
                deduplication_id: format!("probe-{call}-{i}"),
            })
            .collect();
        let t = Instant::now();
        sqs.send_all(&probe_queue, &messages).await.expect("probe SendMessageBatch");
        probe.push(t.elapsed());
    }
    probe.sort();
    let probe_ms = probe[probe.len() / 2].as_secs_f64() * 1000.0;

    // t0: the next whole second; the event is due then.
    let t0_ms = (Utc::now().timestamp_millis() / 1000 + 2) * 1000;
    let t0: DateTime<Utc> = DateTime::from_timestamp_millis(t0_ms).unwrap();
    let event: i64 = c
        .query_one(
            "WITH admin AS (INSERT INTO users (cognito_user_id, email) VALUES ('bench-admin', 'admin@example.com') RETURNING id), \
                  g AS (INSERT INTO groups (name, admin_id, description, \"timestamp\") SELECT 'bench', id, NULL, now() FROM admin RETURNING id) \
             INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, time_zone, reminder, schedule_period, \"timestamp\", name) \
             SELECT true, 500, 'Bring snacks', id, $1::timestamptz + interval '1 day', 'UTC', 'once', '1 day', now(), 'End to end' FROM g RETURNING id",
            &[&t0],
        )
        .await
        .unwrap()
        .get(0);
    c.execute(
        "UPDATE events SET schedule_changed_at = $2::timestamptz - interval '1 minute', next_reminder_at = $2 WHERE id = $1",
        &[&event, &t0],
    )
    .await
    .unwrap();
    c.execute(
        "WITH u AS (INSERT INTO users (cognito_user_id, email, reminder_preferences, mobile_number, organization_id, is_confirmed) \
             SELECT 'e2e-' || n, 'e2e' || n || '@example.com', \
                    (CASE WHEN n % 2 = 0 THEN 'SMS' ELSE 'EMAIL' END)::reminder_preferences_type, \
                    '+4861' || lpad((n * 10 + 1)::text, 7, '0'), (SELECT min(id) FROM organizations), true \
             FROM generate_series(1, $2::bigint) AS n RETURNING id) \
         INSERT INTO events_users (event_id, user_id, \"timestamp\") SELECT $1::bigint, id, now() FROM u",
        &[&event, &members],
    )
    .await
    .unwrap();
    c.batch_execute("ANALYZE users; ANALYZE events_users").await.unwrap();

    // Lambda's pollers: running before t0, as the event source always is.
    let shared = Arc::new(Shared {
        done: Default::default(),
        fan_out_failed: Default::default(),
        stop_at: Instant::now() + max_time,
    });
    let mut senders = Vec::new();
    for _ in 0..pollers {
        for (channel, url) in
            [(Channel::Sms, &fan_out_config.channels.sms), (Channel::Email, &fan_out_config.channels.email)]
        {
            let (setup, url, shared) = (setup.clone(), url.clone(), shared.clone());
            senders.push((channel, instance(move || sender_instance(setup, channel, url, shared))));
        }
    }
    let fan_out_task = {
        let (setup, url, config, shared) =
            (setup.clone(), schedule_notifications.clone(), fan_out_config.clone(), shared.clone());
        instance(move || fan_out_instance(setup, url, config, shared))
    };

    // t0: EventBridge's invocation of schedule-events.
    let wait = (t0 - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let run_started = Utc::now();
    let scheduler_store = store_for(&db.url);
    let run = run_scheduler(
        &scheduler_store,
        &sqs,
        &scheduler_config,
        &Deadline::after(SCHEDULER_TIMEOUT, DEFAULT_MARGIN),
        t0,
    )
    .await
    .expect("scheduler run");
    let run_ended = Utc::now();
    assert_eq!(run.enqueued, 1, "one firing enqueued: {run:?}");

    // Until every delivery is logged sent, or the time bound, or (the
    // fan-out having failed) nothing more is delivered for 15 s.
    let (mut last_count, mut last_progress, mut stopped_early) = (0, Instant::now(), false);
    while shared.running() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sent: i64 = c
            .query_one(
                "SELECT count(*) FROM event_reminders_logs l JOIN event_reminders r ON r.id = l.event_reminders_id \
                 WHERE r.event_id = $1 AND l.status = 'sent'",
                &[&event],
            )
            .await
            .unwrap()
            .get(0);
        if sent >= members {
            shared.done.store(true, Ordering::SeqCst);
        }
        if sent != last_count {
            (last_count, last_progress) = (sent, Instant::now());
        }
        if shared.fan_out_failed.load(Ordering::SeqCst) && last_progress.elapsed() > Duration::from_secs(15) {
            stopped_early = true;
            break;
        }
    }
    shared.done.store(true, Ordering::SeqCst);

    let fan_out_run =
        tokio::task::spawn_blocking(move || fan_out_task.join().expect("fan-out instance")).await.unwrap();
    let (picked, fanned_out, invocations, fan_out_time) =
        (fan_out_run.picked, fan_out_run.done, fan_out_run.invocations, fan_out_run.time);
    let mut sender_time: HashMap<&str, PollerTime> = HashMap::new();
    for (channel, task) in senders {
        let time = tokio::task::spawn_blocking(move || task.join().expect("sender instance")).await.unwrap();
        *sender_time.entry(if channel == Channel::Sms { "SMS" } else { "email" }).or_default() += time;
    }

    // The delivery log: each delivery's lateness after the trigger time.
    let rows = c
        .query(
            "SELECT l.channel::text, extract(epoch FROM l.sent_timestamp - r.trigger_timestamp)::float8 \
             FROM event_reminders_logs l JOIN event_reminders r ON r.id = l.event_reminders_id \
             WHERE l.status = 'sent' AND r.event_id = $1 ORDER BY 2",
            &[&event],
        )
        .await
        .unwrap();
    let trigger: DateTime<Utc> = c
        .query_one("SELECT trigger_timestamp FROM event_reminders WHERE event_id = $1", &[&event])
        .await
        .unwrap()
        .get(0);
    assert_eq!(trigger, t0, "the firing's trigger time is t0");
    let lateness: Vec<f64> = rows.iter().map(|r| r.get(1)).collect();
    let by_channel = |channel: &str| -> Vec<f64> {
        rows.iter().filter(|r| r.get::<_, &str>(0) == channel).map(|r| r.get(1)).collect()
    };
    let since_t0 = |at: DateTime<Utc>| (at - t0).num_milliseconds() as f64 / 1000.0;
    let delivered = lateness.len();
    let last = lateness.last().copied().unwrap_or(f64::NAN);
    let first = lateness.first().copied().unwrap_or(f64::NAN);
    let calls = fan_out_run.calls;
    let send_time = fan_out_run.send_time.as_secs_f64();
    let finished = delivered == members as usize;

    let mut out = vec![
        format!(
            "assumptions: moto on loopback as SQS, SNS and SES; {members} members, half SMS, half email; fan-out \
             SQS_SEND_CONCURRENCY {}; t0 = the firing's \
             trigger time = the scheduler run's start; {pollers} poller(s) per sender queue (the template's Sms/Email \
             MaximumConcurrency default 2), each a function instance with its own pool of {POOL_SIZE} connections, \
             receiving 10 at a time (1 s long poll) and deleting what the handler acknowledged; one poller for \
             schedule-notifications; all in one process on the machine's cores, with PostgreSQL (fsync off) and moto; \
             queues' visibility timeouts and high-throughput FIFO as the template sets them",
            setup.send_concurrency
        ),
        format!(
            "end to end: {delivered} of {members} delivered{}; last provider accept {last:.2} s after t0 \
             (goal under 60 s: {})",
            if finished {
                "".to_owned()
            } else if stopped_early {
                " (stopped 15 s after the last delivery: the fan-out failed and SQS shows its message again only after \
                 the queue's 720 s visibility timeout)"
                    .to_owned()
            } else {
                format!(" within the {} s bound", max_time.as_secs())
            },
            if finished && last < 60.0 { "MET" } else { "NOT MET" }
        ),
        format!(
            "lateness (sent_timestamp - trigger time): p50 {:.2} s, p99 {:.2} s, max {:.2} s, first {first:.2} s",
            percentile(&lateness, 50.0),
            percentile(&lateness, 99.0),
            last,
        ),
    ];
    for channel in ["sms", "email"] {
        let l = by_channel(channel);
        if !l.is_empty() {
            out.push(format!(
                "  {channel}: {} delivered, p50 {:.2} s, p99 {:.2} s, max {:.2} s",
                l.len(),
                percentile(&l, 50.0),
                percentile(&l, 99.0),
                l.last().unwrap()
            ));
        }
    }
    out.push("timeline (seconds after t0):".to_owned());
    out.push(format!(
        "  scheduler run {:.2} → {:.2} (claimed {}, enqueued {})",
        since_t0(run_started),
        since_t0(run_ended),
        run.claimed,
        run.enqueued
    ));
    out.push(format!(
        "  fan-out message picked up {:.2}; fan-out done {} ({invocations} invocation(s), {} message(s) given back for \
         retry); {calls} SendMessageBatch calls to the channel queues (in the send_all calls that succeeded), {} send_all \
         failed; {send_time:.2} s inside send_all, summed over the channels sent at once, up to {} calls in flight each",
        picked.map(since_t0).unwrap_or(f64::NAN),
        fanned_out.map_or("never (within the bound)".to_owned(), |at| format!("{:.2}", since_t0(at))),
        fan_out_run.returned,
        fan_out_run.failed_calls,
        setup.send_concurrency,
    ));
    out.push(format!("  first delivery {first:.2}; last delivery {last:.2}"));
    let fan_out_span = match (picked, fanned_out) {
        (Some(a), Some(b)) => format!(
            "; the fan-out's {calls} calls took {:.2} s from its start to its end, {:.0} ms a call",
            (b - a).num_milliseconds() as f64 / 1000.0,
            (b - a).num_milliseconds() as f64 / calls.max(1) as f64
        ),
        _ => String::new(),
    };
    out.push(format!(
        "moto's SendMessageBatch on an empty queue: median {probe_ms:.0} ms a call (10 messages of ~600 bytes, one call at a \
         time){fan_out_span}"
    ));
    out.push("where the pollers' time went (summed over the instances of a queue):".to_owned());
    let ft = fan_out_time;
    out.push(format!(
        "  schedule-notifications: {} receives {:.2} s ({} failed), handle_batch {:.2} s, delete {:.2} s",
        ft.receives,
        ft.receive.as_secs_f64(),
        ft.receive_errors,
        ft.handle.as_secs_f64(),
        ft.delete.as_secs_f64()
    ));
    for name in ["SMS", "email"] {
        let t = sender_time.get(name).copied().unwrap_or_default();
        out.push(format!(
            "  send-{}: {} acknowledged; {} receives {:.2} s ({} failed), deliver_batch {:.2} s, delete {:.2} s ({} failed)",
            name.to_lowercase(),
            t.handled,
            t.receives,
            t.receive.as_secs_f64(),
            t.receive_errors,
            t.handle.as_secs_f64(),
            t.delete.as_secs_f64(),
            t.delete_errors
        ));
    }
    let warnings = log_summary(&log);
    if warnings.is_empty() {
        out.push("the handlers logged no warning or error".to_owned());
    } else {
        out.push(format!("the handlers' warnings and errors (all in {}):", log.display()));
        for (n, level, message) in warnings.iter().take(8) {
            out.push(format!("  {n:>5} {level} {message}"));
        }
    }
    let text = out.join("\n");
    println!("{text}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(path, format!("{text}\n")).expect("write the figures");
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
