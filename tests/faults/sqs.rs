//! SQS answering 5xx: during schedule-notifications' fan-out to the channel
//! queues, and during schedule-events' enqueueing to schedule-notifications.
//! Whatever the SDK's retries do not get through goes back (a message, or a
//! rolled-back claim) and is done again; the queues must end up holding each
//! send once, and after the senders every person must have it once.

use crate::kit::{self, Outcome, Scene, drive, failed_ids, through};
use chrono::TimeDelta;
use schedule_events::SchedulerConfig;
use std::time::Duration;
use torium_aws::{CallLimits, SqsQueue};
use torium_domain::Channel;
use torium_runtime::Deadline;
use torium_tests::faults::{Action, HttpFaultProxy, Rule};
use torium_tests::moto::sqs_event;
use torium_tests::required_env;

const SEND: &str = "sqs:SendMessageBatch";
const OUTAGE: Duration = Duration::from_millis(700);

fn proxy() -> HttpFaultProxy {
    HttpFaultProxy::start(&required_env("AWS_ENDPOINT_URL"))
}

/// Two firings (A: 15 members, B: 5 of them) in one batch, fanned out while
/// every SendMessageBatch answers 503 for 700 ms, then every 3rd one 500.
pub async fn fan_out() -> Outcome {
    let mut scene = Scene::new().await;
    let email = scene.people(Channel::Email, 12).await;
    let sms = scene.people(Channel::Sms, 3).await;
    let everyone: Vec<i64> = email.iter().chain(&sms).copied().collect();
    let doubles: Vec<i64> = email[..3].iter().chain(&sms[..2]).copied().collect();
    let a = scene.event("A", &everyone).await;
    let b = scene.event("B", &doubles).await;
    let expected: Vec<(i64, i64)> = everyone.iter().map(|u| (*u, a)).chain(doubles.iter().map(|u| (*u, b))).collect();

    let proxy = proxy();
    let queue = SqsQueue::new(&through(&proxy, CallLimits::default()).await);
    // An outage longer than the SDK's three attempts (its backoff is at most
    // 100 + 200 ms), then every 3rd call a 500 that a retry gets past.
    proxy.add_rule(Rule::every_nth(SEND, 1, OUTAGE, Action::ServiceUnavailable));
    proxy.add_rule(Rule::every_nth(SEND, 3, Duration::from_secs(5), Action::ServerError));
    let batch = vec![scene.due_message(a), scene.due_message(b)];
    let redelivery = drive(batch, async |batch| {
        let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(2));
        failed_ids(
            &schedule_notifications::handle_batch(
                &scene.db.store,
                &queue,
                &scene.fan_out,
                &scene.consumer,
                &deadline,
                &sqs_event(&batch),
            )
            .await,
        )
    })
    .await;

    let mut outcome = Outcome {
        faults: format!(
            "SendMessageBatch 503 for 0.7 s, then every 3rd 500: {} faults; {} messages returned, {} invocations",
            proxy.faults_on(SEND),
            redelivery.as_ref().map_or(0, |r| r.returned),
            redelivery.as_ref().map_or(0, |r| r.invocations),
        ),
        ..Default::default()
    };
    if let Err(error) = &redelivery {
        outcome.failures.push(error.clone());
    }
    outcome.check(redelivery.as_ref().is_ok_and(|r| r.returned > 0), || {
        "no fan-out message was returned: the 503s never outlasted the SDK's retries".to_owned()
    });
    scene.check_sends_then_deliver(&mut outcome, &expected).await;
    outcome
}

/// 25 events due in the same minute, claimed 15 at a time: the second
/// SendMessageBatch of the first claim (its first ten already sent) fails
/// three times over, the claim rolls back, the next run sends it all again.
pub async fn scheduler() -> Outcome {
    let mut scene = Scene::new().await;
    let mut expected = Vec::new();
    for _ in 0..25 {
        let user = scene.person(Channel::Email).await;
        let event = scene.event("E", &[user]).await;
        expected.push((user, event));
    }
    let config = SchedulerConfig {
        queue_url: scene.notifications_url.clone(),
        max_lateness: TimeDelta::hours(1),
        claim_batch_size: 15,
        max_batches: 10,
    };
    let proxy = proxy();
    let queue = SqsQueue::new(&through(&proxy, CallLimits::default()).await);
    proxy.add_rule(Rule::range(SEND, 2, 3, Action::ServiceUnavailable));
    proxy.add_rule(Rule::nth(SEND, 7, Action::ServerError));
    let runs = scene.run_scheduler_until_done(&scene.db.store, &queue, &config, kit::VISIBILITY_PAUSE).await;

    let mut outcome = Outcome {
        faults: format!(
            "SendMessageBatch #2-4 503 (claim 1 of 15 half sent), #7 500: {} faults; {} failed runs",
            proxy.faults_on(SEND),
            runs.as_ref().map_or(0, Vec::len)
        ),
        ..Default::default()
    };
    match &runs {
        Ok(errors) => {
            outcome.check(!errors.is_empty(), || "no scheduler run failed: the 503s were absorbed".to_owned())
        }
        Err(error) => outcome.failures.push(error.clone()),
    }
    scene.check_due_then_fan_out(&mut outcome, &expected).await;
    outcome
}
