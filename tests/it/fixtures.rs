//! Rows the HTTP API would write (groups, events, members), inserted with
//! plain SQL shaped like the API's own statements (its column lists, its
//! `"timestamp"` columns): the suite itself only reads them. Users are
//! Torium's (the Cognito trigger writes them), the rest is the API's.

use chrono::{DateTime, Utc};
use std::time::Duration;
use torium_aws::{SqsDeadLetters, SqsQueue};
use torium_runtime::{Clock, Consumer, DEFAULT_GROUP_CONCURRENCY, Deadline, Metrics};
use torium_store::PooledClient;
use torium_tests::moto;

/// A Lambda deadline tests never reach: two minutes, the default margin.
pub fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(120), torium_runtime::DEFAULT_MARGIN)
}

/// A queue consumer as a function's cold start builds it: a dead-letter
/// queue of its own in moto, every group of a batch at once.
pub async fn consumer() -> Consumer<SqsDeadLetters> {
    let sqs = SqsQueue::new(&moto::sdk_config().await);
    let url = moto::create_fifo_queue(sqs.client(), "dlq").await;
    Consumer {
        dead_letters: SqsDeadLetters::new(&sqs, url),
        group_concurrency: DEFAULT_GROUP_CONCURRENCY,
        metrics: Metrics::in_memory("test").0,
        // The story's timeline: the Christmas dinner's reminders are fresh.
        clock: Clock::fixed(torium_tests::story_now()),
    }
}

pub async fn user(db: &PooledClient, email: &str) -> i64 {
    db.query_one(
        "INSERT INTO users (cognito_user_id, email, is_confirmed) VALUES ($1, $2, true) RETURNING id",
        &[&format!("cognito-{email}"), &email],
    )
    .await
    .expect("insert user")
    .get(0)
}

pub async fn user_with_contact(
    db: &PooledClient,
    email: &str,
    phone: Option<&str>,
    preference: Option<&str>,
    device_arn: Option<&str>,
    bank: Option<&str>,
) -> i64 {
    db.query_one(
        "INSERT INTO users (cognito_user_id, email, mobile_number, reminder_preferences, device_arn, organization_id, is_confirmed) \
         VALUES ($1, $2, $3, $4::text::reminder_preferences_type, $5, (SELECT id FROM organizations WHERE name = $6), true) \
         RETURNING id",
        &[&format!("cognito-{email}"), &email, &phone, &preference, &device_arn, &bank],
    )
    .await
    .expect("insert user with contact data")
    .get(0)
}

/// [`user_with_contact`] with an address no other test uses.
pub async fn unique_member(
    db: &PooledClient,
    prefix: &str,
    phone: Option<&str>,
    preference: Option<&str>,
    device_arn: Option<&str>,
    bank: Option<&str>,
) -> i64 {
    let email = format!("{}@example.com", torium_tests::unique_name(prefix));
    user_with_contact(db, &email, phone, preference, device_arn, bank).await
}

/// A group with an admin of its own (a new user, `admin-…@example.com`).
pub async fn group(db: &PooledClient, name: &str) -> i64 {
    let admin = user(db, &format!("{}@example.com", torium_tests::unique_name("admin"))).await;
    group_with_admin(db, name, admin).await
}

/// A group as the API creates it: the group row, then its admin's membership.
pub async fn group_with_admin(db: &PooledClient, name: &str, admin_id: i64) -> i64 {
    let id: i64 = db
        .query_one(
            "INSERT INTO groups (name, admin_id, description, \"timestamp\") VALUES ($1, $2, 'A group', now()) RETURNING id",
            &[&name, &admin_id],
        )
        .await
        .expect("insert group")
        .get(0);
    member(db, id, admin_id, "admin", Utc::now()).await;
    id
}

pub async fn member(db: &PooledClient, group_id: i64, user_id: i64, status: &str, joined_at: DateTime<Utc>) {
    db.execute(
        "INSERT INTO users_groups (group_id, user_id, status, \"timestamp\") VALUES ($1, $2, $3::text::member_status, $4)",
        &[&group_id, &user_id, &status, &joined_at],
    )
    .await
    .expect("insert group member");
}

pub async fn event(db: &PooledClient, group_id: i64, name: &str, event_at: DateTime<Utc>, budget: Option<&str>) -> i64 {
    db.query_one(
        "INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, \"timestamp\", name) \
         VALUES ($4::text IS NOT NULL, $4::text::float4, 'Bring snacks', $1, $3, 'periodical', '1 mon 2 days 03:00:00', now(), $2) \
         RETURNING id",
        &[&group_id, &name, &event_at, &budget],
    )
    .await
    .expect("insert event")
    .get(0)
}

pub async fn attendee(db: &PooledClient, event_id: i64, user_id: i64) {
    db.execute(
        "INSERT INTO events_users (event_id, user_id, \"timestamp\") VALUES ($1, $2, now())",
        &[&event_id, &user_id],
    )
    .await
    .expect("insert event member");
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).expect("test timestamp").with_timezone(&Utc)
}

/// An event as the API creates it at `created_at` (the schedule trigger
/// stamps the real clock; tests move it to their own timeline).
pub async fn scheduled_event(
    db: &PooledClient,
    group_id: i64,
    name: &str,
    kind: &str,
    event_at: DateTime<Utc>,
    period: &str,
    created_at: DateTime<Utc>,
) -> i64 {
    let id: i64 = db
        .query_one(
            "INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, \"timestamp\", name) \
             VALUES (true, 90, 'See you there', $1, $3, $4::text::reminder_type, $5::text::interval, $6, $2) RETURNING id",
            &[&group_id, &name, &event_at, &kind, &period, &created_at],
        )
        .await
        .expect("insert scheduled event")
        .get(0);
    db.execute("UPDATE events SET schedule_changed_at = $2, next_reminder_at = $2 WHERE id = $1", &[&id, &created_at])
        .await
        .expect("set the event's creation time");
    id
}

/// The `once` event most fan-out tests use: 24 Dec 2026 17:00Z, reminded a
/// day ahead (23 Dec 17:00Z), created on 20 Nov.
pub async fn christmas_event(db: &PooledClient, group_id: i64, name: &str) -> i64 {
    scheduled_event(db, group_id, name, "once", at("2026-12-24T17:00:00Z"), "1 day", at("2026-11-20T00:00:00Z")).await
}
