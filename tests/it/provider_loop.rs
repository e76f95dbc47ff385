//! The loop with the providers closed, end to end on PostgreSQL and moto: a
//! reminder goes out through the real fan-out and senders, the provider
//! reports on the message id it returned (SES: a permanent bounce; SNS: the
//! endpoint disabled), delivery-events records it, and the member's next
//! reminder goes by their next usable channel.

use crate::fixtures::{self, Queues, at, queues, report, senders, sns_event};
use delivery_events::handle_event;
use serde_json::Value;
use torium_delivery::{ChannelSender, deliver_batch};
use torium_domain::{EventId, Firing, NotifyNow, ReminderDue, ReminderRequest};
use torium_tests::moto::{ReceivedMessage, drain_queue, emails_to, pushes_to, sms_to, sqs_event, unique_phone};
use torium_tests::{TestDatabase, unique_name};

/// Fans `firing` out and hands every channel queue's messages to its
/// sender; returns the email queue's messages (to redeliver one).
async fn remind(db: &TestDatabase, q: &Queues, firing: Firing) -> Vec<ReceivedMessage> {
    let s = senders().await;
    schedule_notifications::fan_out(&db.store, &q.sqs, &q.fan_out, &fixtures::deadline(), firing)
        .await
        .expect("fan-out");
    send_all(db, &s.sms, drain_queue(q.sqs.client(), &q.fan_out.channels.sms).await).await;
    send_all(db, &s.push, drain_queue(q.sqs.client(), &q.fan_out.channels.push).await).await;
    let emails = drain_queue(q.sqs.client(), &q.fan_out.channels.email).await;
    send_all(db, &s.email, emails.clone()).await;
    emails
}

async fn send_all(db: &TestDatabase, sender: &impl ChannelSender, messages: Vec<ReceivedMessage>) {
    if messages.is_empty() {
        return;
    }
    let response =
        deliver_batch(&db.store, sender, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&messages))
            .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

/// (channel, status, provider message id) of a member's row for the event's firing by `source`.
async fn row(db: &TestDatabase, event: i64, user: i64, source: &str) -> (String, String, String) {
    let r = db
        .client()
        .await
        .query_one(
            "SELECT l.channel::text, l.status::text, l.provider_message_id FROM event_reminders_logs l \
             JOIN event_reminders r ON r.id = l.event_reminders_id \
             WHERE r.event_id = $1 AND l.user_id = $2 AND r.source::text = $3",
            &[&event, &user, &source],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

#[tokio::test]
async fn a_bounce_moves_the_next_reminder_to_sms_and_a_dead_endpoint_moves_it_to_email() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let phone = unique_phone();
    let address = format!("{}@example.com", unique_name("bouncing"));
    let bouncing = fixtures::Person::new(&address).phone(&phone).prefers("EMAIL").insert(&c).await;
    let endpoint = senders().await.endpoint(true).await;
    let push_address = format!("{}@example.com", unique_name("pushed"));
    let pushed = fixtures::Person::new(&push_address).prefers("PUSH").device(&endpoint).insert(&c).await;
    let group = fixtures::group(&c, "Climbing").await;
    let event = fixtures::christmas_event(&c, group, "Christmas dinner").await;
    for user in [bouncing, pushed] {
        fixtures::attendee(&c, event, user).await;
    }

    // The scheduled reminder: by email and by push, as preferred.
    let emails =
        remind(&db, &q, ReminderDue { event_id: EventId(event), trigger_at: at("2026-12-23T17:00:00Z") }.into()).await;
    let (channel, status, email_id) = row(&db, event, bouncing, "scheduled").await;
    assert_eq!((channel.as_str(), status.as_str()), ("email", "sent"));
    let (_, _, push_id) = row(&db, event, pushed, "scheduled").await;
    assert_eq!(emails_to(&address).len(), 1);
    assert_eq!(pushes_to(&endpoint).len(), 1);

    // SES: a permanent bounce for the message id SendEmail returned; SNS:
    // the platform disabled the endpoint.
    let mut bounce = report("ses-bounce-permanent.json");
    bounce["mail"]["messageId"] = Value::String(email_id.clone());
    bounce["mail"]["destination"][0] = Value::String(address.clone());
    bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] = Value::String(address.clone());
    let mut disabled = report("push-endpoint-updated-disabled.json");
    disabled["EndpointArn"] = Value::String(endpoint.clone());
    let summary = handle_event(&db.store, &fixtures::deadline(), &sns_event(&[bounce, disabled])).await.unwrap();
    assert_eq!((summary.total("applied"), summary.total("unknown")), (2, 0), "{summary:?}");
    assert_eq!(row(&db, event, bouncing, "scheduled").await.1, "bounced");
    assert_eq!(row(&db, event, pushed, "scheduled").await, ("push".to_owned(), "sent".to_owned(), push_id));
    let user = c
        .query_one(
            "SELECT email_suppressed_at IS NOT NULL, email_suppression_reason FROM users WHERE id = $1",
            &[&bouncing],
        )
        .await
        .unwrap();
    assert!(user.get::<_, bool>(0), "the address is suppressed");
    assert!(user.get::<_, Option<String>>(1).unwrap().contains("Permanent"));
    let device: Option<String> =
        c.query_one("SELECT device_arn FROM users WHERE id = $1", &[&pushed]).await.unwrap().get(0);
    assert_eq!(device, None, "the disabled endpoint is forgotten");

    // SQS hands the bounced email over again (a copy, a redrive): the row
    // the provider reported on counts as done; nothing is sent or rewritten.
    send_all(&db, &senders().await.email, emails).await;
    assert_eq!(emails_to(&address).len(), 1);
    assert_eq!(row(&db, event, bouncing, "scheduled").await.1, "bounced");

    // The next reminder (the API's "notify now"): SMS for the bounced
    // address, email for the member whose endpoint died.
    let notify_now =
        ReminderRequest::NotifyNow(NotifyNow { event_id: EventId(event), event_at: at("2026-12-24T17:00:00Z") });
    remind(&db, &q, notify_now.firing(at("2026-12-23T17:00:10Z"))).await;
    assert_eq!(row(&db, event, bouncing, "notify_now").await.0, "sms");
    assert_eq!(row(&db, event, pushed, "notify_now").await.0, "email");
    assert_eq!(sms_to(&phone).len(), 1, "the bounced member's reminder came by SMS");
    assert_eq!(emails_to(&address).len(), 1, "no second email to the bounced address");
    assert_eq!(emails_to(&push_address).len(), 1, "the dead endpoint's member got an email");
    assert_eq!(pushes_to(&endpoint).len(), 1, "no second push to the dead endpoint");
}
