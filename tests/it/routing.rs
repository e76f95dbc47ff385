//! Routing at fan-out on real PostgreSQL and moto: a member whose preferred
//! channel is unusable (opted-out number, suppressed address, no endpoint)
//! is reminded on the next usable one; with none left, and for a firing that
//! is already stale, the member's row is `skipped` with the reason. The
//! evidence is what moto's channel queues hold and what the log rows say.

use crate::fixtures::{self, Person, at};
use chrono::{DateTime, Utc};
use schedule_notifications::{FanOutConfig, fan_out};
use std::collections::BTreeMap;
use torium_aws::SqsQueue;
use torium_domain::{Channel, Delivery, EventId, Firing, NotifyNow, ReminderDue, ReminderRequest};
use torium_runtime::Clock;
use torium_store::PooledClient;
use torium_tests::TestDatabase;
use torium_tests::moto::{self, create_api_fifo_queue, create_fifo_queue, drain_queue};

const ENDPOINT: &str = "arn:aws:sns:eu-central-1:123456789012:endpoint/GCM/torium/routing";

struct Scene {
    db: TestDatabase,
    c: PooledClient,
    event: i64,
    queue: SqsQueue,
    config: FanOutConfig,
}

async fn scene() -> Scene {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Climbing").await;
    let event = fixtures::christmas_event(&c, group, "Christmas dinner").await;
    let queue = SqsQueue::new(&moto::sdk_config().await);
    let mut config = FanOutConfig::with_queues(
        &create_fifo_queue(queue.client(), "routing-sms").await,
        &create_fifo_queue(queue.client(), "routing-email").await,
        &create_fifo_queue(queue.client(), "routing-push").await,
        &create_api_fifo_queue(queue.client(), "routing-notifications").await,
    );
    config.clock = Clock::fixed(torium_tests::story_now());
    Scene { db, c, event, queue, config }
}

/// What the providers said of a member's addresses.
#[derive(Clone, Copy)]
struct Reported {
    opted_out: bool,
    suppressed: bool,
}

const NOTHING: Reported = Reported { opted_out: false, suppressed: false };
const OPTED_OUT: Reported = Reported { opted_out: true, suppressed: false };
const SUPPRESSED: Reported = Reported { opted_out: false, suppressed: true };
const BOTH: Reported = Reported { opted_out: true, suppressed: true };

fn person(preference: &str) -> Person {
    Person::unique("routing").prefers(preference)
}

impl Scene {
    /// A member of the event as the API writes them, then what the
    /// providers reported about their addresses (Torium's columns).
    async fn member(&self, person: Person, reported: Reported) -> i64 {
        let user = person.insert(&self.c).await;
        self.c
            .execute(
                "UPDATE users SET sms_opted_out = $2, \
                     email_suppressed_at = CASE WHEN $3 THEN now() END, \
                     email_suppression_reason = CASE WHEN $3 THEN 'Permanent bounce' END \
                 WHERE id = $1",
                &[&user, &reported.opted_out, &reported.suppressed],
            )
            .await
            .unwrap();
        fixtures::attendee(&self.c, self.event, user).await;
        user
    }

    async fn fan_out(&self, firing: Firing) {
        fan_out(&self.db.store, &self.queue, &self.config, &fixtures::deadline(), firing).await.expect("fan-out");
    }

    /// Each user's (channel, receiver) from what the channel queues hold.
    async fn routed(&self) -> BTreeMap<i64, (Channel, String)> {
        let mut routed = BTreeMap::new();
        for url in [&self.config.channels.sms, &self.config.channels.email, &self.config.channels.push] {
            for m in drain_queue(self.queue.client(), url).await {
                let d = Delivery::parse(&m.body).unwrap();
                assert!(routed.insert(d.user_id.0, (d.channel(), d.receiver)).is_none(), "one message per member");
            }
        }
        routed
    }

    /// Every log row of the event's firings: user → (status, reason).
    async fn log_rows(&self) -> BTreeMap<i64, (String, Option<String>)> {
        self.c
            .query(
                "SELECT l.user_id, l.status::text, l.last_error FROM event_reminders_logs l \
                 JOIN event_reminders r ON r.id = l.event_reminders_id WHERE r.event_id = $1",
                &[&self.event],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect()
    }
}

fn due(event: i64) -> Firing {
    ReminderDue { event_id: EventId(event), trigger_at: at("2026-12-23T17:00:00Z") }.into()
}

async fn opted_out(c: &PooledClient, user: i64) -> bool {
    c.query_one("SELECT sms_opted_out FROM users WHERE id = $1", &[&user]).await.unwrap().get(0)
}

async fn email_of(c: &PooledClient, user: i64) -> String {
    c.query_one("SELECT email FROM users WHERE id = $1", &[&user]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_member_whose_preferred_channel_is_unusable_is_reminded_on_the_next_usable_one() {
    let s = scene().await;
    let phone = moto::unique_phone();
    let opted_out_with_device = s.member(person("SMS").phone(&phone).device(ENDPOINT), OPTED_OUT).await;
    let opted_out = s.member(person("SMS").phone(moto::unique_phone()), OPTED_OUT).await;
    let bounced = s.member(person("EMAIL").phone(&phone), SUPPRESSED).await;
    let bounced_with_device = s.member(person("EMAIL").device(ENDPOINT), SUPPRESSED).await;
    let push_without_device = s.member(person("PUSH").phone(&phone), NOTHING).await;
    let nothing_left = s.member(person("SMS").phone(moto::unique_phone()), BOTH).await;

    s.fan_out(due(s.event)).await;

    let routed = s.routed().await;
    assert_eq!(routed[&opted_out_with_device], (Channel::Push, ENDPOINT.to_owned()), "opted out: push next");
    assert_eq!(routed[&opted_out], (Channel::Email, email_of(&s.c, opted_out).await), "opted out, no endpoint: email");
    assert_eq!(routed[&bounced], (Channel::Sms, phone.clone()), "a suppressed address: SMS next");
    assert_eq!(routed[&bounced_with_device], (Channel::Push, ENDPOINT.to_owned()), "no number: push");
    assert_eq!(routed[&push_without_device], (Channel::Sms, phone.clone()), "no endpoint: SMS before email");
    assert!(!routed.contains_key(&nothing_left));
    let rows = s.log_rows().await;
    assert_eq!(rows.len(), 1, "only the unreachable member has a row at fan-out: {rows:?}");
    assert_eq!(
        rows[&nothing_left],
        (
            "skipped".to_owned(),
            Some("no usable channel: sms opted out, push missing or invalid, email suppressed".to_owned())
        )
    );
}

#[tokio::test]
async fn a_new_mobile_number_clears_the_opt_out_and_the_same_one_keeps_it() {
    let s = scene().await;
    let user = s.member(person("SMS").phone(moto::unique_phone()), OPTED_OUT).await;
    // The API rewrites the profile with the same number: still opted out.
    let same: String = s.c.query_one("SELECT mobile_number FROM users WHERE id = $1", &[&user]).await.unwrap().get(0);
    s.c.execute("UPDATE users SET mobile_number = $2, username = 'ala' WHERE id = $1", &[&user, &same]).await.unwrap();
    assert!(opted_out(&s.c, user).await);
    let new_number = moto::unique_phone();
    s.c.execute("UPDATE users SET mobile_number = $2 WHERE id = $1", &[&user, &new_number]).await.unwrap();
    assert!(!opted_out(&s.c, user).await, "a new number is usable again");

    s.fan_out(due(s.event)).await;
    assert_eq!(s.routed().await[&user], (Channel::Sms, new_number));
}

/// A clock after the Christmas dinner started (2026-12-24 17:00 UTC).
fn after_the_dinner() -> DateTime<Utc> {
    at("2026-12-25T09:00:00Z")
}

#[tokio::test]
async fn a_once_reminder_of_an_event_that_started_sends_nothing_on_any_path() {
    let mut s = scene().await;
    let members =
        [s.member(person("EMAIL"), NOTHING).await, s.member(person("SMS").phone(moto::unique_phone()), NOTHING).await];
    s.config.clock = Clock::fixed(after_the_dinner());

    // A redelivered (or redriven) scheduled firing, the day after.
    s.fan_out(due(s.event)).await;
    // The API's "notify now" for the past event.
    let notify_now =
        ReminderRequest::NotifyNow(NotifyNow { event_id: EventId(s.event), event_at: at("2026-12-24T17:00:00Z") });
    s.fan_out(notify_now.firing(at("2026-12-25T08:59:00Z"))).await;

    assert!(s.routed().await.is_empty(), "nothing was enqueued");
    let rows: Vec<(i64, String, Option<String>)> =
        s.c.query(
            "SELECT l.user_id, l.status::text, l.last_error FROM event_reminders_logs l \
             JOIN event_reminders r ON r.id = l.event_reminders_id WHERE r.event_id = $1 ORDER BY r.source, l.user_id",
            &[&s.event],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let skipped = |user: i64| (user, "skipped".to_owned(), Some("the event already started".to_owned()));
    assert_eq!(rows, vec![skipped(members[0]), skipped(members[1]), skipped(members[0]), skipped(members[1])]);
}

#[tokio::test]
async fn a_periodical_firing_later_than_the_lateness_bound_sends_nothing() {
    let s = scene().await;
    let group: i64 = s.c.query_one("SELECT group_id FROM events WHERE id = $1", &[&s.event]).await.unwrap().get(0);
    let weekly = fixtures::ApiEvent::on(at("2026-12-02T18:00:00Z")).insert(&s.c, group, "Weekly climbing").await;
    let user = s.member(person("EMAIL"), NOTHING).await;
    fixtures::attendee(&s.c, weekly, user).await;
    let firing =
        |trigger: &str| -> Firing { ReminderDue { event_id: EventId(weekly), trigger_at: at(trigger) }.into() };

    // Handled at story_now (2026-12-23 17:00:30): a firing of 16:30 is fresh,
    // one of 15:00 is two hours late.
    s.fan_out(firing("2026-12-23T16:30:00Z")).await;
    s.fan_out(firing("2026-12-23T15:00:00Z")).await;
    let routed = s.routed().await;
    assert_eq!(routed.len(), 1);
    let late: (String, Option<String>) = {
        let r = s
            .c
            .query_one(
                "SELECT l.status::text, l.last_error FROM event_reminders_logs l JOIN event_reminders r ON r.id = l.event_reminders_id \
                 WHERE r.event_id = $1 AND r.trigger_timestamp = $2 AND l.user_id = $3",
                &[&weekly, &at("2026-12-23T15:00:00Z"), &user],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(late, ("skipped".to_owned(), Some("later than the lateness bound after its trigger time".to_owned())));
}
