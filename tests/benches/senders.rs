//! Sender throughput against the provider's raw ceiling, on moto, in the
//! same run (run by `scripts/bench-senders.sh`):
//!
//! (a) the raw ceiling: one reused SDK client making the provider call
//!     (SNS `Publish` with the sender's SMS attributes; SES v2 `SendEmail`
//!     with the sender's content) for N messages one after the other, as
//!     fast as it can;
//! (b) the real flow: `torium_delivery::deliver_batch` with the real
//!     `SmsSender` / `EmailSender` on the same N messages as Lambda hands
//!     them: batches of 10 messages from 10 users (10 message groups), the
//!     batches one after the other, each batch's groups concurrent up to
//!     `DEFAULT_GROUP_CONCURRENCY` (10, the template's GROUP_CONCURRENCY), on
//!     a pool of the template's DbPoolSize (2) connections, each batch with
//!     the function's 30 s deadline.
//!
//! The messages are the real fan-out's (schedule_notifications::fan_out into
//! an in-memory queue), one fresh firing per round so no delivery is "already
//! sent". After a warm-up, rounds run (a) and (b) back to back, in
//! alternating order, so moto's drift (it shares two cores with this process
//! and PostgreSQL) favours neither. Then, to show where the flow's time
//! goes: CPU per message of moto, this process and the PostgreSQL backends
//! (`/proc`), each provider call timed inside the flow, the flow's
//! statements (pg_stat_statements with planning), the flow at other group
//! concurrencies beside their own ceiling, and the flow against a provider
//! that answers in a fixed latency (no moto). Every loop is bounded by its
//! message count.

use chrono::{DateTime, TimeDelta, Utc};
use schedule_notifications::{FanOutConfig, fan_out};
use send_email::EmailSender;
use send_sms::{OptOuts, SmsSender};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use torium_aws::{
    AwsError, EmailOptions, MessageQueue, OutgoingMessage, Ses, SmsOptions, Sns, SqsDeadLetters, SqsQueue,
};
use torium_delivery::{ChannelSender, SendFailure, deliver_batch};
use torium_domain::{Addressed, Channel, Delivery, DeliveryContent, EventId, ReminderDue};
use torium_runtime::{Clock, Consumer, DEFAULT_GROUP_CONCURRENCY, DEFAULT_MARGIN, Deadline, Metrics};
use torium_store::{DbSettings, SslMode, Store, connect_pool};
use torium_tests::TestDatabase;
use torium_tests::moto::{self, ReceivedMessage, sqs_event};

const BATCH: usize = 10;
const ROUNDS: usize = 5;
/// The senders' `Timeout` in template.yaml.
const SENDER_TIMEOUT: Duration = Duration::from_secs(30);
/// The template's `DbPoolSize` default.
const POOL_SIZE: usize = 2;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Keeps what the fan-out enqueues, per queue.
#[derive(Default)]
struct Captured(Mutex<HashMap<String, Vec<OutgoingMessage>>>);

impl MessageQueue for Captured {
    async fn send_all(&self, queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        self.0.lock().unwrap().entry(queue_url.to_owned()).or_default().extend(messages.iter().cloned());
        Ok(messages.len().div_ceil(BATCH))
    }
}

/// A sender whose provider calls are timed (the diagnostic round only).
struct Timed<'a, S> {
    inner: &'a S,
    calls: Mutex<Vec<Duration>>,
}

impl<S: ChannelSender> ChannelSender for Timed<'_, S> {
    fn channel(&self) -> Channel {
        self.inner.channel()
    }

    async fn send(&self, message: &Addressed<'_>) -> Result<String, SendFailure> {
        let t = Instant::now();
        let result = self.inner.send(message).await;
        self.calls.lock().unwrap().push(t.elapsed());
        result
    }
}

/// A provider that accepts every SMS after a fixed latency, as a real
/// regional endpoint does, to show the flow's concurrency without moto's
/// CPU in the way.
struct LatencyBound {
    latency: Duration,
}

impl ChannelSender for LatencyBound {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, _message: &Addressed<'_>) -> Result<String, SendFailure> {
        static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        tokio::time::sleep(self.latency).await;
        Ok(format!("simulated-{}", SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
    }
}

struct Channels {
    sms: SmsSender,
    email: EmailSender,
    consumer: Consumer<SqsDeadLetters>,
}

/// Wall time and CPU time (this process, and moto's when its pid is known)
/// over one phase.
#[derive(Default, Clone, Copy)]
struct Tally {
    messages: usize,
    time: Duration,
    own_cpu: Duration,
    moto_cpu: Option<Duration>,
    /// The PostgreSQL backends of the bench's connections.
    pg_cpu: Option<Duration>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        let first = self.messages == 0;
        self.messages += other.messages;
        self.time += other.time;
        self.own_cpu += other.own_cpu;
        let sum = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (None, b) if first => b,
            _ => None,
        };
        self.moto_cpu = sum(self.moto_cpu, other.moto_cpu);
        self.pg_cpu = sum(self.pg_cpu, other.pg_cpu);
    }

    fn rate(&self) -> f64 {
        self.messages as f64 / self.time.as_secs_f64()
    }

    fn per_message(cpu: Duration, messages: usize) -> f64 {
        cpu.as_secs_f64() * 1000.0 / messages as f64
    }

    fn cpu_line(&self) -> String {
        let ms = |cpu: Option<Duration>| {
            cpu.map_or("n/a".to_owned(), |cpu| format!("{:.2} ms", Self::per_message(cpu, self.messages)))
        };
        format!(
            "moto {}, this process {:.2} ms, PostgreSQL {}",
            ms(self.moto_cpu),
            Self::per_message(self.own_cpu, self.messages),
            ms(self.pg_cpu)
        )
    }
}

/// CPU time of a process so far (`/proc/<pid>/stat`, user + system).
fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

/// Runs one phase of `messages` messages and tallies its time.
/// The processes whose CPU time is counted besides this one.
#[derive(Default)]
struct Pids {
    moto: Option<String>,
    postgres: Vec<String>,
}

impl Pids {
    fn postgres_cpu(&self) -> Option<Duration> {
        if self.postgres.is_empty() {
            return None;
        }
        self.postgres.iter().map(|p| cpu_of(p)).sum()
    }
}

async fn measured(messages: usize, pids: &Pids, phase: impl std::future::Future<Output = ()>) -> Tally {
    let (own, moto, pg) = (cpu_of("self"), pids.moto.as_deref().and_then(cpu_of), pids.postgres_cpu());
    let t = Instant::now();
    phase.await;
    let time = t.elapsed();
    Tally {
        messages,
        time,
        own_cpu: cpu_of("self").zip(own).map_or(Duration::ZERO, |(a, b)| a - b),
        moto_cpu: pids.moto.as_deref().and_then(cpu_of).zip(moto).map(|(a, b)| a - b),
        pg_cpu: pids.postgres_cpu().zip(pg).map(|(a, b)| a.saturating_sub(b)),
    }
}

#[tokio::main]
async fn main() {
    let messages: usize = env_or("BENCH_SENDER_MESSAGES", 300);
    let rounds: usize = env_or("BENCH_SENDER_ROUNDS", ROUNDS);
    let mut pids = Pids { moto: std::env::var("BENCH_MOTO_PID").ok().filter(|p| !p.is_empty()), postgres: Vec::new() };
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let stats = c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.is_ok()
        && c.query_one("SELECT pg_stat_statements_reset()", &[]).await.is_ok();
    let mut settings = DbSettings::from_url(&db.url, SslMode::Disable).expect("database URL");
    settings.pool_size = POOL_SIZE;
    let store = Store::new(connect_pool(&settings).expect("pool"));

    // The members: `messages` by SMS (numbers ending in 1: moto treats
    // numbers ending in 99 as opted out) and `messages` by email.
    let event: i64 = c
        .query_one(
            "WITH admin AS (INSERT INTO users (cognito_user_id, email) VALUES ('bench-admin', 'admin@example.com') RETURNING id), \
                  g AS (INSERT INTO groups (name, admin_id, description, \"timestamp\") SELECT 'bench', id, NULL, now() FROM admin RETURNING id) \
             INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, \"timestamp\", name) \
             SELECT true, 300, 'Bring snacks', id, '2027-02-01T18:00:00Z', 'periodical', '1 day', now(), 'Climbing' FROM g RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    c.execute(
        "WITH u AS (INSERT INTO users (cognito_user_id, email, reminder_preferences, mobile_number, organization_id, is_confirmed) \
             SELECT 'sender-' || n, 'sender' || n || '@example.com', \
                    (CASE WHEN n % 2 = 0 THEN 'SMS' ELSE 'EMAIL' END)::reminder_preferences_type, \
                    '+4860' || lpad((n * 10 + 1)::text, 7, '0'), (SELECT min(id) FROM organizations), true \
             FROM generate_series(1, 2 * $2::bigint) AS n RETURNING id) \
         INSERT INTO events_users (event_id, user_id, \"timestamp\") SELECT $1::bigint, id, now() FROM u",
        &[&event, &(messages as i64)],
    )
    .await
    .unwrap();

    let sdk = moto::sdk_config().await;
    let sqs = SqsQueue::new(&sdk);
    let ses = Ses::new(&sdk);
    let from_address = "noreply@torium.example".to_owned();
    ses.client().create_email_identity().email_identity(&from_address).send().await.expect("verify the sender");
    let sns = Sns::new(&sdk);
    let channels = Channels {
        sms: SmsSender {
            sns: Sns::new(&sdk),
            options: SmsOptions { sms_type: "Transactional".into(), sender_id: Some("Torium".into()) },
            opt_outs: OptOuts::load(&Sns::new(&sdk), Duration::from_secs(300)).await,
        },
        email: EmailSender { ses: Ses::new(&sdk), options: EmailOptions { from_address, configuration_set: None } },
        consumer: Consumer {
            dead_letters: SqsDeadLetters::new(&sqs, moto::create_fifo_queue(sqs.client(), "bench-dlq").await),
            group_concurrency: DEFAULT_GROUP_CONCURRENCY,
            // EMF lines kept in memory: the bench's output stays readable.
            metrics: Metrics::in_memory("bench").0,
            // The bench's firings are hourly from 2027-01-31 19:00: fresh then.
            clock: Clock::fixed(DateTime::from_timestamp(1_801_418_400, 0).expect("2027-01-31T18:00:00Z")),
        },
    };
    // One reused client for the ceiling.
    let raw_sns = sns.client().clone();
    let raw_ses = ses.client().clone();
    let base: DateTime<Utc> = DateTime::parse_from_rfc3339("2027-01-31T18:00:00Z").unwrap().with_timezone(&Utc);
    let mut firings = 0i64;
    let mut next_firing = || {
        firings += 1;
        base + TimeDelta::hours(firings)
    };

    // Both pool connections open (and the bench's own), to count their backends' CPU.
    {
        let (a, b) = (store.pool().get().await.unwrap(), store.pool().get().await.unwrap());
        drop((a, b));
    }
    pids.postgres = c
        .query("SELECT pid::text FROM pg_stat_activity WHERE datname = current_database()", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let pids = &pids;
    let bench = Bench { store: &store, c: &c, stats, channels: &channels, raw_sns: &raw_sns, raw_ses: &raw_ses, pids };

    // Warm-up (not counted): connections, the pool, moto's first calls of
    // each operation, one whole run of each phase.
    {
        let (sms, email) = deliveries(&store, event, next_firing()).await;
        for phase in Phase::ALL {
            bench.run(phase, &sms, &email, &channels.consumer).await;
        }
    }

    // Rounds: each channel's (a) and (b) back to back, in alternating order
    // so that moto's drift (it shares the cores) favours neither.
    let mut totals = [Tally::default(); 4]; // raw SMS, flow SMS, raw email, flow email
    let mut shares: [Vec<f64>; 2] = Default::default();
    let mut per_round = Vec::new();
    let mut statements: [std::collections::BTreeMap<String, Stmt>; 2] = Default::default();
    for round in 1..=rounds {
        let (sms, email) = deliveries(&store, event, next_firing()).await;
        assert_eq!((sms.len(), email.len()), (messages, messages), "the fan-out's messages");
        let order = if round % 2 == 1 {
            Phase::ALL
        } else {
            [Phase::FlowSms, Phase::RawSms, Phase::FlowEmail, Phase::RawEmail]
        };
        let mut tallies = [Tally::default(); 4];
        for phase in order {
            let (tally, run) = bench.run(phase, &sms, &email, &channels.consumer).await;
            tallies[phase as usize] = tally;
            match phase {
                Phase::FlowSms => merge(&mut statements[0], run),
                Phase::FlowEmail => merge(&mut statements[1], run),
                _ => {}
            }
        }
        for (total, tally) in totals.iter_mut().zip(tallies) {
            total.add(tally);
        }
        let [raw_sms, flow_sms, raw_email, flow_email] = tallies;
        shares[0].push(100.0 * flow_sms.rate() / raw_sms.rate());
        shares[1].push(100.0 * flow_email.rate() / raw_email.rate());
        per_round.push(format!(
            "  round {round}: SMS raw {:.1}/s, flow {:.1}/s ({:.0} %); email raw {:.1}/s, flow {:.1}/s ({:.0} %)",
            raw_sms.rate(),
            flow_sms.rate(),
            100.0 * flow_sms.rate() / raw_sms.rate(),
            raw_email.rate(),
            flow_email.rate(),
            100.0 * flow_email.rate() / raw_email.rate(),
        ));
    }
    let [raw_sms, flow_sms, raw_email, flow_email] = totals;

    // Where the flow's time goes: each provider call timed inside
    // deliver_batch, and the flow at other group concurrencies.
    let mut diagnostic = Vec::new();
    {
        let (sms, email) = deliveries(&store, event, next_firing()).await;
        let timed = Timed { inner: &channels.sms, calls: Mutex::default() };
        let t = measured(messages, pids, async {
            flow(&store, &c, false, &timed, &channels.consumer, &sms).await;
        })
        .await;
        diagnostic.push(("SMS", t, timed.calls.into_inner().unwrap(), raw_sms));
        let timed = Timed { inner: &channels.email, calls: Mutex::default() };
        let t = measured(messages, pids, async {
            flow(&store, &c, false, &timed, &channels.consumer, &email).await;
        })
        .await;
        diagnostic.push(("email", t, timed.calls.into_inner().unwrap(), raw_email));
    }
    let mut sweep = Vec::new();
    for concurrency in [1, 2, 5, 10] {
        let consumer = Consumer { group_concurrency: concurrency, ..channels.consumer.clone() };
        let (sms, email) = deliveries(&store, event, next_firing()).await;
        let mut t = [Tally::default(); 4];
        for phase in Phase::ALL {
            t[phase as usize] = bench.run(phase, &sms, &email, &consumer).await.0;
        }
        sweep.push(format!(
            "  group concurrency {concurrency:>2}: SMS {:.1}/s ({:.0} % of the ceiling beside it, {:.1}/s; moto CPU {}), \
             email {:.1}/s ({:.0} % of {:.1}/s)",
            t[1].rate(),
            100.0 * t[1].rate() / t[0].rate(),
            t[0].rate(),
            t[1].moto_cpu.map_or("n/a".to_owned(), |cpu| format!("{:.2} ms/message", Tally::per_message(cpu, messages))),
            t[3].rate(),
            100.0 * t[3].rate() / t[2].rate(),
            t[2].rate(),
        ));
    }

    // The flow against a latency-bound provider (no moto).
    let latency = Duration::from_millis(env_or("BENCH_PROVIDER_LATENCY_MS", 30));
    let mut simulated = Vec::new();
    for pool_size in [POOL_SIZE, DEFAULT_GROUP_CONCURRENCY] {
        let mut settings = DbSettings::from_url(&db.url, SslMode::Disable).expect("database URL");
        settings.pool_size = pool_size;
        let store = Store::new(connect_pool(&settings).expect("pool"));
        let (sms, _) = deliveries(&store, event, next_firing()).await;
        let sender = LatencyBound { latency };
        let tally = measured(messages, pids, async {
            flow(&store, &c, false, &sender, &channels.consumer, &sms).await;
        })
        .await;
        simulated.push((pool_size, tally));
    }

    let sent: i64 =
        c.query_one("SELECT count(*) FROM event_reminders_logs WHERE status = 'sent'", &[]).await.unwrap().get(0);
    assert_eq!(sent as usize, 2 * messages * (rounds + 6) + 2 * messages, "every delivery logged sent");

    let share = |flow: &Tally, raw: &Tally| 100.0 * flow.rate() / raw.rate();
    let verdict = |share: f64| if share >= 100.0 { "MET" } else { "NOT MET" };
    let mut out = vec![
        format!(
            "assumptions: moto on loopback (one Python process, the machine's cores shared with this process and PostgreSQL) \
             as the provider; {messages} messages per run, {rounds} rounds alternating (a) and (b) after a warm-up; (a) one \
             reused SDK client, calls one after the other; (b) deliver_batch with the real sender, batches of {BATCH} messages \
             from {BATCH} users, batches one after the other, group concurrency {DEFAULT_GROUP_CONCURRENCY}, pool of \
             {POOL_SIZE} connections (DbPoolSize), {} s deadline per batch; PostgreSQL fsync off",
            SENDER_TIMEOUT.as_secs()
        ),
        format!(
            "SMS (SNS Publish): raw ceiling {:.1}/s, deliver_batch {:.1}/s delivered: {:.0} % of the ceiling over all rounds, \
             median of the rounds {:.0} % (goal at least 100 %: {})",
            raw_sms.rate(),
            flow_sms.rate(),
            share(&flow_sms, &raw_sms),
            median(&shares[0]),
            verdict(share(&flow_sms, &raw_sms))
        ),
        format!(
            "email (SES v2 SendEmail): raw ceiling {:.1}/s, deliver_batch {:.1}/s delivered: {:.0} % of the ceiling over all rounds, \
             median of the rounds {:.0} % (goal at least 100 %: {})",
            raw_email.rate(),
            flow_email.rate(),
            share(&flow_email, &raw_email),
            median(&shares[1]),
            verdict(share(&flow_email, &raw_email))
        ),
        "per round:".to_owned(),
    ];
    out.extend(per_round);
    out.push("CPU per message (user + system):".to_owned());
    out.push(format!("  SMS raw: {}; SMS flow: {}", raw_sms.cpu_line(), flow_sms.cpu_line()));
    out.push(format!("  email raw: {}; email flow: {}", raw_email.cpu_line(), flow_email.cpu_line()));
    out.push(
        "where the flow's time goes (a further round with each provider call timed inside deliver_batch):".to_owned(),
    );
    for (name, t, calls, raw) in &diagnostic {
        let busy: Duration = calls.iter().sum();
        let mut sorted = calls.clone();
        sorted.sort();
        out.push(format!(
            "  {name}: {} calls in {:.2} s; provider call p50 {:.1} ms, mean {:.1} ms (raw, one at a time: {:.1} ms a message); \
             {:.1} calls in flight on average",
            calls.len(),
            t.time.as_secs_f64(),
            sorted[sorted.len() / 2].as_secs_f64() * 1000.0,
            busy.as_secs_f64() * 1000.0 / calls.len() as f64,
            1000.0 / raw.rate(),
            busy.as_secs_f64() / t.time.as_secs_f64(),
        ));
    }
    if stats {
        for (name, statements) in [("SMS", &statements[0]), ("email", &statements[1])] {
            let total: i64 = statements.values().map(|s| s.calls).sum();
            let sent = (messages * rounds) as f64;
            out.push(format!(
                "  database, {name} flow ({:.2} statements a message; pg_stat_statements, planning tracked): calls a message, \
                 mean planning ms, mean execution ms, statement",
                total as f64 / sent
            ));
            for s in statements.values() {
                let query: String = s.query.chars().take(90).collect();
                out.push(format!(
                    "    {:>5.2} {:>7.3} {:>7.3}  {query}",
                    s.calls as f64 / sent,
                    s.plan_ms / s.calls.max(1) as f64,
                    s.exec_ms / s.calls.max(1) as f64
                ));
            }
        }
    }
    out.push(
        "the flow at other group concurrencies (GROUP_CONCURRENCY), one round each beside its own ceiling:".to_owned(),
    );
    out.extend(sweep);
    out.push(format!(
        "the flow against a provider that answers every call in {} ms (simulated, no moto; one call at a time would reach \
         {:.1}/s, batches of {BATCH} one after the other with nothing else at most {:.1}/s):",
        latency.as_millis(),
        1.0 / latency.as_secs_f64(),
        BATCH as f64 / latency.as_secs_f64(),
    ));
    for (pool_size, tally) in &simulated {
        out.push(format!(
            "  pool of {pool_size:>2} connections: {:.1}/s delivered ({:.1}x one call at a time), {:.1} ms a batch beyond the \
             provider's {} ms",
            tally.rate(),
            tally.rate() * latency.as_secs_f64(),
            BATCH as f64 * 1000.0 / tally.rate() - latency.as_secs_f64() * 1000.0,
            latency.as_millis(),
        ));
    }
    let text = out.join("\n");
    println!("{text}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(path, format!("{text}\n")).expect("write the figures");
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    RawSms = 0,
    FlowSms = 1,
    RawEmail = 2,
    FlowEmail = 3,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::RawSms, Phase::FlowSms, Phase::RawEmail, Phase::FlowEmail];
}

struct Bench<'a> {
    store: &'a Store,
    c: &'a torium_store::PooledClient,
    stats: bool,
    channels: &'a Channels,
    raw_sns: &'a aws_sdk_sns::Client,
    raw_ses: &'a aws_sdk_sesv2::Client,
    pids: &'a Pids,
}

impl Bench<'_> {
    /// One phase on these messages: its tally, and for a flow the server
    /// time of its statements.
    async fn run(
        &self,
        phase: Phase,
        sms: &[ReceivedMessage],
        email: &[ReceivedMessage],
        consumer: &Consumer<SqsDeadLetters>,
    ) -> (Tally, Vec<Stmt>) {
        let mut db = Vec::new();
        let (store, c, stats, ch) = (self.store, self.c, self.stats, self.channels);
        let tally = match phase {
            Phase::RawSms => measured(sms.len(), self.pids, raw_publish(self.raw_sns, sms, &ch.sms.options)).await,
            Phase::RawEmail => {
                measured(email.len(), self.pids, raw_send_email(self.raw_ses, email, &ch.email.options)).await
            }
            Phase::FlowSms => {
                measured(sms.len(), self.pids, async {
                    db = flow(store, c, stats, &ch.sms, consumer, sms).await;
                })
                .await
            }
            Phase::FlowEmail => {
                measured(email.len(), self.pids, async {
                    db = flow(store, c, stats, &ch.email, consumer, email).await;
                })
                .await
            }
        };
        (tally, db)
    }
}

/// One firing of the event fanned out for real into memory: the SMS and the
/// email queue's messages, as SQS would hand them to the senders.
async fn deliveries(
    store: &Store,
    event: i64,
    trigger_at: DateTime<Utc>,
) -> (Vec<ReceivedMessage>, Vec<ReceivedMessage>) {
    let queue = Captured::default();
    let mut config = FanOutConfig::with_queues("sms", "email", "push", "continue");
    // The bench's firings are in 2027 (hourly from 31 Jan 19:00): fresh at this "now".
    config.clock = Clock::fixed(trigger_at);
    let deadline = Deadline::after(Duration::from_secs(120), DEFAULT_MARGIN);
    fan_out(store, &queue, &config, &deadline, ReminderDue { event_id: EventId(event), trigger_at }.into())
        .await
        .expect("fan-out");
    let mut captured = queue.0.into_inner().unwrap();
    let now_ms = Utc::now().timestamp_millis().to_string();
    let mut received = |url: &str| -> Vec<ReceivedMessage> {
        captured
            .remove(url)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, m)| ReceivedMessage {
                message_id: format!("{url}-{trigger_at}-{i}"),
                body: m.body,
                group_id: m.group_id,
                deduplication_id: m.deduplication_id,
                sent_timestamp: now_ms.clone(),
            })
            .collect()
    };
    (received("sms"), received("email"))
}

/// (b): the batches one after the other through deliver_batch; the server
/// time of the statements run meanwhile (when counted).
async fn flow(
    store: &Store,
    c: &torium_store::PooledClient,
    stats: bool,
    sender: &impl ChannelSender,
    consumer: &Consumer<SqsDeadLetters>,
    messages: &[ReceivedMessage],
) -> Vec<Stmt> {
    let batches: Vec<_> = messages.chunks(BATCH).map(sqs_event).collect();
    for batch in &batches {
        let groups: std::collections::HashSet<_> =
            batch.records.iter().map(|r| &r.attributes["MessageGroupId"]).collect();
        assert_eq!(groups.len(), batch.records.len(), "one message per user in a batch");
    }
    if stats {
        c.query_one("SELECT pg_stat_statements_reset()", &[]).await.unwrap();
    }
    for batch in &batches {
        let deadline = Deadline::after(SENDER_TIMEOUT, DEFAULT_MARGIN);
        let response = deliver_batch(store, sender, consumer, &deadline, batch).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    if !stats {
        return Vec::new();
    }
    c.query(
        "SELECT calls, total_plan_time, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel \
           AND query NOT ILIKE '%pg_stat_statements%'",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| Stmt { calls: r.get(0), plan_ms: r.get(1), exec_ms: r.get(2), query: r.get(3) })
    .collect()
}

/// One statement's figures from pg_stat_statements.
#[derive(Debug, Clone, Default)]
struct Stmt {
    calls: i64,
    plan_ms: f64,
    exec_ms: f64,
    query: String,
}

/// Statements summed by text over several runs.
fn merge(into: &mut std::collections::BTreeMap<String, Stmt>, statements: Vec<Stmt>) {
    for s in statements {
        let e = into.entry(s.query.clone()).or_insert_with(|| Stmt { query: s.query.clone(), ..Stmt::default() });
        e.calls += s.calls;
        e.plan_ms += s.plan_ms;
        e.exec_ms += s.exec_ms;
    }
}

fn delivery(m: &ReceivedMessage) -> Delivery {
    Delivery::parse(&m.body).expect("a delivery")
}

/// (a) for SMS: `Publish` as `Sns::publish_sms` sends it, one after the other.
async fn raw_publish(client: &aws_sdk_sns::Client, messages: &[ReceivedMessage], options: &SmsOptions) {
    use aws_sdk_sns::types::MessageAttributeValue;
    let attribute = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
    let deliveries: Vec<Delivery> = messages.iter().map(delivery).collect();
    for d in &deliveries {
        let DeliveryContent::Sms { text } = &d.content else { panic!("not an SMS") };
        let mut request = client
            .publish()
            .phone_number(&d.receiver)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute(&options.sms_type));
        if let Some(sender_id) = &options.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender_id));
        }
        request.send().await.expect("raw Publish");
    }
}

/// (a) for email: `SendEmail` as `Ses::send_email` sends it, one after the other.
async fn raw_send_email(client: &aws_sdk_sesv2::Client, messages: &[ReceivedMessage], options: &EmailOptions) {
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
    let content = |v: &str| Content::builder().data(v).charset("UTF-8").build().unwrap();
    let deliveries: Vec<Delivery> = messages.iter().map(delivery).collect();
    for d in &deliveries {
        let DeliveryContent::Email(torium_domain::EmailContent { subject, html, text }) = &d.content else {
            panic!("not an email")
        };
        let message = Message::builder()
            .subject(content(subject))
            .body(Body::builder().html(content(html)).text(content(text)).build())
            .build();
        client
            .send_email()
            .from_email_address(&options.from_address)
            .destination(Destination::builder().to_addresses(&d.receiver).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(options.configuration_set.clone())
            .send()
            .await
            .expect("raw SendEmail");
    }
}
