//! The schema's own guarantees: unique keys, types, nullability, seeds.

use crate::fixtures::{self, at};
use chrono::Utc;
use tokio_postgres::error::SqlState;
use torium_store::PooledClient;
use torium_tests::TestDatabase;

async fn expect_unique_violation(c: &PooledClient, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) {
    let err = c.execute(sql, params).await.expect_err(&format!("duplicate accepted: {sql}"));
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{sql}: {err}");
}

#[tokio::test]
async fn each_idempotency_key_refuses_a_duplicate() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let user = fixtures::user(&c, "u@example.com").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).insert(&c, group, "E").await;
    let trigger = at("2026-12-23T17:00:00Z");

    let reminder = fixtures::firing(&c, event, trigger).await;
    expect_unique_violation(
        &c,
        "INSERT INTO event_reminders (event_id, trigger_timestamp) VALUES ($1, $2)",
        &[&event, &trigger],
    )
    .await;

    let log = "INSERT INTO event_reminders_logs (event_reminders_id, user_id, channel) VALUES ($1, $2, 'email')";
    c.execute(log, &[&reminder, &user]).await.unwrap();
    expect_unique_violation(&c, log, &[&reminder, &user]).await;

    let comment: i64 = c
        .query_one(
            "INSERT INTO events_comments (event_id, user_id, comment) VALUES ($1, $2, 'hi') RETURNING id",
            &[&event, &user],
        )
        .await
        .unwrap()
        .get(0);
    let comment_log = "INSERT INTO events_comments_logs (events_comments_id, user_id) VALUES ($1, $2)";
    c.execute(comment_log, &[&comment, &user]).await.unwrap();
    expect_unique_violation(&c, comment_log, &[&comment, &user]).await;
}

#[tokio::test]
async fn duplicate_memberships_are_accepted_as_the_api_may_write_them() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let user = fixtures::user(&c, "u@example.com").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).insert(&c, group, "E").await;
    for _ in 0..2 {
        fixtures::attendee(&c, event, user).await;
        fixtures::member(&c, group, user, "standard", at("2026-01-01T00:00:00Z")).await;
    }
    let rows: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM events_users WHERE event_id = $1) + (SELECT count(*) FROM users_groups WHERE user_id = $2)",
            &[&event, &user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 4);
}

#[tokio::test]
async fn email_and_cognito_id_are_unique_whatever_the_case_of_the_address() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let insert = "INSERT INTO users (cognito_user_id, email) VALUES ($1, $2)";
    c.execute(insert, &[&"sub-1", &"Ala@Example.com"]).await.unwrap();
    expect_unique_violation(&c, insert, &[&"sub-2", &"ala@example.COM"]).await;
    expect_unique_violation(&c, insert, &[&"sub-1", &"other@example.com"]).await;
}

#[tokio::test]
async fn every_timestamp_is_timestamptz() {
    let db = TestDatabase::migrated().await;
    let naive: Vec<String> = db
        .client()
        .await
        .query(
            "SELECT table_name || '.' || column_name FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type = 'timestamp without time zone' \
               AND table_name <> 'refinery_schema_history'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(naive.is_empty(), "columns without a time zone: {naive:?}");
}

#[tokio::test]
async fn a_signup_needs_only_cognito_id_and_email() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let rows = c
        .query(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = 'users' AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO' \
             ORDER BY column_name",
            &[],
        )
        .await
        .unwrap();
    let required: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(required, ["cognito_user_id", "email"]);
    let has_device_arn: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'device_arn')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(has_device_arn);
}

#[tokio::test]
async fn the_three_banks_are_seeded_with_payment_urls() {
    let db = TestDatabase::migrated().await;
    let banks: Vec<(String, Option<String>)> = db
        .client()
        .await
        .query("SELECT name, url FROM organizations ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut names: Vec<&str> = banks.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ING", "PKO", "Pekao"]);
    assert!(banks.iter().all(|(_, url)| url.as_deref().is_some_and(|u| u.starts_with("https://"))));
}

#[tokio::test]
async fn bad_rows_are_refused_by_the_schema() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let bad_zone = c
        .execute(
            "INSERT INTO events (is_budget, group_id, name, event_timestamp, reminder, schedule_period, \"timestamp\", time_zone) \
             VALUES (false, $1, 'E', now(), 'once', '1 day', now(), 'Europe/Atlantis')",
            &[&group],
        )
        .await
        .unwrap_err();
    assert_eq!(bad_zone.code(), Some(&SqlState::CHECK_VIOLATION));
    let bad_kind = c
        .execute(
            "INSERT INTO events (is_budget, group_id, name, event_timestamp, reminder, schedule_period, \"timestamp\") \
             VALUES (false, $1, 'E', now(), 'daily', '1 day', now())",
            &[&group],
        )
        .await
        .unwrap_err();
    assert_eq!(bad_kind.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
}

#[tokio::test]
async fn deleting_an_event_as_the_api_does_removes_its_firings_and_their_logs() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let user = fixtures::user(&c, "u@example.com").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).insert(&c, group, "E").await;
    let reminder = fixtures::firing(&c, event, Utc::now()).await;
    c.execute("INSERT INTO event_reminders_logs (event_reminders_id, user_id) VALUES ($1, $2)", &[&reminder, &user])
        .await
        .unwrap();
    fixtures::attendee(&c, event, user).await;
    // The API deletes children before parents: members, then the event.
    c.execute("DELETE FROM events_users WHERE event_id = $1", &[&event]).await.unwrap();
    c.execute("DELETE FROM events WHERE id = $1", &[&event]).await.unwrap();
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM event_reminders) \
                  + (SELECT count(*) FROM event_reminders_logs)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let users: i64 = c.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 2, "people (the member and the group's admin) outlive events");
}

#[tokio::test]
async fn the_due_reminder_lookup_uses_the_index() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    c.batch_execute("SET enable_seqscan = off").await.unwrap();
    let plan: Vec<String> = c
        .query("EXPLAIN SELECT id FROM events WHERE next_reminder_at <= now()", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("events_next_reminder_at_idx"), "{plan}");
}
