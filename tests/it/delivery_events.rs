//! delivery-events on real PostgreSQL: each provider report, in the shape
//! AWS documents (tests/fixtures/delivery-events), handed to the library
//! handler as Lambda hands it over (an SNS event, or a CloudWatch Logs
//! subscription payload gzipped and base64-encoded), and what the delivery
//! rows and the users hold afterwards.

use crate::fixtures::{self, report, sns_event};
use base64::Engine;
use chrono::Utc;
use delivery_events::{Summary, handle_event};
use flate2::{Compression, write::GzEncoder};
use serde_json::{Value, json};
use std::io::Write;
use torium_domain::DeliveryStatus;
use torium_store::PooledClient;
use torium_tests::TestDatabase;

/// The message id of every SES example in the developer guide.
const SES_MESSAGE_ID: &str = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000";
/// The recipient of every SES example.
const RECIPIENT: &str = "recipient@example.com";
const ENDPOINT: &str = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/torium/3f08fd15-d349-3d82-b415-49df9ff9d8dd";
const PUSH_MESSAGE_ID: &str = "4e658b3c-8738-5a67-a13b-d86089f45074";
const SMS_SUCCESS_ID: &str = "34d9b400-c6dd-5444-820d-fbeb0f1f54cf";
const SMS_FAILURE_ID: &str = "1077257a-92f3-5ca3-bc97-6a915b310625";
const SMS_OPTED_OUT_ID: &str = "5d3f7a21-0b6e-5c4d-9e8f-1a2b3c4d5e6f";

fn ses(name: &str) -> Value {
    sns_event(&[report(name)])
}

/// A CloudWatch Logs subscription event as Lambda receives it:
/// `{"awslogs":{"data": base64(gzip(json))}}`.
fn logs_event(data: &Value) -> Value {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(data.to_string().as_bytes()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(gzip.finish().unwrap());
    json!({ "awslogs": { "data": encoded } })
}

async fn handle(db: &TestDatabase, event: &Value) -> Summary {
    handle_event(&db.store, &fixtures::deadline(), event).await.expect("reports applied")
}

/// A reminder delivery the provider accepted: its log row, `sent` with
/// `message_id`. Returns the row's id.
async fn sent_reminder(c: &PooledClient, user: i64, channel: &str, message_id: &str) -> i64 {
    let group = fixtures::group(c, "Climbers").await;
    let event = fixtures::christmas_event(c, group, "Dinner").await;
    let reminder = fixtures::firing(c, event, Utc::now()).await;
    c.query_one(
        "INSERT INTO event_reminders_logs (event_reminders_id, user_id, channel, status, provider_message_id, sent_timestamp) \
         VALUES ($1, $2, $3::text::delivery_channel, 'sent', $4, now()) RETURNING id",
        &[&reminder, &user, &channel, &message_id],
    )
    .await
    .unwrap()
    .get(0)
}

/// (status, last_error, reported_at is set) of a reminder log row.
async fn reminder_row(c: &PooledClient, id: i64) -> (String, Option<String>, bool) {
    let r = c
        .query_one(
            "SELECT status::text, last_error, reported_at IS NOT NULL FROM event_reminders_logs WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// (email_suppressed_at is set, email_suppression_reason) of a user.
async fn suppression(c: &PooledClient, user: i64) -> (bool, Option<String>) {
    let r = c
        .query_one(
            "SELECT email_suppressed_at IS NOT NULL, email_suppression_reason FROM users WHERE id = $1",
            &[&user],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

async fn email_user(c: &PooledClient) -> i64 {
    fixtures::Person::new(RECIPIENT).prefers("EMAIL").insert(c).await
}

/// A database with one member reminded by email: (database, client, user,
/// the log row of SES's example message id).
async fn emailed() -> (TestDatabase, PooledClient, i64, i64) {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let user = email_user(&c).await;
    let row = sent_reminder(&c, user, "email", SES_MESSAGE_ID).await;
    (db, c, user, row)
}

#[tokio::test]
async fn a_permanent_bounce_marks_the_row_bounced_and_suppresses_the_address() {
    let (db, c, user, row) = emailed().await;

    let summary = handle(&db, &ses("ses-bounce-permanent.json")).await;
    assert_eq!(summary.count("ses", "applied"), 1);
    let (status, error, reported) = reminder_row(&c, row).await;
    assert_eq!(status, "bounced");
    assert_eq!(error.as_deref(), Some("SES bounce Permanent/General: smtp; 550 5.1.1 user unknown"));
    assert!(reported);
    assert_eq!(suppression(&c, user).await, (true, Some("bounce: Permanent/General".into())));
    let sent: bool = c
        .query_one("SELECT sent_timestamp IS NOT NULL FROM event_reminders_logs WHERE id = $1", &[&row])
        .await
        .unwrap()
        .get(0);
    assert!(sent, "a report never un-sends");

    // The same report again (SNS delivers at least once) changes nothing.
    let again = handle(&db, &ses("ses-bounce-permanent.json")).await;
    assert_eq!(again.count("ses", "unchanged"), 1);
    assert_eq!(reminder_row(&c, row).await.0, "bounced");
}

#[tokio::test]
async fn a_transient_bounce_and_a_delay_suppress_nothing() {
    let (db, c, user, row) = emailed().await;

    let delay = handle(&db, &ses("ses-delivery-delay.json")).await;
    assert_eq!(delay.count("ses", "unchanged"), 1);
    assert_eq!(reminder_row(&c, row).await, ("sent".into(), None, false), "a delay changes no row");

    handle(&db, &ses("ses-bounce-transient.json")).await;
    let (status, error, _) = reminder_row(&c, row).await;
    assert_eq!(status, "bounced");
    assert!(error.unwrap().starts_with("SES bounce Transient/MailboxFull: "));
    assert_eq!(suppression(&c, user).await, (false, None), "a transient bounce leaves the address usable");
}

#[tokio::test]
async fn a_delivery_then_a_complaint_and_a_late_delivery_after_a_bounce() {
    let (db, c, user, row) = emailed().await;

    handle(&db, &ses("ses-delivery.json")).await;
    assert_eq!(reminder_row(&c, row).await, ("delivered".into(), None, true));
    let complaint = handle(&db, &ses("ses-complaint.json")).await;
    assert_eq!(complaint.count("ses", "applied"), 1);
    assert_eq!(reminder_row(&c, row).await.0, "complained", "a complaint after a delivery applies");
    assert_eq!(suppression(&c, user).await, (true, Some("complaint: abuse".into())));

    // Another message: bounced first, its Delivery arrives late.
    let other = fixtures::Person::new("other@example.com").prefers("EMAIL").insert(&c).await;
    let late = sent_reminder(&c, other, "email", "late-delivery-message").await;
    let with_id = |name: &str| {
        let mut record = report(name);
        record["mail"]["messageId"] = json!("late-delivery-message");
        sns_event(&[record])
    };
    handle(&db, &with_id("ses-bounce-transient.json")).await;
    let summary = handle(&db, &with_id("ses-delivery.json")).await;
    assert_eq!(summary.count("ses", "unchanged"), 1);
    assert_eq!(reminder_row(&c, late).await.0, "bounced", "a Delivery after a Bounce changes nothing");
}

#[tokio::test]
async fn a_reject_records_its_reason() {
    let (db, c, user, row) = emailed().await;
    handle(&db, &ses("ses-reject.json")).await;
    assert_eq!(reminder_row(&c, row).await, ("rejected".into(), Some("SES reject: Bad content".into()), true));
    assert_eq!(suppression(&c, user).await, (false, None));
}

#[tokio::test]
async fn a_bounce_for_an_address_changed_since_does_not_suppress_the_new_one() {
    let (db, c, user, row) = emailed().await;
    c.execute("UPDATE users SET email = 'new-address@example.com' WHERE id = $1", &[&user]).await.unwrap();

    handle(&db, &ses("ses-bounce-permanent.json")).await;
    assert_eq!(reminder_row(&c, row).await.0, "bounced", "the row is about the old address: it bounced");
    assert_eq!(suppression(&c, user).await, (false, None), "the new address stays usable");

    // And a suppressed address is usable again once the user changes it
    // (a change of case is not a change).
    c.execute("UPDATE users SET email = $2 WHERE id = $1", &[&user, &RECIPIENT]).await.unwrap();
    let second = sent_reminder(&c, user, "email", "second-message").await;
    let mut record = report("ses-bounce-permanent.json");
    record["mail"]["messageId"] = json!("second-message");
    handle(&db, &sns_event(&[record])).await;
    assert_eq!(reminder_row(&c, second).await.0, "bounced");
    assert!(suppression(&c, user).await.0);
    c.execute("UPDATE users SET email = 'Recipient@Example.com' WHERE id = $1", &[&user]).await.unwrap();
    assert!(suppression(&c, user).await.0, "a change of case keeps the suppression");
    c.execute("UPDATE users SET email = 'fixed@example.com' WHERE id = $1", &[&user]).await.unwrap();
    assert_eq!(suppression(&c, user).await, (false, None), "a new address clears it");
}

#[tokio::test]
async fn a_disabled_endpoint_is_forgotten_and_a_push_delivery_failure_fails_its_row() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let user = fixtures::Person::new("push@example.com").prefers("PUSH").device(ENDPOINT).insert(&c).await;
    let other_endpoint = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/torium/another";
    let other = fixtures::Person::new("push2@example.com").prefers("PUSH").device(other_endpoint).insert(&c).await;
    // A comment push: the report finds rows of the comment log too.
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::christmas_event(&c, group, "Dinner").await;
    let comment: i64 = c
        .query_one(
            "INSERT INTO events_comments (event_id, user_id, comment) VALUES ($1, $2, 'Who brings pierogi?') RETURNING id",
            &[&event, &other],
        )
        .await
        .unwrap()
        .get(0);
    c.execute(
        "INSERT INTO events_comments_logs (events_comments_id, user_id, channel, status, provider_message_id) \
         VALUES ($1, $2, 'push', 'sent', $3)",
        &[&comment, &user, &PUSH_MESSAGE_ID],
    )
    .await
    .unwrap();

    let summary =
        handle(&db, &sns_event(&[report("push-delivery-failure.json"), report("push-endpoint-updated-disabled.json")]))
            .await;
    assert_eq!(summary.count("push", "applied"), 2);
    let r = c
        .query_one(
            "SELECT status, last_error, reported_at IS NOT NULL FROM events_comments_logs WHERE provider_message_id = $1",
            &[&PUSH_MESSAGE_ID],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "failed");
    assert_eq!(r.get::<_, String>(1), "push delivery failure EndpointDisabled: Endpoint is disabled");
    assert!(r.get::<_, bool>(2));
    let arns: Vec<Option<String>> = c
        .query("SELECT device_arn FROM users WHERE id = ANY($1) ORDER BY id", &[&vec![user, other]])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(arns, [None, Some(other_endpoint.to_owned())], "only that endpoint is forgotten");

    let again = handle(&db, &sns_event(&[report("push-endpoint-updated-disabled.json")])).await;
    assert_eq!(again.count("push", "unchanged"), 1);
}

#[tokio::test]
async fn sms_receipts_from_the_logs_subscription_deliver_fail_and_flag_opted_out_numbers() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let mut rows = Vec::new();
    let mut users = Vec::new();
    for (i, id) in [SMS_SUCCESS_ID, SMS_FAILURE_ID, SMS_OPTED_OUT_ID].into_iter().enumerate() {
        let phone = format!("+4860000000{i}");
        let user = fixtures::Person::unique("sms").phone(&phone).prefers("SMS").insert(&c).await;
        rows.push(sent_reminder(&c, user, "sms", id).await);
        users.push(user);
    }

    let success = handle(&db, &logs_event(&report("sms-logs-success.json"))).await;
    assert_eq!(success.count("sms", "applied"), 1);
    let failure = handle(&db, &logs_event(&report("sms-logs-failure.json"))).await;
    assert_eq!(failure.count("sms", "applied"), 2);

    assert_eq!(reminder_row(&c, rows[0]).await, ("delivered".into(), None, true));
    assert_eq!(
        reminder_row(&c, rows[1]).await,
        ("failed".into(), Some("SMS receipt: Unknown error attempting to reach phone".into()), true)
    );
    assert_eq!(reminder_row(&c, rows[2]).await.1.as_deref(), Some("SMS receipt: Phone is currently opted out"));
    let opted_out: Vec<(bool, bool)> = c
        .query(
            "SELECT sms_opted_out, sms_opted_out_at IS NOT NULL FROM users WHERE id = ANY($1) ORDER BY id",
            &[&users],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(opted_out, [(false, false), (false, false), (true, true)]);

    let again = handle(&db, &logs_event(&report("sms-logs-failure.json"))).await;
    assert_eq!(again.count("sms", "unchanged"), 2, "the same receipts again change nothing");
}

#[tokio::test]
async fn a_report_for_a_message_never_sent_is_counted_and_changes_nothing() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let user = email_user(&c).await;
    let row = sent_reminder(&c, user, "email", "some-other-message").await;
    let summary = handle(&db, &ses("ses-bounce-permanent.json")).await;
    assert_eq!(summary.count("ses", "unknown"), 1);
    assert_eq!(reminder_row(&c, row).await, ("sent".into(), None, false));
    assert_eq!(suppression(&c, user).await, (false, None), "the recipient's address alone suppresses nothing");
}

#[tokio::test]
async fn unreadable_records_are_skipped_and_the_rest_applied() {
    let (db, c, _, row) = emailed().await;
    let mut event = sns_event(&[json!({"eventType": "Delivery", "mail": {}}), report("ses-delivery.json")]);
    event["Records"][0]["Sns"]["Message"] = json!("{not json");
    let summary = handle(&db, &event).await;
    assert_eq!((summary.count("sns", "malformed"), summary.count("ses", "applied")), (1, 1));
    assert_eq!(reminder_row(&c, row).await.0, "delivered");

    let send = sns_event(&[json!({"eventType": "Send", "mail": {"messageId": SES_MESSAGE_ID}, "send": {}})]);
    assert_eq!(handle(&db, &send).await.count("ses", "ignored"), 1);
    let garbage = handle(&db, &json!({"awslogs": {"data": "not base64!"}})).await;
    assert_eq!(garbage.count("sms", "malformed"), 1);
    assert_eq!(handle(&db, &json!({"hello": 1})).await.count("event", "malformed"), 1);
}

/// Every (status, report) pair: the statement moves the row exactly when
/// the domain's rule says it may.
#[tokio::test]
async fn the_statement_follows_the_domains_rank_rule() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let user = email_user(&c).await;
    let reports = [
        ("ses-delivery.json", DeliveryStatus::Delivered),
        ("ses-bounce-transient.json", DeliveryStatus::Bounced),
        ("ses-complaint.json", DeliveryStatus::Complained),
        ("ses-reject.json", DeliveryStatus::Rejected),
    ];
    // A deferred row (quiet hours) needs more than its status; it has no
    // provider message id anyway.
    for from in DeliveryStatus::ALL.iter().filter(|s| s.as_str() != "deferred") {
        for (file, to) in reports {
            let id = format!("{from}-{to}");
            let row = sent_reminder(&c, user, "email", &id).await;
            c.execute("UPDATE event_reminders_logs SET status = $2 WHERE id = $1", &[&row, &from.as_str()])
                .await
                .unwrap();
            let mut record = report(file);
            record["mail"]["messageId"] = json!(id);
            handle(&db, &sns_event(&[record])).await;
            let expected = if from.may_become(to) { to } else { *from };
            assert_eq!(reminder_row(&c, row).await.0, expected.as_str(), "{from} then {to}");
        }
    }
}

#[tokio::test]
async fn the_sample_events_are_what_the_handler_reads() {
    let db = TestDatabase::migrated().await;
    for file in [
        include_str!("../../events/delivery-events-ses-bounce.json"),
        include_str!("../../events/delivery-events-sms-logs.json"),
    ] {
        let summary = handle(&db, &serde_json::from_str(file).unwrap()).await;
        assert_eq!(summary.total("malformed"), 0, "{summary:?}");
        assert!(summary.total("unknown") > 0, "{summary:?}");
    }
}
