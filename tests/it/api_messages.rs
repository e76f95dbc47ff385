//! The three queues the existing HTTP API sends to, fed exactly as it sends
//! (contracts §2): `SendMessage` with one constant message group per queue,
//! no deduplication id (the queues deduplicate by content), the
//! attribute-style body and the same map as message attributes. What the
//! consumers then did is read back from moto and PostgreSQL.

use crate::fixtures::{self, at, queues};
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use torium_aws::{Sns, SqsQueue};
use torium_delivery::SnsPushPublisher;
use torium_tests::TestDatabase;
use torium_tests::moto::{self, PushDevices, create_api_fifo_queue, drain_queue, pushes_to, sqs_event};

/// Sends `fields` as the API's `SqsManager` does.
async fn send_as_the_api(sqs: &aws_sdk_sqs::Client, url: &str, group_id: &str, fields: &[(&str, String)]) {
    let attributes: HashMap<String, MessageAttributeValue> = fields
        .iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder().data_type("String").string_value(value).build().unwrap();
            ((*name).to_owned(), value)
        })
        .collect();
    let body: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), serde_json::json!({"DataType": "String", "StringValue": value})))
        .collect();
    sqs.send_message()
        .queue_url(url)
        .message_body(serde_json::Value::Object(body).to_string())
        .set_message_attributes(Some(attributes))
        .message_group_id(group_id)
        .send()
        .await
        .expect("the queue accepts a message without a deduplication id");
}

/// Python's `str()` of a naive UTC datetime, as the API writes times.
fn python_str(instant: DateTime<Utc>) -> String {
    instant.naive_utc().to_string()
}

#[tokio::test]
async fn notify_now_sent_as_the_api_sends_it_reminds_every_member_once() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let sqs = q.sqs.client();
    let url = create_api_fifo_queue(sqs, "schedule-notifications-queue").await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Climbing").await;
    let event = fixtures::christmas_event(&c, group, "Christmas dinner").await;
    for i in 0..2 {
        let member = fixtures::Person::unique(&format!("api{i}")).prefers("EMAIL").insert(&c).await;
        fixtures::attendee(&c, event, member).await;
    }
    let fields = [("event_id", event.to_string()), ("event_timestamp", python_str(at("2026-12-24T17:00:00Z")))];
    // The app's button pressed twice within SQS's window: one message.
    for _ in 0..2 {
        send_as_the_api(sqs, &url, "CreateScheduleNotificationsEvent", &fields).await;
    }
    let received = drain_queue(sqs, &url).await;
    assert_eq!(received.len(), 1, "content-based deduplication drops the identical second send");
    assert_eq!(received[0].group_id, "CreateScheduleNotificationsEvent");

    let response = schedule_notifications::handle_batch(
        &db.store,
        &q.sqs,
        &q.fan_out,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &sqs_event(&received),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(drain_queue(sqs, &q.fan_out.channels.email).await.len(), 2, "each member once");

    let sent_at = DateTime::from_timestamp_millis(received[0].sent_timestamp.parse().unwrap()).unwrap();
    let firing: (String, DateTime<Utc>) = c
        .query_one("SELECT source::text, trigger_timestamp FROM event_reminders WHERE event_id = $1", &[&event])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(firing, ("notify_now".to_owned(), sent_at), "recorded at when the API sent it");
}

#[tokio::test]
async fn an_invitation_sent_as_the_api_sends_it_is_pushed() {
    let db = TestDatabase::migrated().await;
    let sqs = SqsQueue::new(&moto::sdk_config().await);
    let url = create_api_fifo_queue(sqs.client(), "send_push_group_invitation-queue").await;
    let devices = PushDevices::new().await;
    let publisher = SnsPushPublisher { sns: Sns::new(&moto::sdk_config().await) };
    let c = db.client().await;
    let admin = fixtures::user(&c, "api-admin@example.com").await;
    let group = fixtures::group_with_admin(&c, "Climbing", admin).await;
    let endpoint = devices.endpoint(true).await;
    let invited = fixtures::Person::unique("invited").prefers("PUSH").device(&endpoint).insert(&c).await;
    let invitation: i64 = c
        .query_one(
            "INSERT INTO group_invitation_logs (group_id, user_to, \"timestamp\", status) \
             VALUES ($1, $2, now(), 'pending') RETURNING id",
            &[&group, &invited],
        )
        .await
        .unwrap()
        .get(0);
    let fields = [
        ("group_invitation_logs_id", invitation.to_string()),
        ("user_id", invited.to_string()),
        ("group_id", group.to_string()),
    ];
    send_as_the_api(sqs.client(), &url, "CreateSendPushGroupInvitationEvent", &fields).await;

    let received = drain_queue(sqs.client(), &url).await;
    let response = send_group_invitation::handle_batch(
        &db.store,
        &publisher,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &sqs_event(&received),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(pushes_to(&endpoint).len(), 1);
    let status: String = c
        .query_one("SELECT status::text FROM group_invitation_logs WHERE id = $1", &[&invitation])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "sent");
}

#[tokio::test]
async fn a_comment_sent_as_the_api_sends_it_is_pushed_to_the_other_members() {
    let db = TestDatabase::migrated().await;
    let sqs = SqsQueue::new(&moto::sdk_config().await);
    let url = create_api_fifo_queue(sqs.client(), "schedule-push-notification-comments-queue").await;
    let devices = PushDevices::new().await;
    let publisher = SnsPushPublisher { sns: Sns::new(&moto::sdk_config().await) };
    let c = db.client().await;
    let group = fixtures::group(&c, "Climbing").await;
    let event = fixtures::christmas_event(&c, group, "Christmas dinner").await;
    let mut endpoints = Vec::new();
    let mut members = Vec::new();
    for i in 0..3 {
        let endpoint = devices.endpoint(true).await;
        let member = fixtures::Person::unique(&format!("c{i}")).prefers("PUSH").device(&endpoint).insert(&c).await;
        fixtures::attendee(&c, event, member).await;
        endpoints.push(endpoint);
        members.push(member);
    }
    let comment: i64 = c
        .query_one(
            "INSERT INTO events_comments (event_id, user_id, comment, \"timestamp\") \
             VALUES ($1, $2, 'Who brings the pierogi?', now()) RETURNING id",
            &[&event, &members[0]],
        )
        .await
        .unwrap()
        .get(0);
    let fields = [
        ("events_comments_id", comment.to_string()),
        ("event_id", event.to_string()),
        ("event_timestamp", python_str(Utc::now())),
        ("user_id", members[0].to_string()),
        ("comment", "Who brings the pierogi?".to_owned()),
    ];
    send_as_the_api(sqs.client(), &url, "CreateSchedulePushNotificationCommentsEvent", &fields).await;

    let received = drain_queue(sqs.client(), &url).await;
    let response = schedule_comment_push::handle_batch(
        &db.store,
        &publisher,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &sqs_event(&received),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert!(pushes_to(&endpoints[0]).is_empty(), "not the author");
    assert_eq!(pushes_to(&endpoints[1]).len(), 1);
    assert_eq!(pushes_to(&endpoints[2]).len(), 1);
    let logged: i64 = c
        .query_one(
            "SELECT count(*) FROM events_comments_logs WHERE events_comments_id = $1 AND status = 'sent'",
            &[&comment],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 2);
}
