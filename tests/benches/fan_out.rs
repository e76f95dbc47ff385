//! Fan-out makespan (run by `scripts/bench-fan-out.sh`): one event with
//! 1,000, 10,000 and 100,000 members in a throwaway PostgreSQL, fanned out
//! by the real `schedule_notifications::fan_out` to the end (continuation
//! messages followed, each invocation with the function's 120 s deadline),
//! against a queue that simulates SQS.
//!
//! The simulated SQS ([`SimulatedSqs`]): every `SendMessageBatch` call takes
//! `BENCH_SQS_CALL_MS` (default 20 ms, about what SQS takes in-region), never
//! fails, and is counted. It batches and overlaps calls exactly as
//! `torium_aws::SqsQueue::send_all` does, with its own plan
//! (`torium_aws::batches` and `groups_are_disjoint`): batches of at
//! most ten entries and 256 KiB (body + group id + deduplication id), and
//! waves of `BENCH_SQS_SEND_CONCURRENCY` calls at once (default 8, the
//! template's `SQS_SEND_CONCURRENCY`) when no message group spans two
//! batches, one call at a time otherwise. Statements are counted by
//! `pg_stat_statements` (top-level statements of the fan-out only).
//!
//! Members are set up with SQL (set-based): a third each prefer SMS, email
//! and push, all reachable, so each page sends to all three channel queues.

use chrono::{DateTime, Utc};
use schedule_notifications::{FanOutConfig, fan_out};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use torium_aws::{AwsError, MessageQueue, OutgoingMessage};
use torium_domain::{EventId, Firing, ReminderDue, ReminderRequest};
use torium_runtime::{Clock, DEFAULT_MARGIN, Deadline};
use torium_store::{DbSettings, SslMode, Store, connect_pool};
use torium_tests::TestDatabase;

/// The member counts measured (`BENCH_FAN_OUT_SIZES`, comma-separated, to change them).
const SIZES: [i64; 3] = [1_000, 10_000, 100_000];
/// schedule-notifications' `Timeout` in template.yaml: each invocation's deadline.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);
/// The template's `DbPoolSize` default: connections per function instance.
const POOL_SIZE: usize = 2;
/// Bounds on the load loop: invocations followed per fan-out, and its wall time.
const MAX_INVOCATIONS: usize = 20;
const MAX_FAN_OUT_TIME: Duration = Duration::from_secs(600);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An SQS that answers every `SendMessageBatch` after a fixed latency.
struct SimulatedSqs {
    latency: Duration,
    send_concurrency: usize,
    continue_queue_url: String,
    calls: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    messages: AtomicUsize,
    /// Continuation messages sent to schedule-notifications' own queue.
    continuations: Mutex<Vec<OutgoingMessage>>,
    /// Wall time during which at least one `send_all` was running.
    busy: Mutex<Busy>,
}

#[derive(Default)]
struct Busy {
    active: usize,
    since: Option<Instant>,
    total: Duration,
}

impl SimulatedSqs {
    fn new(latency: Duration, send_concurrency: usize, continue_queue_url: &str) -> Self {
        SimulatedSqs {
            latency,
            send_concurrency: send_concurrency.max(1),
            continue_queue_url: continue_queue_url.to_owned(),
            calls: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            messages: AtomicUsize::new(0),
            continuations: Mutex::default(),
            busy: Mutex::default(),
        }
    }

    fn enter(&self) {
        let mut busy = self.busy.lock().unwrap();
        if busy.active == 0 {
            busy.since = Some(Instant::now());
        }
        busy.active += 1;
    }

    fn leave(&self) {
        let mut busy = self.busy.lock().unwrap();
        busy.active -= 1;
        if busy.active == 0 {
            let since = busy.since.take().expect("busy since");
            busy.total += since.elapsed();
        }
    }

    fn busy_time(&self) -> Duration {
        self.busy.lock().unwrap().total
    }

    /// One simulated call: counted, `latency` long, overlapping the others.
    fn call(&self) -> tokio::task::JoinHandle<()> {
        let (calls, in_flight, max_in_flight, latency) =
            (self.calls.clone(), self.in_flight.clone(), self.max_in_flight.clone(), self.latency);
        tokio::spawn(async move {
            calls.fetch_add(1, Ordering::Relaxed);
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(latency).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
        })
    }
}

impl MessageQueue for SimulatedSqs {
    async fn send_all(&self, queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        self.enter();
        let result = async {
            // The real plan of SqsQueue::send_all: batches, and whether they may overlap.
            let batches = torium_aws::batches(messages)?;
            let concurrency = if torium_aws::groups_are_disjoint(&batches) { self.send_concurrency } else { 1 };
            // Waves of `concurrency` calls at once, in order, as SqsQueue sends them.
            for wave in batches.chunks(concurrency) {
                let calls: Vec<_> = wave.iter().map(|_| self.call()).collect();
                for call in calls {
                    call.await.expect("simulated call");
                }
            }
            Ok(batches.len())
        }
        .await;
        self.leave();
        if result.is_ok() {
            self.messages.fetch_add(messages.len(), Ordering::Relaxed);
            if queue_url == self.continue_queue_url {
                self.continuations.lock().unwrap().extend(messages.iter().cloned());
            }
        }
        result
    }
}

/// Everything one size measured.
struct Figures {
    members: i64,
    makespan: Duration,
    invocations: usize,
    pages: usize,
    calls: usize,
    messages: usize,
    max_in_flight: usize,
    queue_busy: Duration,
    statements: Option<Vec<Statement>>,
    /// The plan of the members page statement half-way through the event.
    page_plan: Vec<String>,
    finished: bool,
}

struct Statement {
    calls: i64,
    total_ms: f64,
    query: String,
}

#[tokio::main]
async fn main() {
    let latency = Duration::from_millis(env_or("BENCH_SQS_CALL_MS", 20));
    let send_concurrency: usize = env_or("BENCH_SQS_SEND_CONCURRENCY", 8);
    let sizes: Vec<i64> = match std::env::var("BENCH_FAN_OUT_SIZES") {
        Ok(list) => list.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => SIZES.to_vec(),
    };
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    // The bulk load runs longer than the pool's statement_timeout (10 s by
    // default): lifted for this set-up connection only.
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    let stats = c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.is_ok()
        && c.query_one("SELECT pg_stat_statements_reset()", &[]).await.is_ok();
    // The store as schedule-notifications builds it: its own pool of the
    // template's size.
    let mut settings = DbSettings::from_url(&db.url, SslMode::Disable).expect("database URL");
    settings.pool_size = POOL_SIZE;
    let store = Store::new(connect_pool(&settings).expect("pool"));
    let trigger_at: DateTime<Utc> = DateTime::parse_from_rfc3339("2027-01-01T09:00:00Z").unwrap().with_timezone(&Utc);
    c.execute(
        "WITH admin AS (INSERT INTO users (cognito_user_id, email) VALUES ('bench-admin', 'admin@example.com') RETURNING id) \
         INSERT INTO groups (name, admin_id, description, \"timestamp\") SELECT 'bench', id, NULL, now() FROM admin",
        &[],
    )
    .await
    .unwrap();

    let mut all = Vec::new();
    for &members in &sizes {
        let load = Instant::now();
        let event = load_event(&c, members, trigger_at).await;
        println!("{members} members loaded in {:.1} s", load.elapsed().as_secs_f64());
        let queue = SimulatedSqs::new(latency, send_concurrency, "schedule-notifications");
        let mut config = FanOutConfig::with_queues("send-sms", "send-email", "send-push", "schedule-notifications");
        // Handled at the firing's trigger time (2027-01-01 09:00), a day before its event.
        config.clock = Clock::fixed(trigger_at);
        if stats {
            c.query_one("SELECT pg_stat_statements_reset()", &[]).await.unwrap();
        }
        let figures = fan_out_to_the_end(&store, &queue, &config, members, event, trigger_at).await;
        let statements = if stats { Some(statements(&c).await) } else { None };
        let page_plan = match &statements {
            Some(statements) if members == *sizes.iter().max().unwrap() => {
                page_plan(&c, statements, event, members, config.page_size).await
            }
            _ => Vec::new(),
        };
        let figures = Figures { statements, page_plan, ..figures };
        println!("{}", summary_line(&figures));
        all.push(figures);
    }

    let text = report(&all, latency, send_concurrency);
    println!("{text}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(path, format!("{text}\n")).expect("write the figures");
    }
}

/// An event due at `trigger_at` with `members` members, set-based.
async fn load_event(c: &torium_store::PooledClient, members: i64, trigger_at: DateTime<Utc>) -> i64 {
    let event: i64 = c
        .query_one(
            "INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, \"timestamp\", name) \
             SELECT true, 1000, 'Bring snacks', min(id), $1::timestamptz + interval '1 day', 'once', '1 day', now(), 'fan-out ' || $2::bigint \
             FROM groups RETURNING id",
            &[&trigger_at, &members],
        )
        .await
        .unwrap()
        .get(0);
    c.execute(
        "WITH u AS (INSERT INTO users (cognito_user_id, email, reminder_preferences, mobile_number, device_arn, organization_id, is_confirmed) \
             SELECT 'bench-' || $1::bigint || '-' || n, 'member' || n || '.' || $1::bigint || '@example.com', \
                    (ARRAY['SMS','EMAIL','PUSH'])[1 + n % 3]::reminder_preferences_type, '+48500' || lpad(n::text, 6, '0'), \
                    'arn:aws:sns:eu-central-1:123456789012:endpoint/GCM/torium/' || md5(n::text), \
                    (SELECT min(id) FROM organizations), true \
             FROM generate_series(1, $2::bigint) AS n RETURNING id) \
         INSERT INTO events_users (event_id, user_id, \"timestamp\") SELECT $1::bigint, id, now() FROM u",
        &[&event, &members],
    )
    .await
    .unwrap();
    c.batch_execute("ANALYZE users; ANALYZE events_users; ANALYZE events").await.unwrap();
    event
}

/// The firing fanned out, invocation after invocation, until no
/// continuation is left (bounded in invocations and time).
async fn fan_out_to_the_end(
    store: &Store,
    queue: &SimulatedSqs,
    config: &FanOutConfig,
    members: i64,
    event: i64,
    trigger_at: DateTime<Utc>,
) -> Figures {
    let mut firing: Firing = ReminderDue { event_id: EventId(event), trigger_at }.into();
    let (mut invocations, mut pages, mut continuations, mut finished) = (0, 0, 0, false);
    let start = Instant::now();
    while invocations < MAX_INVOCATIONS && start.elapsed() < MAX_FAN_OUT_TIME {
        invocations += 1;
        let deadline = Deadline::after(FUNCTION_TIMEOUT, DEFAULT_MARGIN);
        let summary = fan_out(store, queue, config, &deadline, firing).await.expect("fan-out");
        pages += summary.pages;
        if !summary.continued {
            finished = true;
            break;
        }
        continuations += 1;
        let message = queue.continuations.lock().unwrap().pop().expect("a continuation message");
        firing = match ReminderRequest::parse(&message.body).expect("a continuation body") {
            ReminderRequest::Continue(next) => next,
            other => panic!("not a continuation: {other:?}"),
        };
    }
    let makespan = start.elapsed();
    let sent = queue.messages.load(Ordering::Relaxed) - continuations;
    let finished = finished && sent as i64 == members;
    Figures {
        members,
        makespan,
        invocations,
        pages,
        calls: queue.calls.load(Ordering::Relaxed),
        messages: sent,
        max_in_flight: queue.max_in_flight.load(Ordering::Relaxed),
        queue_busy: queue.busy_time(),
        statements: None,
        page_plan: Vec::new(),
        finished,
    }
}

/// The fan-out's top-level statements since the last reset, with their calls.
async fn statements(c: &torium_store::PooledClient) -> Vec<Statement> {
    c.query(
        "SELECT calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel \
           AND query NOT ILIKE '%pg_stat_statements%' \
         ORDER BY calls DESC, query",
        &[],
    )
    .await
    .expect("pg_stat_statements")
    .iter()
    .map(|r| Statement { calls: r.get(0), total_ms: r.get(1), query: r.get(2) })
    .collect()
}

/// The members page statement exactly as the fan-out ran it (its text from
/// pg_stat_statements), explained for the page that starts half-way through
/// the event's members.
async fn page_plan(
    c: &torium_store::PooledClient,
    statements: &[Statement],
    event: i64,
    members: i64,
    page_size: i64,
) -> Vec<String> {
    let Some(page) = statements.iter().find(|s| s.query.contains("events_users") && s.query.contains("LIMIT $3"))
    else {
        return vec!["  (the members page statement was not found in pg_stat_statements)".to_owned()];
    };
    let after: i64 = c
        .query_one(
            "SELECT user_id FROM events_users WHERE event_id = $1 ORDER BY user_id OFFSET $2 LIMIT 1",
            &[&event, &(members / 2)],
        )
        .await
        .unwrap()
        .get(0);
    c.batch_execute(&format!("PREPARE members_page AS {}", page.query)).await.expect("prepare the page statement");
    let rows = c
        .simple_query(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE members_page({event}, {after}, {page_size})"
        ))
        .await
        .expect("explain the page statement");
    c.batch_execute("DEALLOCATE members_page").await.unwrap();
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|l| format!("    {l}")),
            _ => None,
        })
        .collect()
}

fn summary_line(f: &Figures) -> String {
    format!(
        "fan-out to {} members: makespan {:.2} s, {} SendMessageBatch calls, {} pages, {} invocation(s), {}",
        f.members,
        f.makespan.as_secs_f64(),
        f.calls,
        f.pages,
        f.invocations,
        if f.finished { "every member enqueued".to_owned() } else { format!("NOT FINISHED ({} enqueued)", f.messages) },
    )
}

fn report(all: &[Figures], latency: Duration, send_concurrency: usize) -> String {
    let mut out = vec![
        format!(
            "assumptions: every SendMessageBatch takes {} ms (simulated, BENCH_SQS_CALL_MS) and succeeds; at most {send_concurrency} \
             calls in flight per channel send (SQS_SEND_CONCURRENCY), the three channels of a page sent at once by fan_out",
            latency.as_millis()
        ),
        format!(
            "  batching is SqsQueue::send_all's own plan (10 entries / 256 KiB per call; calls overlap only when no message group spans \
             two batches); page size {} and page budget {} s as the template sets them; each invocation's deadline {} s \
             (the function's timeout) minus the {} s margin; continuations followed; pool of {POOL_SIZE} connections \
             (DbPoolSize); members a third each SMS / email / push, all reachable; PostgreSQL on loopback, fsync off",
            schedule_notifications::DEFAULT_PAGE_SIZE,
            FanOutConfig::with_queues("", "", "", "").page_budget.as_secs(),
            FUNCTION_TIMEOUT.as_secs(),
            DEFAULT_MARGIN.as_secs(),
        ),
        format!(
            "  no per-queue rate limit is simulated: a channel queue sees up to {:.0} SendMessageBatch calls/s here, within \
             high-throughput FIFO (the template's channel queues), over the 300/s of a plain FIFO queue",
            send_concurrency as f64 / latency.as_secs_f64()
        ),
    ];
    out.extend(all.iter().map(summary_line));
    out.push(String::new());
    out.push(format!(
        "{:>8} {:>10} {:>6} {:>9} {:>12} {:>10} {:>9} {:>12} {:>11}",
        "members", "makespan", "pages", "SQS calls", "max in flight", "queue busy", "DB exec", "other", "per page"
    ));
    for f in all {
        let db_ms: f64 = f.statements.iter().flatten().map(|s| s.total_ms).sum();
        let other = f.makespan.as_secs_f64() - f.queue_busy.as_secs_f64();
        out.push(format!(
            "{:>8} {:>8.2} s {:>6} {:>9} {:>12} {:>8.2} s {:>7.2} s {:>10.2} s {:>8.1} ms",
            f.members,
            f.makespan.as_secs_f64(),
            f.pages,
            f.calls,
            f.max_in_flight,
            f.queue_busy.as_secs_f64(),
            db_ms / 1000.0,
            other,
            f.makespan.as_secs_f64() * 1000.0 / f.pages.max(1) as f64,
        ));
    }
    out.push(
        "  queue busy: wall time with a SendMessageBatch wave in flight; DB exec: server time of the fan-out's statements \
         (pg_stat_statements); other: makespan minus queue busy (statements, rendering, routing)"
            .to_owned(),
    );
    for f in all {
        out.push(String::new());
        out.push(format!("database statements of the {}-member fan-out ({} pages):", f.members, f.pages));
        match &f.statements {
            None => out.push("  n/a (pg_stat_statements not loaded)".to_owned()),
            Some(statements) => {
                let total: i64 = statements.iter().map(|s| s.calls).sum();
                out.push(format!(
                    "  {total} statements, {:.2} per page; calls  per page  total ms  statement",
                    total as f64 / f.pages.max(1) as f64
                ));
                for s in statements {
                    let query: String = s.query.chars().take(110).collect();
                    out.push(format!(
                        "  {:>6} {:>9.2} {:>9.1}  {query}",
                        s.calls,
                        s.calls as f64 / f.pages.max(1) as f64,
                        s.total_ms
                    ));
                }
            }
        }
        if !f.page_plan.is_empty() {
            out.push(format!("  plan of the members page half-way through the {} members:", f.members));
            out.extend(f.page_plan.iter().cloned());
        }
    }
    out.push(String::new());
    match all.iter().find(|f| f.members == 100_000) {
        Some(f) => out.push(format!(
            "goal: 100,000 members in under 30 s: {} ({:.2} s{})",
            if f.finished && f.makespan < Duration::from_secs(30) { "MET" } else { "NOT MET" },
            f.makespan.as_secs_f64(),
            if f.finished { "" } else { ", not finished" }
        )),
        None => out.push("goal: 100,000 members in under 30 s: not measured (size not run)".to_owned()),
    }
    out.join("\n")
}
