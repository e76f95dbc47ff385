//! schedule-events and schedule-notifications on real PostgreSQL and moto's
//! SQS: what lands in the queues, read back from moto.

use crate::fixtures::{self, at, queues};
use chrono::{DateTime, TimeDelta, Utc};
use schedule_events::{RunSummary, run_scheduler};
use schedule_notifications::handle_batch;
use torium_aws::{AwsError, MessageQueue, OutgoingMessage, SqsQueue};
use torium_domain::{Channel, DeliveryContent, EventId, Firing, ReminderDue, ReminderRequest, ReminderSource};
use torium_tests::TestDatabase;
use torium_tests::moto::{self, ReceivedMessage, sqs_event};

async fn next_reminder_at(db: &TestDatabase, event: i64) -> Option<DateTime<Utc>> {
    db.client().await.query_one("SELECT next_reminder_at FROM events WHERE id = $1", &[&event]).await.unwrap().get(0)
}

const ARN: &str = "arn:aws:sns:eu-central-1:123456789012:endpoint/GCM/torium/0b6f";

#[tokio::test]
async fn every_kind_fires_at_its_minute_and_fans_out_to_each_member_by_channel() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Climbing").await;
    let created = at("2026-11-24T09:00:00Z");
    // Weekly on Tuesdays 18:00 Warsaw (17:00Z in winter), first on 3 Nov.
    let weekly = fixtures::EventSpec::periodical(at("2026-11-03T17:00:00Z"), "7 days")
        .created(created)
        .insert(&c, group, "Wall session")
        .await;
    // Once, a day before 25 Nov 19:00 Warsaw.
    let once = fixtures::EventSpec::once(at("2026-11-25T18:00:00Z"), "1 day")
        .created(created)
        .insert(&c, group, "Gear swap")
        .await;
    let sms =
        fixtures::Person::new("sms@example.com").phone("+48500100200").prefers("SMS").bank("PKO").insert(&c).await;
    let push = fixtures::Person::new("push@example.com").prefers("PUSH").device(ARN).insert(&c).await;
    let email = fixtures::Person::new("email@example.com").prefers("EMAIL").bank("ING").insert(&c).await;
    let no_device = fixtures::Person::new("nodevice@example.com").prefers("PUSH").insert(&c).await;
    let unreachable = fixtures::Person::new("not-an-address").phone("123").prefers("SMS").insert(&c).await;
    for user in [sms, push, email, no_device, unreachable] {
        fixtures::attendee(&c, weekly, user).await;
    }
    fixtures::attendee(&c, once, email).await;

    // 10:00: nothing due yet; both events learn when they fire.
    let run = q.run(&db, "2026-11-24T10:00:00Z").await;
    assert_eq!((run.claimed, run.enqueued, run.skipped), (2, 0, 0));
    assert_eq!(next_reminder_at(&db, weekly).await, Some(at("2026-11-24T17:00:00Z")));
    assert_eq!(next_reminder_at(&db, once).await, Some(at("2026-11-24T18:00:00Z")));
    assert_eq!(q.run(&db, "2026-11-24T16:59:00Z").await, RunSummary::default());
    assert!(q.take_due().await.0.is_empty());

    // 17:00: the weekly event fires once and moves on a week.
    assert_eq!(q.run(&db, "2026-11-24T17:00:00Z").await.enqueued, 1);
    assert_eq!(q.run(&db, "2026-11-24T17:01:00Z").await.enqueued, 0);
    assert_eq!(next_reminder_at(&db, weekly).await, Some(at("2026-12-01T17:00:00Z")));
    // 18:00: the once event fires and is done.
    assert_eq!(q.run(&db, "2026-11-24T18:00:00Z").await.enqueued, 1);
    assert_eq!(next_reminder_at(&db, once).await, None);

    let (due, messages) = q.take_due().await;
    assert_eq!(due, [(weekly, at("2026-11-24T17:00:00Z")), (once, at("2026-11-24T18:00:00Z"))]);

    let response = q.fan_out_batch(&db, &messages).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let sends = q.take_sends().await;
    let routes: Vec<(i64, i64, Channel, &str)> =
        sends.iter().map(|d| (d.event_id.0, d.user_id.0, d.channel(), d.receiver.as_str())).collect();
    assert_eq!(
        routes,
        [
            (weekly, sms, Channel::Sms, "+48500100200"),
            (weekly, push, Channel::Push, ARN),
            (weekly, email, Channel::Email, "email@example.com"),
            (weekly, no_device, Channel::Email, "nodevice@example.com"),
            (once, email, Channel::Email, "email@example.com"),
        ]
    );

    // The member's own bank and share (90 PLN between 5 members).
    let DeliveryContent::Sms { text } = &sends[0].content else { panic!("an SMS") };
    assert_eq!(
        text,
        "Torium reminder!\nWall session\nSee you there\n24 Nov 2026, 18:00:00\nBudget: 90.00 PLN\n\
         Your share: 18.00 PLN, pay at https://www.pkobp.pl/"
    );
    let DeliveryContent::Push { message } = &sends[1].content else { panic!("a push") };
    let gcm: serde_json::Value = serde_json::from_str(
        serde_json::from_str::<serde_json::Value>(message).unwrap()["GCM"].as_str().expect("GCM is a JSON string"),
    )
    .unwrap();
    assert_eq!(gcm["fcmV1Message"]["message"]["data"]["forward_link"], "None", "no bank, no link");
    let DeliveryContent::Email(torium_domain::EmailContent { subject, html, .. }) = &sends[2].content else {
        panic!("an email")
    };
    assert_eq!(subject, "Torium reminder");
    assert!(html.contains("pay at https://www.ing.pl/"), "{html}");

    // The member without any usable channel is logged as skipped.
    let skipped: Vec<(i64, String)> = c
        .query(
            "SELECT l.user_id, l.status::text FROM event_reminders_logs l JOIN event_reminders r ON r.id = l.event_reminders_id \
             WHERE r.event_id = $1",
            &[&weekly],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(skipped, [(unreachable, "skipped".to_owned())]);
}

#[tokio::test]
async fn the_same_minute_twice_and_overlapping_runs_enqueue_each_firing_once() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let mut events = Vec::new();
    for i in 0..30 {
        let event_at = at("2026-11-25T12:00:00Z") + TimeDelta::minutes(i);
        events.push(
            fixtures::EventSpec::once(event_at, "1 day")
                .created(at("2026-11-20T00:00:00Z"))
                .insert(&c, group, "E")
                .await,
        );
    }
    let now = "2026-11-24T12:30:00Z";
    let (a, b) = tokio::join!(q.run(&db, now), q.run(&db, now));
    assert_eq!(a.claimed + b.claimed, 30, "every event claimed by exactly one run: {a:?} {b:?}");
    assert_eq!(a.enqueued + b.enqueued, 30);
    assert_eq!(q.run(&db, now).await, RunSummary::default(), "the same minute again finds nothing");
    let (due, _) = q.take_due().await;
    assert_eq!(due.len(), 30);
    let distinct: std::collections::BTreeSet<_> = due.iter().collect();
    assert_eq!(distinct.len(), 30, "no firing twice");
    let runs: i64 = c.query_one("SELECT count(*) FROM scheduler_runs", &[]).await.unwrap().get(0);
    assert_eq!(runs, 3, "every run is recorded for the liveness check");
}

/// Sends for real, then fails as if the process died before committing.
struct CrashAfterSend<'a>(&'a SqsQueue);

impl MessageQueue for CrashAfterSend<'_> {
    async fn send_all(&self, queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        self.0.send_all(queue_url, messages).await?;
        Err(AwsError::transient("test", "injected crash"))
    }
}

#[tokio::test]
async fn a_crash_between_enqueue_and_commit_still_fires_once() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::EventSpec::periodical(at("2026-11-01T08:00:00Z"), "1 day")
        .created(at("2026-11-20T00:00:00Z"))
        .insert(&c, group, "E")
        .await;
    let now = at("2026-11-24T08:00:00Z");
    assert!(next_reminder_at(&db, event).await.is_some());

    let crashed = run_scheduler(&db.store, &CrashAfterSend(&q.sqs), &q.scheduler, &fixtures::deadline(), now).await;
    assert!(crashed.is_err(), "the injected crash is reported");
    assert_eq!(next_reminder_at(&db, event).await, Some(at("2026-11-20T00:00:00Z")), "nothing was committed");

    let summary = run_scheduler(&db.store, &q.sqs, &q.scheduler, &fixtures::deadline(), now).await.unwrap();
    assert_eq!(summary.enqueued, 1);
    assert_eq!(next_reminder_at(&db, event).await, Some(at("2026-11-25T08:00:00Z")));
    let (due, _) = q.take_due().await;
    assert_eq!(due, [(event, now)], "the firing sent before the crash and after it is delivered once");
}

#[tokio::test]
async fn after_60_missed_minutes_each_firing_fires_once_and_older_ones_are_skipped() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let now = at("2026-11-24T12:00:00Z");
    let mut expected = Vec::new();
    for minute in 0..60 {
        let fires_at = now - TimeDelta::minutes(minute);
        let id = fixtures::EventSpec::once(fires_at + TimeDelta::days(1), "1 day")
            .created(at("2026-11-20T00:00:00Z"))
            .insert(&c, group, "E")
            .await;
        expected.push((id, fires_at));
    }
    let too_late = fixtures::EventSpec::once(now - TimeDelta::minutes(61) + TimeDelta::days(1), "1 day")
        .created(at("2026-11-20T00:00:00Z"))
        .insert(&c, group, "Too late")
        .await;
    // The scheduler knew every event's next firing before going down.
    q.run(&db, "2026-11-20T00:01:00Z").await;

    let summary = q.run(&db, "2026-11-24T12:00:00Z").await;
    assert_eq!((summary.claimed, summary.enqueued, summary.skipped), (61, 60, 1));
    let (due, _) = q.take_due().await;
    expected.sort();
    assert_eq!(due, expected);
    let skipped: Vec<(i64, String)> = c
        .query("SELECT event_id, outcome::text FROM event_reminders", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(skipped, [(too_late, "skipped".to_owned())]);
    assert_eq!(q.run(&db, "2026-11-24T12:01:00Z").await, RunSummary::default());
}

#[tokio::test]
async fn a_changed_event_is_rescheduled_from_the_change_on() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::EventSpec::once(at("2026-12-10T10:00:00Z"), "1 day")
        .created(at("2026-11-20T00:00:00Z"))
        .insert(&c, group, "E")
        .await;
    q.run(&db, "2026-11-20T00:01:00Z").await;
    assert_eq!(next_reminder_at(&db, event).await, Some(at("2026-12-09T10:00:00Z")));

    // The API moves the event; the trigger makes it due for rescheduling.
    c.execute("UPDATE events SET event_timestamp = $2 WHERE id = $1", &[&event, &at("2026-12-20T10:00:00Z")])
        .await
        .unwrap();
    let (changed_at, next): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = {
        let r = c
            .query_one("SELECT schedule_changed_at, next_reminder_at FROM events WHERE id = $1", &[&event])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(changed_at.is_some() && next == changed_at);
    c.execute(
        "UPDATE events SET schedule_changed_at = $2, next_reminder_at = $2 WHERE id = $1",
        &[&event, &at("2026-11-21T00:00:00Z")],
    )
    .await
    .unwrap();
    assert_eq!(q.run(&db, "2026-11-21T00:01:00Z").await.enqueued, 0);
    assert_eq!(next_reminder_at(&db, event).await, Some(at("2026-12-19T10:00:00Z")));
}

fn due_body(event: i64, trigger: &str) -> ReceivedMessage {
    let due = ReminderDue { event_id: EventId(event), trigger_at: at(trigger) };
    ReceivedMessage {
        message_id: format!("m-{event}-{trigger}"),
        body: due.to_body(),
        group_id: due.group_id(),
        deduplication_id: due.deduplication_id(),
        sent_timestamp: String::new(),
    }
}

/// The HTTP API's "notify now" for `event` (whose own time is
/// `event_timestamp`), as SQS hands it over: one message group for all of
/// the API's messages, sent at `sent_at`.
fn notify_now_body(event: i64, event_timestamp: &str, sent_at: &str) -> ReceivedMessage {
    ReceivedMessage {
        message_id: format!("notify-{event}-{sent_at}"),
        body: format!(
            r#"{{"event_id": {{"DataType": "String", "StringValue": "{event}"}},
                "event_timestamp": {{"DataType": "String", "StringValue": "{event_timestamp}"}}}}"#
        ),
        group_id: "CreateScheduleNotificationsEvent".into(),
        deduplication_id: format!("content-sha-{event}"),
        sent_timestamp: at(sent_at).timestamp_millis().to_string(),
    }
}

#[tokio::test]
async fn a_redelivered_message_fans_out_once() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::christmas_event(&c, group, "E").await;
    for i in 0..3 {
        let user = fixtures::Person::new(format!("u{i}@example.com")).insert(&c).await;
        fixtures::attendee(&c, event, user).await;
    }
    let typed = due_body(event, "2026-12-23T17:00:00Z");
    for batch in [vec![typed.clone()], vec![typed.clone()]] {
        let response = q.fan_out_batch(&db, &batch).await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(q.take_sends().await.len(), 3, "one send per member whatever the redeliveries");
    let firings: i64 = c.query_one("SELECT count(*) FROM event_reminders", &[]).await.unwrap().get(0);
    assert_eq!(firings, 1);
}

#[tokio::test]
async fn notify_now_reminds_everyone_now_once_and_apart_from_the_scheduled_reminder() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::christmas_event(&c, group, "Christmas dinner").await;
    for i in 0..3 {
        let user = fixtures::Person::new(format!("now{i}@example.com")).insert(&c).await;
        fixtures::attendee(&c, event, user).await;
    }
    // The scheduled reminder, then the API's "notify now" (its
    // event_timestamp is the event's own time, as Python's str() writes
    // it), redelivered once, then a second "notify now" a day later.
    let scheduled = due_body(event, "2026-12-23T17:00:00Z");
    let notify = notify_now_body(event, "2026-12-24 17:00:00", "2026-12-20T09:30:15.250Z");
    let later = notify_now_body(event, "2026-12-24 17:00:00.000000", "2026-12-21T10:00:00Z");
    for batch in [vec![scheduled], vec![notify.clone()], vec![notify], vec![later]] {
        let response = q.fan_out_batch(&db, &batch).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let sends = q.take_sends().await;
    assert_eq!(sends.len(), 9, "three firings, each reaching each of the three members once");
    let DeliveryContent::Email(torium_domain::EmailContent { text, .. }) = &sends[3].content else {
        panic!("an email")
    };
    assert!(text.contains("24 Dec 2026, 18:00:00"), "the notify-now shows the event's own time: {text}");

    let firings: Vec<(String, DateTime<Utc>)> = c
        .query(
            "SELECT source::text, trigger_timestamp FROM event_reminders WHERE event_id = $1 ORDER BY trigger_timestamp",
            &[&event],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        firings,
        [
            ("notify_now".to_owned(), at("2026-12-20T09:30:15.250Z")),
            ("notify_now".to_owned(), at("2026-12-21T10:00:00Z")),
            ("scheduled".to_owned(), at("2026-12-23T17:00:00Z")),
        ],
        "a notify-now is recorded at when it was sent, which the API's once-in-24-hours rule reads"
    );
    let logs: i64 = c
        .query_one(
            "SELECT count(*) FROM event_reminders_logs l JOIN event_reminders r ON r.id = l.event_reminders_id \
             WHERE r.event_id = $1",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logs, 0, "the fan-out writes no log rows for reachable members; the senders do");
}

#[tokio::test]
async fn a_bad_message_is_set_aside_and_the_rest_of_the_batch_fans_out() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let mut events = Vec::new();
    for _ in 0..3 {
        let event = fixtures::christmas_event(&c, group, "E").await;
        let user = fixtures::user(&c, &format!("u{event}@example.com")).await;
        fixtures::attendee(&c, event, user).await;
        events.push(event);
    }
    let malformed = ReceivedMessage {
        body: r#"{"event_id": "#.into(),
        message_id: "bad".into(),
        ..due_body(events[1], "2026-12-23T17:00:00Z")
    };
    let batch = [due_body(events[0], "2026-12-23T17:00:00Z"), malformed, due_body(events[2], "2026-12-23T17:00:00Z")];
    let consumer = fixtures::consumer().await;
    let response =
        handle_batch(&db.store, &q.sqs, &q.fan_out, &consumer, &fixtures::deadline(), &sqs_event(&batch)).await;
    assert!(response.batch_item_failures.is_empty());
    let sends = q.take_sends().await;
    assert_eq!(sends.iter().map(|d| d.event_id.0).collect::<Vec<_>>(), [events[0], events[2]]);
    let set_aside = moto::drain_dead_letters(q.sqs.client(), consumer.dead_letters.queue_url()).await;
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0].1["original_message_id"], "bad");
    assert!(set_aside[0].1["reason"].starts_with("malformed reminder message"), "{:?}", set_aside[0].1);
}

#[tokio::test]
async fn a_deleted_or_empty_event_is_acknowledged_without_sends() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let empty = fixtures::christmas_event(&c, group, "E").await;
    let batch = [due_body(empty, "2026-12-23T17:00:00Z"), due_body(empty + 1000, "2026-12-23T17:00:00Z")];
    let response = q.fan_out_batch(&db, &batch).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(q.take_sends().await.is_empty());
}

#[test]
fn the_sample_events_are_what_the_handlers_read() {
    use torium_runtime::aws_lambda_events::event::{eventbridge::EventBridgeEvent, sqs::SqsEvent};
    let scheduled: EventBridgeEvent = serde_json::from_str(include_str!("../../events/schedule-events.json")).unwrap();
    assert_eq!(scheduled.time, Some(at("2026-12-23T17:00:00Z")));
    let batch: SqsEvent = serde_json::from_str(include_str!("../../events/schedule-notifications.json")).unwrap();
    let due = ReminderDue::parse(batch.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(due, ReminderDue { event_id: EventId(1), trigger_at: at("2026-12-23T17:00:00Z") });
    let notify_now = ReminderRequest::parse(batch.records[1].body.as_deref().unwrap()).unwrap();
    let sent_at = torium_runtime::sent_at(&batch.records[1]).expect("SentTimestamp");
    assert_eq!(
        notify_now.firing(sent_at),
        Firing {
            event_id: EventId(1),
            trigger_at: at("2026-12-20T09:30:00Z"),
            source: ReminderSource::NotifyNow,
            occurrence_at: Some(at("2026-12-24T17:00:00Z")),
        }
    );
}

// Zones and periods (issue 17): what the database refuses, what the
// scheduler does with what it cannot read anyway, and catch-up.

async fn insert_event(
    c: &tokio_postgres::Client,
    group: i64,
    kind: &str,
    period: &str,
    zone: &str,
) -> Result<u64, tokio_postgres::Error> {
    c.execute(
        "INSERT INTO events (is_budget, group_id, name, event_timestamp, reminder, schedule_period, \"timestamp\", time_zone) \
         VALUES (false, $1, 'E', now(), $2::text::reminder_type, $3::text::interval, now(), $4)",
        &[&group, &kind, &period, &zone],
    )
    .await
}

fn check_violation(error: &tokio_postgres::Error) -> String {
    let db = error.as_db_error().expect("a database error");
    assert_eq!(db.code(), &tokio_postgres::error::SqlState::CHECK_VIOLATION, "{db}");
    format!("{} / {}", db.message(), db.hint().unwrap_or(""))
}

#[tokio::test]
async fn zones_the_scheduler_cannot_read_are_refused_naming_the_value_and_its_own_are_accepted() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    // PostgreSQL's AT TIME ZONE reads all of these; chrono-tz none.
    for zone in ["europe/warsaw", "UTC+2", "Mars/Olympus", "CEST", ""] {
        let error = insert_event(&c, group, "once", "1 day", zone).await.unwrap_err();
        let message = check_violation(&error);
        assert!(message.contains(&format!("unknown time zone '{zone}'")), "{message}");
    }
    for zone in ["Europe/Warsaw", "America/St_Johns", "UTC", "CET"] {
        insert_event(&c, group, "once", "1 day", zone).await.unwrap_or_else(|e| panic!("{zone}: {e}"));
    }
    let event = fixtures::christmas_event(&c, group, "E").await;
    let error = c.execute("UPDATE events SET time_zone = 'europe/warsaw' WHERE id = $1", &[&event]).await.unwrap_err();
    assert!(check_violation(&error).contains(&format!("for event {event}")));

    // The member's own zone: NULL (the event's) or a zone the scheduler reads.
    let user = fixtures::user(&c, "u@example.com").await;
    let set_zone = |zone: Option<&'static str>| {
        let c = &c;
        async move { c.execute("UPDATE users SET time_zone = $2 WHERE id = $1", &[&user, &zone]).await }
    };
    set_zone(Some("America/St_Johns")).await.unwrap();
    set_zone(None).await.unwrap();
    let error = set_zone(Some("UTC+2")).await.unwrap_err();
    assert!(check_violation(&error).contains(&format!("unknown time zone 'UTC+2' for user {user}")));
}

#[tokio::test]
async fn a_periodical_period_under_an_hour_is_refused_and_the_contracts_periods_are_accepted() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    for period in ["1 second", "59 minutes 59 seconds", "0"] {
        let error = insert_event(&c, group, "periodical", period, "Europe/Warsaw").await.unwrap_err();
        assert!(check_violation(&error).contains("is under one hour"), "{period}");
    }
    for period in ["1 hour", "1 day", "1 week", "7 days", "1 month"] {
        insert_event(&c, group, "periodical", period, "Europe/Warsaw")
            .await
            .unwrap_or_else(|e| panic!("{period}: {e}"));
    }
    // A `once` reminder's period is its lead time: any, as before.
    insert_event(&c, group, "once", "1 second", "Europe/Warsaw").await.unwrap();
    insert_event(&c, group, "once", "0", "Europe/Warsaw").await.unwrap();
    // Turning a once reminder into a periodical one is a new period.
    let event = fixtures::EventSpec::once(at("2026-12-24T17:00:00Z"), "10 minutes")
        .created(at("2026-11-20T00:00:00Z"))
        .insert(&c, group, "E")
        .await;
    let error = c.execute("UPDATE events SET reminder = 'periodical' WHERE id = $1", &[&event]).await.unwrap_err();
    check_violation(&error);
}

#[tokio::test]
async fn after_an_outage_one_run_sends_only_the_latest_firing_and_records_the_older_as_skipped() {
    let db = TestDatabase::migrated().await;
    let mut q = queues().await;
    // A long bound: 09:00 and 10:00 are still recent enough at 11:30.
    q.scheduler.max_lateness = TimeDelta::hours(3);
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let hourly = fixtures::EventSpec::periodical(at("2026-11-24T06:00:00Z"), "1 hour")
        .created(at("2026-11-24T08:30:00Z"))
        .insert(&c, group, "Hourly")
        .await;
    let daily = fixtures::EventSpec::periodical(at("2026-11-01T11:00:00Z"), "1 day")
        .created(at("2026-11-24T08:30:00Z"))
        .insert(&c, group, "Daily")
        .await;
    assert_eq!(q.run(&db, "2026-11-24T08:31:00Z").await.enqueued, 0);
    assert_eq!(next_reminder_at(&db, hourly).await, Some(at("2026-11-24T09:00:00Z")));

    // Down from 08:31 to 11:30.
    let summary = q.run(&db, "2026-11-24T11:30:00Z").await;
    assert_eq!((summary.claimed, summary.enqueued, summary.skipped), (2, 2, 2));
    let (due, messages) = q.take_due().await;
    let mut expected = vec![(hourly, at("2026-11-24T11:00:00Z")), (daily, at("2026-11-24T11:00:00Z"))];
    expected.sort();
    assert_eq!(due, expected, "one firing per event: the latest");
    let recorded: Vec<(i64, DateTime<Utc>, String)> = c
        .query("SELECT event_id, trigger_timestamp, outcome::text FROM event_reminders ORDER BY 1, 2", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        recorded,
        [
            (hourly, at("2026-11-24T09:00:00Z"), "skipped".to_owned()),
            (hourly, at("2026-11-24T10:00:00Z"), "skipped".to_owned()),
        ]
    );
    assert_eq!(next_reminder_at(&db, hourly).await, Some(at("2026-11-24T12:00:00Z")));

    // The fan-out records the fired one; a second run sends nothing more.
    let consumer = fixtures::consumer().await;
    let response =
        handle_batch(&db.store, &q.sqs, &q.fan_out, &consumer, &fixtures::deadline(), &sqs_event(&messages)).await;
    assert!(response.batch_item_failures.is_empty());
    let fired: i64 = c
        .query_one("SELECT count(*) FROM event_reminders WHERE outcome = 'fired' AND event_id = $1", &[&hourly])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fired, 1);
    assert_eq!(q.run(&db, "2026-11-24T11:31:00Z").await.enqueued, 0);
}

#[tokio::test]
async fn an_unreadable_zone_is_recorded_visible_left_out_of_the_claim_and_fires_again_once_fixed() {
    let db = TestDatabase::migrated().await;
    let q = queues().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    // Daily at 11:00 Warsaw (10:00Z in November).
    let event = fixtures::EventSpec::periodical(at("2026-11-01T10:00:00Z"), "1 day")
        .created(at("2026-11-20T00:00:00Z"))
        .insert(&c, group, "E")
        .await;
    // A zone the database would refuse now, as an earlier check let through.
    c.batch_execute("ALTER TABLE events DISABLE TRIGGER events_check_schedule").await.unwrap();
    c.execute("UPDATE events SET time_zone = 'europe/warsaw' WHERE id = $1", &[&event]).await.unwrap();
    c.batch_execute("ALTER TABLE events ENABLE TRIGGER events_check_schedule").await.unwrap();
    let on_timeline = |when: &'static str| {
        let c = &c;
        async move {
            c.execute(
                "UPDATE events SET schedule_changed_at = $2, next_reminder_at = $2 WHERE id = $1",
                &[&event, &at(when)],
            )
            .await
            .unwrap();
        }
    };
    on_timeline("2026-11-20T00:00:00Z").await;

    let summary = q.run(&db, "2026-11-20T00:01:00Z").await;
    assert_eq!((summary.claimed, summary.enqueued), (1, 0));
    let row = c
        .query_one("SELECT next_reminder_at, schedule_error, schedule_error_at FROM events WHERE id = $1", &[&event])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<DateTime<Utc>>>(0), None);
    let error: String = row.get::<_, Option<String>>(1).expect("the error is recorded");
    assert!(error.contains("europe/warsaw"), "{error}");
    assert!(row.get::<_, Option<DateTime<Utc>>>(2).is_some());
    // Not claimed every minute, but visible to the alerts function.
    assert_eq!(q.run(&db, "2026-11-24T10:00:00Z").await.claimed, 0);
    let (sample, total) = db.store.unreadable_schedules(20).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!((sample[0].event_id, sample[0].time_zone.as_str()), (event, "europe/warsaw"));

    // Fixing the zone is a schedule change: the error clears, it fires again.
    c.execute("UPDATE events SET time_zone = 'Europe/Warsaw' WHERE id = $1", &[&event]).await.unwrap();
    let row = c
        .query_one("SELECT schedule_error, schedule_error_at, next_reminder_at FROM events WHERE id = $1", &[&event])
        .await
        .unwrap();
    assert_eq!((row.get::<_, Option<String>>(0), row.get::<_, Option<DateTime<Utc>>>(1)), (None, None));
    assert!(row.get::<_, Option<DateTime<Utc>>>(2).is_some(), "due again");
    assert_eq!(db.store.unreadable_schedules(20).await.unwrap().1, 0);
    on_timeline("2026-11-25T09:59:00Z").await;
    assert_eq!(q.run(&db, "2026-11-25T10:00:00Z").await.enqueued, 1);
    assert_eq!(q.take_due().await.0, [(event, at("2026-11-25T10:00:00Z"))]);
}
