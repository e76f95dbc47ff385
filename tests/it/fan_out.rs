//! A fan-out of any size: pages of members, progress recorded after each,
//! a retry resuming after the last finished page, a continuation when time
//! runs short. Faults are injected on the wire (the HTTP fault proxy between
//! the real SQS client and moto); what moto's queues hold is the evidence.

use crate::fixtures::{self, at};
use schedule_notifications::{FanOutConfig, fan_out};
use std::collections::BTreeMap;
use std::time::Duration;
use torium_aws::SqsQueue;
use torium_domain::{Delivery, EventId, ReminderDue, ReminderRequest};
use torium_runtime::{Clock, DEFAULT_MARGIN, Deadline};
use torium_tests::TestDatabase;
use torium_tests::faults::{Action, HttpFaultProxy, Rule, with_limits};
use torium_tests::moto::{self, create_api_fifo_queue, create_fifo_queue, drain_queue};

struct Scene {
    db: TestDatabase,
    event: i64,
    members: Vec<i64>,
    proxy: HttpFaultProxy,
    /// The SQS client through the proxy: one attempt per call, so a fault is
    /// the call's failure.
    queue: SqsQueue,
    config: FanOutConfig,
}

/// An event with `count` members reminded by email, and queues in moto.
async fn scene(count: usize, page_size: i64) -> Scene {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Big club").await;
    let event = fixtures::christmas_event(&c, group, "Assembly").await;
    let mut members = Vec::new();
    for i in 0..count {
        let member = fixtures::Person::unique(&format!("page{i}")).prefers("EMAIL").insert(&c).await;
        fixtures::attendee(&c, event, member).await;
        members.push(member);
    }
    let base = moto::sdk_config().await;
    let proxy = HttpFaultProxy::start(&torium_tests::required_env("AWS_ENDPOINT_URL"));
    let sdk = with_limits(&proxy.sdk_config(&base), Duration::from_secs(5), Duration::from_secs(10), 1);
    let queue = SqsQueue::new(&sdk);
    let direct = SqsQueue::new(&base);
    let mut config = FanOutConfig::with_queues(
        &create_fifo_queue(direct.client(), "send-sms").await,
        &create_fifo_queue(direct.client(), "send-email").await,
        &create_fifo_queue(direct.client(), "send-push").await,
        &create_api_fifo_queue(direct.client(), "schedule-notifications").await,
    );
    config.page_size = page_size;
    config.clock = Clock::fixed(torium_tests::story_now());
    config.page_budget = Duration::ZERO;
    Scene { db, event, members, proxy, queue, config }
}

impl Scene {
    /// How many messages each member has waiting on the email queue.
    async fn emails_per_member(&self) -> BTreeMap<i64, usize> {
        let mut per_member: BTreeMap<i64, usize> = self.members.iter().map(|m| (*m, 0)).collect();
        for m in drain_queue(self.queue.client(), &self.config.channels.email).await {
            *per_member.entry(Delivery::parse(&m.body).unwrap().user_id.0).or_default() += 1;
        }
        per_member
    }

    async fn progress(&self) -> (Option<i64>, bool) {
        let row = self
            .db
            .client()
            .await
            .query_one(
                "SELECT fanned_out_through, fanned_out_at IS NOT NULL FROM event_reminders WHERE event_id = $1",
                &[&self.event],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }
}

fn due(event: i64) -> ReminderDue {
    ReminderDue { event_id: EventId(event), trigger_at: at("2026-12-23T17:00:00Z") }
}

#[tokio::test]
async fn a_retry_resumes_after_the_last_finished_page() {
    let s = scene(25, 10).await;
    // Pages of ten: one SendMessageBatch each. The third call fails.
    s.proxy.add_rule(Rule::range("sqs:SendMessageBatch", 3, 100, Action::ServiceUnavailable));
    let deadline = fixtures::deadline();
    let failed = fan_out(&s.db.store, &s.queue, &s.config, &deadline, due(s.event).into()).await;
    assert!(failed.is_err(), "the third page's send failed");
    assert_eq!(s.progress().await, (Some(s.members[19]), false), "two pages recorded as done");

    // SQS redelivers the message: only the third page is sent.
    s.proxy.clear_rules();
    let before = s.proxy.calls("sqs:SendMessageBatch");
    let summary = fan_out(&s.db.store, &s.queue, &s.config, &deadline, due(s.event).into()).await.unwrap();
    assert_eq!(s.proxy.calls("sqs:SendMessageBatch") - before, 1, "one call for the last five members");
    assert_eq!(summary.pages, 1);
    assert_eq!(s.progress().await, (Some(s.members[24]), true));
    let per_member = s.emails_per_member().await;
    assert!(per_member.values().all(|&n| n == 1), "everyone exactly once: {per_member:?}");

    // A later redelivery of the finished firing sends nothing.
    let before = s.proxy.calls("sqs:SendMessageBatch");
    fan_out(&s.db.store, &s.queue, &s.config, &deadline, due(s.event).into()).await.unwrap();
    assert_eq!(s.proxy.calls("sqs:SendMessageBatch"), before);
}

#[tokio::test]
async fn when_time_runs_short_the_fan_out_continues_in_a_message_of_its_own() {
    let mut s = scene(30, 10).await;
    // The budget leaves room for about one page per invocation.
    let deadline = Deadline::after(Duration::from_secs(60), DEFAULT_MARGIN);
    s.config.page_budget = deadline.time_left() - Duration::from_millis(50);
    let first = fan_out(&s.db.store, &s.queue, &s.config, &deadline, due(s.event).into()).await.unwrap();
    assert!(first.continued);
    // Each continuation is handled as SQS would hand it over (bounded).
    let mut continuations = 0;
    for _ in 0..10 {
        let waiting = drain_queue(s.queue.client(), &s.config.continue_queue_url).await;
        let Some(message) = waiting.first() else { break };
        assert_eq!(waiting.len(), 1);
        assert_eq!(message.group_id, format!("event-{}", s.event));
        let Ok(ReminderRequest::Continue(firing)) = ReminderRequest::parse(&message.body) else {
            panic!("a continuation: {}", message.body)
        };
        continuations += 1;
        let deadline = Deadline::after(Duration::from_secs(60), DEFAULT_MARGIN);
        s.config.page_budget = deadline.time_left() - Duration::from_millis(50);
        fan_out(&s.db.store, &s.queue, &s.config, &deadline, firing).await.unwrap();
    }
    assert!(continuations >= 1, "the fan-out was continued");
    assert_eq!(s.progress().await, (Some(s.members[29]), true));
    let per_member = s.emails_per_member().await;
    assert!(per_member.values().all(|&n| n == 1), "everyone exactly once: {per_member:?}");
}
