//! send-sms, send-email and send-push on real PostgreSQL and moto: what
//! moto says was sent, and the delivery log rows.

use crate::fixtures::{self, Queues, at, queues, senders};
use send_email::EmailSender;
use send_sms::SmsSender;

/// A number on moto's fixed list of opted-out numbers (`ListPhoneNumbersOptedOut`).
const MOTO_OPTED_OUT_NUMBER: &str = "+447700900907";
use std::sync::atomic::{AtomicBool, Ordering};
use torium_aws::{EmailOptions, Ses, SmsOptions};
use torium_delivery::{ChannelSender, SendFailure, deliver_batch};
use torium_domain::{Addressed, Channel, Delivery, EventId, ReminderDue};
use torium_runtime::aws_lambda_events::event::sqs::SqsBatchResponse;
use torium_tests::moto::{
    self, ReceivedMessage, drain_dead_letters, drain_queue, emails_to, pushes_to, sms_to, sqs_event, unique_phone,
};
use torium_tests::{TestDatabase, unique_name};

/// An event with these members fanned out for real: the channel queues'
/// messages, per channel, as schedule-notifications produced them.
async fn fanned_out(
    db: &TestDatabase,
    q: &Queues,
    name: &str,
    members: &[i64],
) -> (i64, Vec<ReceivedMessage>, Vec<ReceivedMessage>, Vec<ReceivedMessage>) {
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::christmas_event(&c, group, name).await;
    for &m in members {
        fixtures::attendee(&c, event, m).await;
    }
    let due = ReminderDue { event_id: EventId(event), trigger_at: at("2026-12-23T17:00:00Z") };
    schedule_notifications::fan_out(&db.store, &q.sqs, &q.fan_out, &fixtures::deadline(), due.into())
        .await
        .expect("fan-out");
    let sms = drain_queue(q.sqs.client(), &q.fan_out.channels.sms).await;
    let email = drain_queue(q.sqs.client(), &q.fan_out.channels.email).await;
    let push = drain_queue(q.sqs.client(), &q.fan_out.channels.push).await;
    (event, sms, email, push)
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
}

/// (user, status, provider message id, last error) of every log row.
async fn log_rows(db: &TestDatabase) -> Vec<(i64, String, Option<String>, Option<String>)> {
    db.client()
        .await
        .query(
            "SELECT user_id, status::text, provider_message_id, last_error FROM event_reminders_logs ORDER BY user_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn sorted_by_user(mut messages: Vec<ReceivedMessage>) -> Vec<ReceivedMessage> {
    messages.sort_by_key(|m| Delivery::parse(&m.body).unwrap().user_id);
    messages
}

#[tokio::test]
async fn each_channel_delivers_its_batch_once_and_logs_it_sent() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let s = senders().await;
    let c = db.client().await;
    let mut members = Vec::new();
    let mut phones = Vec::new();
    let mut addresses = Vec::new();
    let mut endpoints = Vec::new();
    for i in 0..3 {
        let phone = unique_phone();
        members.push(fixtures::Person::unique("sms").phone(&phone).prefers("SMS").bank("PKO").insert(&c).await);
        phones.push(phone);
        let address = format!("{}@example.com", unique_name(&format!("mail{i}")));
        members.push(fixtures::Person::new(&address).prefers("EMAIL").insert(&c).await);
        addresses.push(address);
        let endpoint = s.endpoint(true).await;
        members.push(fixtures::Person::unique("push").prefers("PUSH").device(&endpoint).insert(&c).await);
        endpoints.push(endpoint);
    }
    let (_, sms, email, push) = fanned_out(&db, &q, "<script>alert(1)</script>", &members).await;
    assert_eq!((sms.len(), email.len(), push.len()), (3, 3, 3));

    for (sender_batch, response) in [
        (
            &sms,
            deliver_batch(&db.store, &s.sms, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&sms))
                .await,
        ),
        (
            &email,
            deliver_batch(&db.store, &s.email, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&email))
                .await,
        ),
        (
            &push,
            deliver_batch(&db.store, &s.push, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&push))
                .await,
        ),
    ] {
        assert!(response.batch_item_failures.is_empty(), "{} messages: {response:?}", sender_batch.len());
    }

    let rows = log_rows(&db).await;
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|(_, status, id, error)| status == "sent" && id.is_some() && error.is_none()), "{rows:?}");
    for phone in &phones {
        let received = sms_to(phone);
        assert_eq!(received.len(), 1, "one SMS to {phone}");
        assert!(received[0].1.starts_with("Torium reminder!\n<script>alert(1)</script>\n"), "{}", received[0].1);
        assert!(received[0].1.contains("pay at https://www.pkobp.pl/"));
        assert!(
            rows.iter().any(|(_, _, id, _)| id.as_deref() == Some(received[0].0.as_str())),
            "the log keeps SNS's message id"
        );
    }
    for address in &addresses {
        let received = emails_to(address);
        assert_eq!(received.len(), 1, "one email to {address}");
        assert_eq!(received[0]["subject"], "Torium reminder");
        assert_eq!(received[0]["source"], s.email.options.from_address.as_str());
        let html = received[0]["body"].as_str().unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "user text is escaped: {html}");
    }
    for endpoint in &endpoints {
        let received = pushes_to(endpoint);
        assert_eq!(received.len(), 1, "one push to {endpoint}");
        let gcm: serde_json::Value = serde_json::from_str(received[0]["GCM"].as_str().unwrap()).unwrap();
        let message = &gcm["fcmV1Message"]["message"];
        assert_eq!(message["notification"]["title"], "Torium reminder");
        assert_eq!(message["data"]["forward_link"], "None");
        assert_eq!(message["apns"]["headers"]["apns-topic"], "io.flutter.plugins.firebase.messaging");
    }

    // The same batches again: nobody gets a second copy.
    for response in [
        deliver_batch(&db.store, &s.sms, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&sms)).await,
        deliver_batch(&db.store, &s.email, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&email))
            .await,
        deliver_batch(&db.store, &s.push, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&push)).await,
    ] {
        assert!(response.batch_item_failures.is_empty());
    }
    assert!(phones.iter().all(|p| sms_to(p).len() == 1));
    assert!(addresses.iter().all(|a| emails_to(a).len() == 1));
    assert!(endpoints.iter().all(|e| pushes_to(e).len() == 1));
}

/// The real SMS sender, with one transient failure injected for one number.
struct FlakyOnce<'a> {
    inner: &'a SmsSender,
    number: String,
    failed: AtomicBool,
}

impl ChannelSender for FlakyOnce<'_> {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, message: &Addressed<'_>) -> Result<String, SendFailure> {
        let to_number = matches!(message, Addressed::Sms { to, .. } if to.as_str() == self.number);
        if to_number && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(SendFailure::Transient("Throttled: rate exceeded (injected)".into()));
        }
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn a_transient_error_returns_only_that_users_message_then_all_are_sent_once() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let s = senders().await;
    let c = db.client().await;
    let mut members = Vec::new();
    for _ in 0..5 {
        let phone = unique_phone();
        members.push(fixtures::Person::unique("u").phone(&phone).prefers("SMS").insert(&c).await);
    }
    let (_, sms, _, _) = fanned_out(&db, &q, "Trip", &members).await;
    let batch = sorted_by_user(sms);
    let number_of = |m: &ReceivedMessage| Delivery::parse(&m.body).unwrap().receiver;
    let flaky = FlakyOnce { inner: &s.sms, number: number_of(&batch[2]), failed: AtomicBool::new(false) };

    let (metrics, emitted) = torium_runtime::Metrics::in_memory("send-sms");
    let consumer = torium_runtime::Consumer { metrics, ..fixtures::consumer().await };
    let response = deliver_batch(&db.store, &flaky, &consumer, &fixtures::deadline(), &sqs_event(&batch)).await;
    // Each user is a message group of their own: the others are not held back.
    assert_eq!(failed_ids(&response), [batch[2].message_id.as_str()]);
    // The batch as EMF metrics: four sent, one returned, four lateness values.
    let records: Vec<serde_json::Value> =
        emitted.lock().unwrap().iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    let deliveries = |outcome: &str| {
        records.iter().find(|r| r["Outcome"] == outcome && r["Channel"] == "sms").map(|r| r["Deliveries"].clone())
    };
    assert_eq!(deliveries("sent"), Some(serde_json::json!(4.0)));
    assert_eq!(deliveries("returned"), Some(serde_json::json!(1.0)));
    let lateness = records.iter().find_map(|r| r["DeliveryLateness"].as_array().cloned()).expect("lateness values");
    assert_eq!(lateness.len(), 4);
    let sent: Vec<usize> = batch.iter().map(|m| sms_to(&number_of(m)).len()).collect();
    assert_eq!(sent, [1, 1, 0, 1, 1]);
    let statuses: Vec<String> = log_rows(&db).await.into_iter().map(|r| r.1).collect();
    assert_eq!(statuses, ["sent", "sent", "failed", "sent", "sent"]);

    // SQS redelivers the returned message (here: with all the others again).
    let response =
        deliver_batch(&db.store, &flaky, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&batch)).await;
    assert!(response.batch_item_failures.is_empty());
    let sent: Vec<usize> = batch.iter().map(|m| sms_to(&number_of(m)).len()).collect();
    assert_eq!(sent, [1, 1, 1, 1, 1], "everyone exactly once");
    assert!(log_rows(&db).await.iter().all(|r| r.1 == "sent"));
}

#[tokio::test]
async fn bad_input_and_refused_recipients_are_acknowledged_and_logged() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let s = senders().await;
    let c = db.client().await;
    // On moto's list of opted-out numbers (ListPhoneNumbersOptedOut).
    let opted_out_phone = MOTO_OPTED_OUT_NUMBER.to_owned();
    let good_phone = unique_phone();
    let opted_out = fixtures::Person::unique("o").phone(&opted_out_phone).prefers("SMS").insert(&c).await;
    let good = fixtures::Person::unique("g").phone(&good_phone).prefers("SMS").insert(&c).await;
    let disabled_endpoint = s.endpoint(false).await;
    let disabled = fixtures::Person::unique("d").prefers("PUSH").device(&disabled_endpoint).insert(&c).await;
    let (_, sms, _, push) = fanned_out(&db, &q, "Trip", &[opted_out, good, disabled]).await;
    let sms = sorted_by_user(sms);

    // A user that is gone, and (on a firing of its own) an invalid number as
    // an older API row might hold.
    let extra = |d: &Delivery, id: &str| ReceivedMessage {
        message_id: id.into(),
        body: d.to_body(),
        group_id: d.group_id(),
        deduplication_id: d.deduplication_id(),
        sent_timestamp: String::new(),
    };
    let mut unknown_user = Delivery::parse(&sms[1].body).unwrap();
    unknown_user.user_id.0 += 10_000;
    let batch = vec![sms[0].clone(), extra(&unknown_user, "unknown"), sms[1].clone()];
    let response =
        deliver_batch(&db.store, &s.sms, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&batch)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(sms_to(&opted_out_phone).is_empty(), "nothing published to an opted-out number");
    assert_eq!(sms_to(&good_phone).len(), 1);
    let flagged: bool =
        c.query_one("SELECT sms_opted_out FROM users WHERE id = $1", &[&opted_out]).await.unwrap().get(0);
    assert!(flagged, "the user row shows the opt-out");

    let mut invalid = Delivery::parse(&sms[1].body).unwrap();
    invalid.reminder_id = db
        .store
        .record_firing(&ReminderDue { event_id: invalid.event_id, trigger_at: at("2026-12-23T18:00:00Z") }.into())
        .await
        .unwrap()
        .id;
    invalid.receiver = "500 100 200".into();
    let response = deliver_batch(
        &db.store,
        &s.sms,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &sqs_event(&[extra(&invalid, "invalid")]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());

    let response =
        deliver_batch(&db.store, &s.push, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&push)).await;
    assert!(response.batch_item_failures.is_empty(), "a disabled endpoint is not retried");
    assert!(pushes_to(&disabled_endpoint).is_empty());
    let device: Option<String> =
        c.query_one("SELECT device_arn FROM users WHERE id = $1", &[&disabled]).await.unwrap().get(0);
    assert_eq!(device, None, "the endpoint is forgotten; the next reminder goes by email");

    let log_of = |reminder: i64, user: i64| {
        let c = &c;
        async move {
            let r = c
                .query_one(
                    "SELECT status::text, coalesce(last_error, '') FROM event_reminders_logs WHERE event_reminders_id = $1 AND user_id = $2",
                    &[&reminder, &user],
                )
                .await
                .unwrap();
            (r.get::<_, String>(0), r.get::<_, String>(1))
        }
    };
    let first_reminder = Delivery::parse(&sms[0].body).unwrap().reminder_id.0;
    let (status, error) = log_of(first_reminder, opted_out).await;
    assert_eq!(status, "failed");
    assert!(error.contains("opted out"), "{error}");
    assert_eq!(log_of(first_reminder, good).await.0, "sent");
    let (status, error) = log_of(first_reminder, disabled).await;
    assert_eq!(status, "failed");
    assert!(error.contains("EndpointDisabled"), "{error}");
    assert_eq!(
        log_of(invalid.reminder_id.0, good).await,
        ("failed".to_owned(), "the phone number is not in E.164 form".to_owned())
    );
}

#[tokio::test]
async fn a_malformed_message_is_set_aside_at_once_and_the_rest_is_delivered() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let s = senders().await;
    let c = db.client().await;
    let mut addresses = Vec::new();
    let mut members = Vec::new();
    for _ in 0..2 {
        let address = format!("{}@example.com", unique_name("m"));
        members.push(fixtures::Person::new(&address).insert(&c).await);
        addresses.push(address);
    }
    let (_, _, email, _) = fanned_out(&db, &q, "Trip", &members).await;
    let email = sorted_by_user(email);
    let garbage = ReceivedMessage { message_id: "garbage".into(), body: "{not json".into(), ..email[0].clone() };
    let sms_on_email_queue = ReceivedMessage {
        message_id: "wrong-queue".into(),
        body: {
            let mut d = Delivery::parse(&email[1].body).unwrap();
            d.content = torium_domain::DeliveryContent::Sms { text: "hi".into() };
            d.to_body()
        },
        ..email[1].clone()
    };
    // The poison message heads its group; the next message of that group
    // and the other group's both go out.
    let batch = [garbage, email[0].clone(), sms_on_email_queue, email[1].clone()];
    let consumer = fixtures::consumer().await;
    let response = deliver_batch(&db.store, &s.email, &consumer, &fixtures::deadline(), &sqs_event(&batch)).await;
    assert!(failed_ids(&response).is_empty(), "poison is acknowledged once set aside");
    assert_eq!(emails_to(&addresses[0]).len(), 1);
    assert_eq!(emails_to(&addresses[1]).len(), 1);
    let set_aside = drain_dead_letters(q.sqs.client(), consumer.dead_letters.queue_url()).await;
    let reasons: Vec<(&str, &str, &str)> = set_aside
        .iter()
        .map(|(m, attributes)| {
            (attributes["original_message_id"].as_str(), m.group_id.as_str(), attributes["reason"].as_str())
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, "garbage");
    assert_eq!(reasons[0].1, email[0].group_id, "same message group in the dead-letter queue");
    assert!(reasons[0].2.starts_with("not a delivery: message body is not JSON"), "{reasons:?}");
    assert_eq!(reasons[1].0, "wrong-queue");
    assert_eq!(reasons[1].2, "a sms delivery on the email queue");
    assert_eq!(set_aside[0].0.body, "{not json", "the body is kept as received");
}

#[tokio::test]
async fn an_unverified_sender_is_a_permanent_failure() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let address = format!("{}@example.com", unique_name("m"));
    let member = fixtures::Person::new(&address).insert(&c).await;
    let (_, _, email, _) = fanned_out(&db, &q, "Trip", &[member]).await;
    let unverified = EmailSender {
        ses: Ses::new(&moto::sdk_config().await),
        options: EmailOptions { from_address: "nobody@unverified.example".into(), configuration_set: None },
    };
    let response =
        deliver_batch(&db.store, &unverified, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&email))
            .await;
    assert!(response.batch_item_failures.is_empty(), "refused for good: acknowledged");
    assert!(emails_to(&address).is_empty());
    let rows = log_rows(&db).await;
    assert_eq!(rows[0].1, "failed");
    assert!(rows[0].3.as_deref().unwrap_or_default().contains("MessageRejected"), "{rows:?}");
}

#[tokio::test]
async fn the_whole_pipeline_reminds_every_member_once_on_their_channel() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let s = senders().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Book club").await;
    let event = fixtures::christmas_event(&c, group, "Book club").await;
    let phone = unique_phone();
    let endpoint = s.endpoint(true).await;
    let sms_address = format!("{}@example.com", unique_name("sms"));
    let email_address = format!("{}@example.com", unique_name("email"));
    let fallback_address = format!("{}@example.com", unique_name("nodevice"));
    let none_address = format!("{}@example.com", unique_name("nopref"));
    let members = [
        fixtures::Person::new(&sms_address).phone(&phone).prefers("SMS").bank("Pekao").insert(&c).await,
        fixtures::Person::unique("push").prefers("PUSH").device(&endpoint).insert(&c).await,
        fixtures::Person::new(&email_address).prefers("EMAIL").bank("ING").insert(&c).await,
        fixtures::Person::new(&fallback_address).prefers("PUSH").insert(&c).await,
        fixtures::Person::new(&none_address).insert(&c).await,
    ];
    for m in members {
        fixtures::attendee(&c, event, m).await;
    }

    q.run(&db, "2026-11-20T00:01:00Z").await;
    assert_eq!(q.run(&db, "2026-12-23T17:00:00Z").await.enqueued, 1);
    let (_, due) = q.take_due().await;
    assert!(
        schedule_notifications::handle_batch(
            &db.store,
            &q.sqs,
            &q.fan_out,
            &fixtures::consumer().await,
            &fixtures::deadline(),
            &sqs_event(&due)
        )
        .await
        .batch_item_failures
        .is_empty()
    );
    for (url, sender) in [
        (&q.fan_out.channels.sms, Channel::Sms),
        (&q.fan_out.channels.email, Channel::Email),
        (&q.fan_out.channels.push, Channel::Push),
    ] {
        let batch = drain_queue(q.sqs.client(), url).await;
        let response = match sender {
            Channel::Sms => {
                deliver_batch(&db.store, &s.sms, &fixtures::consumer().await, &fixtures::deadline(), &sqs_event(&batch))
                    .await
            }
            Channel::Email => {
                deliver_batch(
                    &db.store,
                    &s.email,
                    &fixtures::consumer().await,
                    &fixtures::deadline(),
                    &sqs_event(&batch),
                )
                .await
            }
            Channel::Push => {
                deliver_batch(
                    &db.store,
                    &s.push,
                    &fixtures::consumer().await,
                    &fixtures::deadline(),
                    &sqs_event(&batch),
                )
                .await
            }
        };
        assert!(response.batch_item_failures.is_empty());
    }

    let sms = sms_to(&phone);
    assert_eq!(sms.len(), 1);
    assert_eq!(
        sms[0].1,
        "Torium reminder!\nBook club\nSee you there\n24 Dec 2026, 18:00:00\nBudget: 90.00 PLN\n\
         Your share: 18.00 PLN, pay at https://www.pekao.com.pl/"
    );
    assert_eq!(pushes_to(&endpoint).len(), 1);
    for address in [&email_address, &fallback_address, &none_address] {
        assert_eq!(emails_to(address).len(), 1, "{address}");
    }
    assert!(emails_to(&sms_address).is_empty(), "the SMS member gets no email");
    let text_part_of_ing: Vec<String> =
        emails_to(&email_address).iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert!(text_part_of_ing[0].contains("pay at https://www.ing.pl/"));
    let statuses: Vec<String> = log_rows(&db).await.into_iter().map(|r| r.1).collect();
    assert_eq!(statuses, ["sent"; 5]);
}

#[test]
fn sender_options_come_from_configuration() {
    use torium_runtime::Env;
    let sms = send_sms::sms_options(&Env::from_pairs([("SMS_SENDER_ID", "Torium")])).unwrap();
    assert_eq!(sms, SmsOptions { sms_type: "Transactional".into(), sender_id: Some("Torium".into()) });
    assert!(send_sms::sms_options(&Env::from_pairs([("SMS_TYPE", "Loud")])).is_err());
    let err = send_email::email_options(&Env::from_pairs([])).unwrap_err();
    assert_eq!(err.to_string(), "environment variable SES_FROM_ADDRESS is required but not set");
    let email = send_email::email_options(&Env::from_pairs([
        ("SES_FROM_ADDRESS", "noreply@torium.example"),
        ("SES_CONFIGURATION_SET", "torium"),
    ]))
    .unwrap();
    assert_eq!(email.configuration_set.as_deref(), Some("torium"));
}

#[test]
fn the_sample_events_are_deliveries_for_their_queue() {
    use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
    for (file, channel) in [
        (include_str!("../../events/send-sms.json"), Channel::Sms),
        (include_str!("../../events/send-email.json"), Channel::Email),
        (include_str!("../../events/send-push.json"), Channel::Push),
    ] {
        let event: SqsEvent = serde_json::from_str(file).unwrap();
        let delivery = Delivery::parse(event.records[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(delivery.channel(), channel);
    }
}
