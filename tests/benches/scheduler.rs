//! Scheduler scale, on real PostgreSQL (run by `scripts/bench-scheduler.sh`):
//! - the median time of one schedule-events selection-and-claim with
//!   1,000,000 events in the table, and its plan;
//! - SQS calls and database statements to fan one event out to 10,000
//!   members (and to 100, to show the statements do not grow).
//!
//! SQS calls are counted by a queue that batches exactly as `SqsQueue` does
//! (ten per `SendMessageBatch`) but sends nowhere: moto takes ~0.2 s per
//! batch call, which would time moto, not the suite. Statements are counted
//! by `pg_stat_statements`.

use chrono::{DateTime, TimeDelta, Utc};
use schedule_notifications::{FanOutConfig, fan_out};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use torium_aws::{AwsError, MAX_BATCH_SIZE, MessageQueue, OutgoingMessage};
use torium_domain::{EventId, ReminderDue};
use torium_runtime::Clock;
use torium_tests::TestDatabase;

const EVENTS: i64 = 1_000_000;
const CLAIM_RUNS: usize = 200;

#[derive(Default)]
struct CountingQueue {
    calls: AtomicUsize,
    messages: AtomicUsize,
}

impl MessageQueue for CountingQueue {
    async fn send_all(&self, _queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        let calls = messages.len().div_ceil(MAX_BATCH_SIZE);
        self.calls.fetch_add(calls, Ordering::Relaxed);
        self.messages.fetch_add(messages.len(), Ordering::Relaxed);
        Ok(calls)
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    // The bulk load runs longer than the pool's statement_timeout (10 s by
    // default): lifted for this set-up connection only.
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap().with_timezone(&Utc);

    let load = Instant::now();
    c.batch_execute("ALTER TABLE events DISABLE TRIGGER events_schedule_changed").await.unwrap();
    c.execute(
        "WITH admin AS (INSERT INTO users (cognito_user_id, email) VALUES ('bench-admin', 'admin@example.com') RETURNING id) \
         INSERT INTO groups (name, admin_id, description, \"timestamp\") SELECT 'bench', id, NULL, now() FROM admin",
        &[],
    )
    .await
    .unwrap();
    // One event every ~31.5 s over a year: about two due per minute.
    c.execute(
        "INSERT INTO events (is_budget, group_id, name, event_timestamp, reminder, schedule_period, \"timestamp\", next_reminder_at) \
         SELECT false, (SELECT min(id) FROM groups), 'event ' || n, $1::timestamptz + make_interval(secs => n * 31.536 + 86400), \
                'once', '1 day', now(), $1::timestamptz + make_interval(secs => n * 31.536) \
         FROM generate_series(1, $2::bigint) AS n",
        &[&start, &EVENTS],
    )
    .await
    .unwrap();
    c.batch_execute("ALTER TABLE events ENABLE TRIGGER events_schedule_changed").await.unwrap();
    c.batch_execute("VACUUM ANALYZE events").await.unwrap();
    println!("loaded {EVENTS} events in {:.1} s", load.elapsed().as_secs_f64());

    let mut report = Vec::new();
    for (label, now) in [
        ("steady state (1 minute due)", start + TimeDelta::minutes(1)),
        ("catch-up (200 due)", start + TimeDelta::minutes(106)),
    ] {
        let mut samples = Vec::with_capacity(CLAIM_RUNS);
        let mut claimed = 0;
        for _ in 0..CLAIM_RUNS {
            let t = Instant::now();
            // The real claim; the work step fails so the transaction rolls
            // back and every run sees the same table.
            let _ = db
                .store
                .with_due_events(now, 200, |due| {
                    claimed = due.len();
                    async { Err::<Vec<_>, _>("roll back") }
                })
                .await;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        report.push(format!(
            "selection-and-claim, {label}: {claimed} events claimed, median {:.2} ms, p90 {:.2} ms over {CLAIM_RUNS} runs",
            median(samples.clone()),
            { let mut s = samples; s.sort_by(f64::total_cmp); s[s.len() * 9 / 10] }
        ));
    }
    let plan: Vec<String> = c
        .query(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT id, event_timestamp, time_zone, reminder::text, schedule_period, \
             next_reminder_at, schedule_changed_at FROM events WHERE next_reminder_at <= $1 \
             ORDER BY next_reminder_at LIMIT 200 FOR UPDATE SKIP LOCKED",
            &[&(start + TimeDelta::minutes(1))],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| format!("    {}", r.get::<_, String>(0)))
        .collect();
    report.push("plan of the claim:".to_owned());
    report.extend(plan);

    let statements_counted = c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.is_ok()
        && c.query_one("SELECT pg_stat_statements_reset()", &[]).await.is_ok();
    for members in [100i64, 10_000] {
        let event: i64 = c
            .query_one(
                "INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, \"timestamp\", name) \
                 SELECT true, 1000, NULL, min(id), $1::timestamptz + interval '1 day', 'once', '1 day', now(), 'fan-out' FROM groups RETURNING id",
                &[&start],
            )
            .await
            .unwrap()
            .get(0);
        c.execute(
            "WITH u AS (INSERT INTO users (cognito_user_id, email, reminder_preferences, mobile_number, organization_id) \
                 SELECT 'bench-' || $1::bigint || '-' || n, 'member' || n || '.' || $1::bigint || '@example.com', \
                        (ARRAY['SMS','EMAIL','PUSH'])[1 + n % 3]::reminder_preferences_type, '+48500' || lpad(n::text, 6, '0'), \
                        (SELECT min(id) FROM organizations) \
                 FROM generate_series(1, $2::bigint) AS n RETURNING id) \
             INSERT INTO events_users (event_id, user_id, \"timestamp\") SELECT $1::bigint, id, now() FROM u",
            &[&event, &members],
        )
        .await
        .unwrap();
        let queue = CountingQueue::default();
        let mut config = FanOutConfig::with_queues("sms", "email", "push", "continue");
        // Handled at the run's "now" (2027-01-01), the day before the event.
        config.clock = Clock::fixed(start);
        let before = statement_count(&c, statements_counted).await;
        let t = Instant::now();
        let due = ReminderDue { event_id: EventId(event), trigger_at: start };
        let deadline =
            torium_runtime::Deadline::after(std::time::Duration::from_secs(600), torium_runtime::DEFAULT_MARGIN);
        let summary = fan_out(&db.store, &queue, &config, &deadline, due.into()).await.expect("fan-out");
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        let statements = match (before, statement_count(&c, statements_counted).await) {
            (Some(b), Some(a)) => (a - b - 1).to_string(), // minus the counting query itself
            _ => "n/a (pg_stat_statements not loaded)".to_owned(),
        };
        report.push(format!(
            "fan-out to {members} members: {} messages, {} SendMessageBatch calls, {statements} database statements, {elapsed:.0} ms (no SQS latency)",
            queue.messages.load(Ordering::Relaxed),
            queue.calls.load(Ordering::Relaxed),
        ));
        assert_eq!(summary.per_channel.values().sum::<usize>(), members as usize);
    }

    let text = report.join("\n");
    println!("{text}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(path, format!("{text}\n")).expect("write the figures");
    }
}

/// Statements this database has run so far (`None` without pg_stat_statements).
async fn statement_count(c: &torium_store::PooledClient, available: bool) -> Option<i64> {
    if !available {
        return None;
    }
    c.query_one(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        &[],
    )
    .await
    .ok()
    .map(|r| r.get(0))
}
