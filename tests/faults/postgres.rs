//! PostgreSQL "restarted" under a running handler: every connection of its
//! pool is cut at once (the pool connects through a TCP fault proxy) and new
//! ones are refused for a few hundred milliseconds, at a moment the HTTP
//! proxy picks (the n-th call of an operation, slowed down a little so the
//! restart lands while work is in flight). Zero lost, zero duplicates.

use crate::kit::{self, Outcome, Scene, deliver_all, drive, failed_ids, restart_when, store_through_proxy, through};
use crate::stalls::finish_reminders;
use chrono::TimeDelta;
use schedule_events::SchedulerConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use torium_aws::{CallLimits, SqsQueue};
use torium_domain::Channel;
use torium_runtime::{Consumer, Deadline};
use torium_tests::faults::{Action, HttpFaultProxy, Rule, TcpFaultProxy};
use torium_tests::moto::sqs_event;
use torium_tests::required_env;

fn proxy() -> HttpFaultProxy {
    HttpFaultProxy::start(&required_env("AWS_ENDPOINT_URL"))
}

fn long_deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30), Duration::from_secs(2))
}

fn restart_phrase(cut: Option<usize>, postgres: &TcpFaultProxy, down: Duration, when: &str) -> String {
    match cut {
        Some(n) => format!(
            "restart at {when}: {n} connections cut, refused for {} ms ({} refused)",
            down.as_millis(),
            postgres.refused()
        ),
        None => format!("restart at {when}: never happened"),
    }
}

/// A batch of ten SMS, each Publish delayed 150 ms; the restart comes when
/// the 5th Publish is seen: outcomes are written to a database that is away.
pub async fn sender() -> Outcome {
    let mut scene = Scene::new().await;
    let people = scene.people(Channel::Sms, 10).await;
    let a = scene.event("A", &people).await;
    scene.fan_out(&[a]).await;
    let messages = scene.take(Channel::Sms).await;
    let expected = scene.expected(&messages);

    let proxy = proxy();
    let sender = kit::sms_sender(&through(&proxy, CallLimits::default()).await).await;
    proxy.add_rule(Rule::always("sns:Publish", Action::Delay(Duration::from_millis(150))));
    let (postgres, store) = store_through_proxy(&scene.db);
    let down = Duration::from_millis(400);
    let done = AtomicBool::new(false);
    let (redelivery, cut) = tokio::join!(
        async {
            let result = deliver_all(&store, &sender, &scene.consumer, long_deadline, messages).await;
            done.store(true, Ordering::SeqCst);
            result
        },
        restart_when(&proxy, "sns:Publish", 5, &postgres, down, &done),
    );

    let mut outcome = Outcome {
        faults: format!(
            "{} (Publish +150 ms); {} invocations",
            restart_phrase(cut, &postgres, down, "Publish #5"),
            redelivery.as_ref().map_or(0, |r| r.invocations)
        ),
        ..Default::default()
    };
    outcome.check(cut.is_some_and(|n| n > 0), || "the restart never cut a connection".to_owned());
    finish_reminders(&mut outcome, &scene, &expected, redelivery, true).await;
    outcome
}

/// Three firings (three events, three message groups) fanned out one group
/// at a time, SendMessageBatch delayed 200 ms; the restart comes with the
/// first SendMessageBatch, so the next firings meet a database that is away.
pub async fn fan_out() -> Outcome {
    let mut scene = Scene::new().await;
    let mut expected = Vec::new();
    let mut events = Vec::new();
    let shared = scene.person(Channel::Email).await;
    for label in ["A", "B", "C"] {
        let mut members = scene.people(Channel::Email, 2).await;
        members.extend(scene.people(Channel::Sms, 2).await);
        members.push(shared);
        let event = scene.event(label, &members).await;
        expected.extend(members.iter().map(|m| (*m, event)));
        events.push(event);
    }
    let proxy = proxy();
    let queue = SqsQueue::new(&through(&proxy, CallLimits::default()).await);
    proxy.add_rule(Rule::always("sqs:SendMessageBatch", Action::Delay(Duration::from_millis(200))));
    let (postgres, store) = store_through_proxy(&scene.db);
    let one_group_at_a_time = Consumer { group_concurrency: 1, ..scene.consumer.clone() };
    let batch: Vec<_> = events.iter().map(|e| scene.due_message(*e)).collect();
    let down = Duration::from_millis(600);
    let done = AtomicBool::new(false);
    let (redelivery, cut) = tokio::join!(
        async {
            let result = drive(batch, async |batch| {
                let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(2));
                failed_ids(
                    &schedule_notifications::handle_batch(
                        &store,
                        &queue,
                        &scene.fan_out,
                        &one_group_at_a_time,
                        &deadline,
                        &sqs_event(&batch),
                    )
                    .await,
                )
            })
            .await;
            done.store(true, Ordering::SeqCst);
            result
        },
        restart_when(&proxy, "sqs:SendMessageBatch", 1, &postgres, down, &done),
    );

    let mut outcome = Outcome {
        faults: format!(
            "{} (+200 ms each); {} returned, {} invocations",
            restart_phrase(cut, &postgres, down, "SendMessageBatch #1"),
            redelivery.as_ref().map_or(0, |r| r.returned),
            redelivery.as_ref().map_or(0, |r| r.invocations)
        ),
        ..Default::default()
    };
    if let Err(error) = &redelivery {
        outcome.failures.push(error.clone());
    }
    outcome.check(cut.is_some_and(|n| n > 0), || "the restart never cut a connection".to_owned());
    scene.check_sends_then_deliver(&mut outcome, &expected).await;
    outcome
}

/// 15 events due, claimed 5 per transaction, SendMessageBatch delayed
/// 200 ms; the restart comes with the second claim's SendMessageBatch: its
/// messages are sent, its transaction is lost, the next run does it again.
pub async fn scheduler() -> Outcome {
    let mut scene = Scene::new().await;
    let mut expected = Vec::new();
    for _ in 0..15 {
        let user = scene.person(Channel::Email).await;
        let event = scene.event("E", &[user]).await;
        expected.push((user, event));
    }
    let config = SchedulerConfig {
        queue_url: scene.notifications_url.clone(),
        max_lateness: TimeDelta::hours(1),
        claim_batch_size: 5,
        max_batches: 10,
    };
    let proxy = proxy();
    let queue = SqsQueue::new(&through(&proxy, CallLimits::default()).await);
    proxy.add_rule(Rule::always("sqs:SendMessageBatch", Action::Delay(Duration::from_millis(200))));
    let (postgres, store) = store_through_proxy(&scene.db);
    // Down long enough that the next run meets it too.
    let down = Duration::from_millis(800);
    let done = AtomicBool::new(false);
    let (runs, cut) = tokio::join!(
        async {
            let result = scene.run_scheduler_until_done(&store, &queue, &config, Duration::from_millis(300)).await;
            done.store(true, Ordering::SeqCst);
            result
        },
        restart_when(&proxy, "sqs:SendMessageBatch", 2, &postgres, down, &done),
    );

    let mut outcome = Outcome {
        faults: format!(
            "{} (+200 ms each); {} failed runs",
            restart_phrase(cut, &postgres, down, "claim 2's SendMessageBatch"),
            runs.as_ref().map_or(0, Vec::len)
        ),
        ..Default::default()
    };
    if let Err(error) = &runs {
        outcome.failures.push(error.clone());
    }
    outcome.check(cut.is_some_and(|n| n > 0), || "the restart never cut a connection".to_owned());
    scene.check_due_then_fan_out(&mut outcome, &expected).await;
    outcome
}
