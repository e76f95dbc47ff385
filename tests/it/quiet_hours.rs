//! Quiet hours and send-time staleness on real PostgreSQL and moto: the real
//! SMS and email senders handle deliveries at a fixed instant (the sender's
//! clock is the only thing set), the minute run releases what they held, and
//! the assertions read the delivery log and what moto recorded.

use crate::fixtures::{self, at};
use chrono::{DateTime, Utc};
use schedule_events::{ReleaseConfig, release_deferred};
use send_email::EmailSender;
use send_sms::{OptOuts, SmsSender};
use torium_aws::{EmailOptions, Ses, SmsOptions, Sns, SqsQueue};
use torium_delivery::{ChannelSender, deliver_batch};
use torium_domain::{Delivery, DeliveryContent, EmailContent, EventId, Firing, ReminderSource, UserId};
use torium_runtime::aws_lambda_events::event::sqs::SqsBatchResponse;
use torium_runtime::{ChannelQueues, Clock, Consumer};
use torium_tests::moto::{self, ReceivedMessage, create_fifo_queue, drain_queue, emails_to, sms_to, sqs_event};
use torium_tests::{TestDatabase, unique_name};

const TEXT: &str = "Torium reminder!\nChristmas dinner";

struct Scene {
    db: TestDatabase,
    sqs: SqsQueue,
    sms: SmsSender,
    release: ReleaseConfig,
    event: EventId,
}

async fn scene() -> Scene {
    let db = TestDatabase::migrated().await;
    let sdk = moto::sdk_config().await;
    let sqs = SqsQueue::new(&sdk);
    let sms = SmsSender {
        sns: Sns::new(&sdk),
        options: SmsOptions { sms_type: "Transactional".into(), sender_id: None },
        opt_outs: OptOuts::load(&Sns::new(&sdk), std::time::Duration::from_secs(300)).await,
    };
    let release = ReleaseConfig {
        channels: ChannelQueues::new(
            &create_fifo_queue(sqs.client(), "send-sms").await,
            &create_fifo_queue(sqs.client(), "send-email").await,
            &create_fifo_queue(sqs.client(), "send-push").await,
        ),
        batch_size: 200,
        max_batches: 10,
    };
    let c = db.client().await;
    let group = fixtures::group(&c, "Climbers").await;
    let event = EventId(fixtures::christmas_event(&c, group, "Christmas dinner").await);
    Scene { db, sqs, sms, release, event }
}

/// What a delivery body says about staleness.
#[derive(Clone, Copy, Default)]
struct Limits {
    event_starts_at: Option<DateTime<Utc>>,
    late_after: Option<DateTime<Utc>>,
}

impl Scene {
    /// A member reminded by SMS, with quiet hours in a zone (NULL zone: the event's).
    async fn member(&self, zone: Option<&str>, quiet: Option<(&str, &str)>) -> (UserId, String) {
        let c = self.db.client().await;
        let phone = moto::unique_phone();
        let id = fixtures::Person::unique("quiet").phone(&phone).prefers("SMS").insert(&c).await;
        set_quiet_hours(&c, id, zone, quiet).await;
        (UserId(id), phone)
    }

    /// A firing of the event and the SMS delivery of it to `user`.
    async fn sms(&self, user: UserId, phone: &str, trigger: &str, limits: Limits) -> ReceivedMessage {
        let content = DeliveryContent::Sms { text: TEXT.to_owned() };
        self.delivery(user, phone, trigger, limits, content).await
    }

    async fn delivery(
        &self,
        user: UserId,
        receiver: &str,
        trigger: &str,
        limits: Limits,
        content: DeliveryContent,
    ) -> ReceivedMessage {
        let firing = Firing {
            event_id: self.event,
            trigger_at: at(trigger),
            source: ReminderSource::Scheduled,
            occurrence_at: None,
        };
        let reminder = self.db.store.record_firing(&firing).await.expect("firing recorded").id;
        let delivery = Delivery {
            reminder_id: reminder,
            event_id: self.event,
            user_id: user,
            trigger_at: at(trigger),
            receiver: receiver.to_owned(),
            content,
            event_starts_at: limits.event_starts_at,
            late_after: limits.late_after,
        };
        message(&delivery, &delivery.deduplication_id())
    }

    async fn deliver(&self, sender: &impl ChannelSender, now: &str, messages: &[ReceivedMessage]) {
        // The sender handles the batch at `now`.
        let consumer = Consumer { clock: Clock::fixed(at(now)), ..fixtures::consumer().await };
        let event = sqs_event(messages);
        let response = deliver_batch(&self.db.store, sender, &consumer, &fixtures::deadline(), &event).await;
        assert_no_failures(&response);
    }

    async fn release(&self, now: &str) -> usize {
        release_deferred(&self.db.store, &self.sqs, &self.release, &fixtures::deadline(), at(now))
            .await
            .expect("release run")
    }

    async fn row(&self, message: &ReceivedMessage) -> Row {
        let delivery = Delivery::parse(&message.body).expect("a delivery");
        let r = self
            .db
            .client()
            .await
            .query_one(
                "SELECT status::text, deferred_until, deferred_body, released_at, last_error \
                 FROM event_reminders_logs WHERE event_reminders_id = $1 AND user_id = $2",
                &[&delivery.reminder_id.0, &delivery.user_id.0],
            )
            .await
            .expect("a log row");
        Row {
            status: r.get(0),
            deferred_until: r.get(1),
            deferred_body: r.get(2),
            released_at: r.get(3),
            last_error: r.get(4),
        }
    }
}

#[derive(Debug)]
struct Row {
    status: String,
    deferred_until: Option<DateTime<Utc>>,
    deferred_body: Option<String>,
    released_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

async fn set_quiet_hours(c: &torium_store::PooledClient, user: i64, zone: Option<&str>, quiet: Option<(&str, &str)>) {
    let (start, end) = quiet.unzip();
    c.execute(
        "UPDATE users SET time_zone = $2, quiet_hours_start = $3::text::time, quiet_hours_end = $4::text::time \
         WHERE id = $1",
        &[&user, &zone, &start, &end],
    )
    .await
    .expect("quiet hours set as the API writes them");
}

fn message(delivery: &Delivery, deduplication_id: &str) -> ReceivedMessage {
    ReceivedMessage {
        message_id: unique_name("m"),
        body: delivery.to_body(),
        group_id: delivery.group_id(),
        deduplication_id: deduplication_id.to_owned(),
        sent_timestamp: String::new(),
    }
}

fn assert_no_failures(response: &SqsBatchResponse) {
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

fn texts_to(phone: &str) -> Vec<String> {
    sms_to(phone).into_iter().map(|(_, text)| text).collect()
}

const NIGHT: Option<(&str, &str)> = Some(("22:00", "07:00"));

#[tokio::test]
async fn quiet_hours_hold_inside_the_window_and_send_outside() {
    let s = scene().await;
    let (user, phone) = s.member(Some("Europe/Warsaw"), NIGHT).await;
    // 23:30 CET: held until 07:00 CET the next morning, nothing sent.
    let night = s.sms(user, &phone, "2026-01-10T22:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-10T22:30:00Z", std::slice::from_ref(&night)).await;
    let row = s.row(&night).await;
    assert_eq!(row.status, "deferred");
    assert_eq!(row.deferred_until, Some(at("2026-01-11T06:00:00Z")));
    assert_eq!(row.deferred_body.as_deref(), Some(night.body.as_str()), "the exact body is kept");
    assert_eq!(row.released_at, None);
    assert!(texts_to(&phone).is_empty(), "nothing sent inside the window");
    // The same message again (a redelivery): still held, still nothing sent.
    s.deliver(&s.sms, "2026-01-10T22:40:00Z", std::slice::from_ref(&night)).await;
    assert_eq!(s.row(&night).await.status, "deferred");
    assert!(texts_to(&phone).is_empty());

    // 13:00 CET: outside, sent at once.
    let noon = s.sms(user, &phone, "2026-01-11T12:00:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-11T12:00:00Z", std::slice::from_ref(&noon)).await;
    assert_eq!(s.row(&noon).await.status, "sent");
    assert_eq!(texts_to(&phone), [TEXT]);
}

#[tokio::test]
async fn quiet_hours_across_midnight_and_in_the_events_zone() {
    let s = scene().await;
    // No zone of their own: the event's (Europe/Warsaw).
    let (user, phone) = s.member(None, NIGHT).await;
    // 00:30 CET, after midnight: held until 07:00 the same day.
    let early = s.sms(user, &phone, "2026-01-10T23:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-10T23:30:00Z", std::slice::from_ref(&early)).await;
    assert_eq!(s.row(&early).await.deferred_until, Some(at("2026-01-11T06:00:00Z")));
    // 21:59 CET: just before the window, sent.
    let before = s.sms(user, &phone, "2026-01-11T20:59:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-11T20:59:00Z", std::slice::from_ref(&before)).await;
    assert_eq!(s.row(&before).await.status, "sent");

    // A member in New York: 23:30 there is 04:30Z, outside Warsaw's window.
    let (abroad, abroad_phone) = s.member(Some("America/New_York"), NIGHT).await;
    let late = s.sms(abroad, &abroad_phone, "2026-01-11T04:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-11T04:30:00Z", std::slice::from_ref(&late)).await;
    assert_eq!(s.row(&late).await.deferred_until, Some(at("2026-01-11T12:00:00Z")), "07:00 EST");
}

#[tokio::test]
async fn quiet_hours_across_the_dst_changes_in_warsaw() {
    let s = scene().await;
    let (user, phone) = s.member(Some("Europe/Warsaw"), NIGHT).await;
    // 28 → 29 March 2026: 23:00 CET, released at 07:00 CEST.
    let spring = s.sms(user, &phone, "2026-03-28T22:00:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-03-28T22:00:00Z", std::slice::from_ref(&spring)).await;
    assert_eq!(s.row(&spring).await.deferred_until, Some(at("2026-03-29T05:00:00Z")));
    // 24 → 25 October 2026: 23:00 CEST, released at 07:00 CET.
    let autumn = s.sms(user, &phone, "2026-10-24T21:00:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-10-24T21:00:00Z", std::slice::from_ref(&autumn)).await;
    assert_eq!(s.row(&autumn).await.deferred_until, Some(at("2026-10-25T06:00:00Z")));
    // 06:30 CET on 25 October is still inside; 07:00 CET is not.
    let dawn = s.sms(user, &phone, "2026-10-25T05:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-10-25T05:30:00Z", std::slice::from_ref(&dawn)).await;
    assert_eq!(s.row(&dawn).await.status, "deferred");
    let morning = s.sms(user, &phone, "2026-10-25T06:00:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-10-25T06:00:00Z", std::slice::from_ref(&morning)).await;
    assert_eq!(s.row(&morning).await.status, "sent");
    assert_eq!(texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn quiet_hours_do_not_hold_email() {
    let s = scene().await;
    let sdk = moto::sdk_config().await;
    let from_address = format!("{}@torium.example", unique_name("noreply"));
    let ses = Ses::new(&sdk);
    ses.client().create_email_identity().email_identity(&from_address).send().await.expect("verify sender in moto");
    let email = EmailSender { ses, options: EmailOptions { from_address, configuration_set: None } };
    assert!(!email.holds_in_quiet_hours(), "email is not held by default");

    let c = s.db.client().await;
    let address = format!("{}@example.com", unique_name("night-owl"));
    let user = fixtures::Person::new(&address).prefers("EMAIL").insert(&c).await;
    set_quiet_hours(&c, user, Some("Europe/Warsaw"), NIGHT).await;
    let content = DeliveryContent::Email(EmailContent {
        subject: "Torium reminder".into(),
        html: "<h1>x</h1>".into(),
        text: "x".into(),
    });
    let night = s.delivery(UserId(user), &address, "2026-01-10T23:00:00Z", Limits::default(), content).await;
    s.deliver(&email, "2026-01-10T23:00:00Z", std::slice::from_ref(&night)).await;
    assert_eq!(s.row(&night).await.status, "sent");
    assert_eq!(emails_to(&address).len(), 1);
}

#[tokio::test]
async fn quiet_hours_release_once_by_the_minute_run_with_the_same_text() {
    let s = scene().await;
    let (user, phone) = s.member(Some("Europe/Warsaw"), NIGHT).await;
    let night = s.sms(user, &phone, "2026-01-10T22:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-10T22:30:00Z", std::slice::from_ref(&night)).await;

    // Before the window's end nothing is released.
    assert_eq!(s.release("2026-01-11T05:59:00Z").await, 0);
    assert!(drain_queue(s.sqs.client(), &s.release.channels.sms).await.is_empty());
    // At its end the held body goes back to the SMS queue, once.
    assert_eq!(s.release("2026-01-11T06:00:00Z").await, 1);
    assert_eq!(s.release("2026-01-11T06:01:00Z").await, 0, "a second run finds nothing");
    let row = s.row(&night).await;
    assert_eq!((row.status.as_str(), row.released_at), ("pending", Some(at("2026-01-11T06:00:00Z"))));
    let released = drain_queue(s.sqs.client(), &s.release.channels.sms).await;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].body, night.body, "the same body, so the same text");
    assert_eq!(released[0].group_id, night.group_id, "the fan-out's message group");
    assert_eq!(released[0].deduplication_id, format!("{}-released", night.deduplication_id));

    // The released message delivered twice (a redelivery): one SMS, never held again.
    s.deliver(&s.sms, "2026-01-11T06:00:30Z", &released).await;
    s.deliver(&s.sms, "2026-01-11T06:05:00Z", &released).await;
    assert_eq!(s.row(&night).await.status, "sent");
    assert_eq!(texts_to(&phone), [TEXT], "exactly one SMS, with the text it was held with");
    // The original message redelivered late changes nothing either.
    s.deliver(&s.sms, "2026-01-11T06:10:00Z", std::slice::from_ref(&night)).await;
    assert_eq!(texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn quiet_hours_release_stays_put_when_the_queue_refuses() {
    let s = scene().await;
    let (user, phone) = s.member(Some("Europe/Warsaw"), NIGHT).await;
    let night = s.sms(user, &phone, "2026-01-10T22:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-10T22:30:00Z", std::slice::from_ref(&night)).await;
    let mut broken = s.release.clone();
    broken.channels.sms = format!("{}-gone", s.release.channels.sms);
    let refused =
        release_deferred(&s.db.store, &s.sqs, &broken, &fixtures::deadline(), at("2026-01-11T06:00:00Z")).await;
    assert!(refused.is_err(), "the run reports the failure");
    assert_eq!(s.row(&night).await.status, "deferred", "rolled back: released by the next run");
    assert_eq!(s.release("2026-01-11T06:01:00Z").await, 1);
}

#[tokio::test]
async fn stale_reminders_are_skipped_at_send_time() {
    let s = scene().await;
    let (user, phone) = s.member(None, None).await;
    // A once reminder handled after its event started (a DLQ redrive the next day).
    let starts = Limits { event_starts_at: Some(at("2026-12-24T17:00:00Z")), late_after: None };
    let redriven = s.sms(user, &phone, "2026-12-23T17:00:00Z", starts).await;
    s.deliver(&s.sms, "2026-12-25T09:00:00Z", std::slice::from_ref(&redriven)).await;
    let row = s.row(&redriven).await;
    assert_eq!(row.status, "skipped");
    assert_eq!(row.last_error.as_deref(), Some("the event already started"));
    // Redelivered again: still skipped, never sent.
    s.deliver(&s.sms, "2026-12-25T09:05:00Z", std::slice::from_ref(&redriven)).await;
    assert_eq!(s.row(&redriven).await.status, "skipped");

    // A periodical firing past its lateness bound.
    let bound = Limits { event_starts_at: None, late_after: Some(at("2026-12-02T10:00:00Z")) };
    let late = s.sms(user, &phone, "2026-12-02T09:00:00Z", bound).await;
    s.deliver(&s.sms, "2026-12-02T10:00:01Z", std::slice::from_ref(&late)).await;
    let row = s.row(&late).await;
    assert_eq!(row.status, "skipped");
    assert_eq!(row.last_error.as_deref(), Some("later than the lateness bound after its trigger time"));
    // Within the bound: sent.
    let on_time = s
        .sms(user, &phone, "2026-12-03T09:00:00Z", Limits { late_after: Some(at("2026-12-03T10:00:00Z")), ..bound })
        .await;
    s.deliver(&s.sms, "2026-12-03T10:00:00Z", std::slice::from_ref(&on_time)).await;
    assert_eq!(s.row(&on_time).await.status, "sent");
    assert_eq!(texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn stale_checks_after_a_quiet_hours_release() {
    let s = scene().await;
    let (user, phone) = s.member(Some("Europe/Warsaw"), NIGHT).await;
    // A periodical firing at 23:00 CET with a one-hour bound, held until
    // 07:00: the bound no longer applies once it is released.
    let bound = Limits { event_starts_at: None, late_after: Some(at("2026-01-10T23:00:00Z")) };
    let periodical = s.sms(user, &phone, "2026-01-10T22:00:00Z", bound).await;
    // A once reminder of an event at 06:30 CET, held until 07:00: stale on release.
    let starts = Limits { event_starts_at: Some(at("2026-01-11T05:30:00Z")), late_after: None };
    let once = s.sms(user, &phone, "2026-01-10T22:00:01Z", starts).await;
    s.deliver(&s.sms, "2026-01-10T22:00:00Z", &[periodical.clone(), once.clone()]).await;
    assert_eq!(s.row(&periodical).await.status, "deferred");
    assert_eq!(s.row(&once).await.status, "deferred");

    assert_eq!(s.release("2026-01-11T06:00:00Z").await, 2);
    let released = drain_queue(s.sqs.client(), &s.release.channels.sms).await;
    s.deliver(&s.sms, "2026-01-11T06:00:10Z", &released).await;
    assert_eq!(s.row(&periodical).await.status, "sent", "released from quiet hours: the bound does not apply");
    let once_row = s.row(&once).await;
    assert_eq!(once_row.status, "skipped", "released after the event started");
    assert_eq!(once_row.last_error.as_deref(), Some("the event already started"));
    assert_eq!(texts_to(&phone), [TEXT]);
}

/// The release sends a held body and then commits; if its copy reaches the
/// sender before the commit (or the release crashed after sending, so its
/// next run's copy is dropped as a duplicate by SQS), the sender finds the
/// row still `deferred` but due, and sends it then: held, never dropped.
#[tokio::test]
async fn a_released_copy_that_arrives_before_the_release_commits_is_sent_once() {
    let s = scene().await;
    let (user, phone) = s.member(Some("Europe/Warsaw"), NIGHT).await;
    let night = s.sms(user, &phone, "2026-01-10T22:30:00Z", Limits::default()).await;
    s.deliver(&s.sms, "2026-01-10T22:30:00Z", std::slice::from_ref(&night)).await;
    assert_eq!(s.row(&night).await.status, "deferred");

    // 07:00:05 CET: the release's copy, handled while the row is still deferred.
    let copy = message(&Delivery::parse(&night.body).unwrap(), &format!("{}-released", night.deduplication_id));
    s.deliver(&s.sms, "2026-01-11T06:00:05Z", std::slice::from_ref(&copy)).await;
    assert_eq!(s.row(&night).await.status, "sent");
    assert_eq!(texts_to(&phone), [TEXT], "sent at the end of the window");

    // The release run (or its retry) finds nothing left to hold; a copy
    // delivered again is acknowledged: one SMS in all.
    s.release("2026-01-11T06:01:00Z").await;
    for m in drain_queue(s.sqs.client(), &s.release.channels.sms).await {
        s.deliver(&s.sms, "2026-01-11T06:01:10Z", &[m]).await;
    }
    s.deliver(&s.sms, "2026-01-11T06:02:00Z", std::slice::from_ref(&copy)).await;
    assert_eq!(s.row(&night).await.status, "sent");
    assert_eq!(texts_to(&phone), [TEXT]);
}
