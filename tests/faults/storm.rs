//! A throttling storm: for 1.5 s every 2nd SNS and SES call answers with
//! the service's throttling error while the three senders work through
//! their queues at once. The SDK retries some, the handlers return what it
//! could not get through, and the redeliveries must end with every member
//! reminded exactly once, each person's two reminders in order.

use crate::kit::{self, Outcome, Scene, deliver_all, recorded, tally, through};
use std::time::Duration;
use torium_aws::CallLimits;
use torium_domain::Channel;
use torium_runtime::Deadline;
use torium_tests::faults::{Action, HttpFaultProxy, Rule};
use torium_tests::required_env;

const WINDOW: Duration = Duration::from_millis(1500);

/// The senders' own deadline (the template's 30 s, 2 s margin).
fn sender_deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30), Duration::from_secs(2))
}

pub async fn storm() -> Outcome {
    let mut scene = Scene::new().await;
    let sms = scene.people(Channel::Sms, 10).await;
    let email = scene.people(Channel::Email, 10).await;
    let push = scene.people(Channel::Push, 5).await;
    let everyone: Vec<i64> = sms.iter().chain(&email).chain(&push).copied().collect();
    let doubles: Vec<i64> = sms[..3].iter().chain(&email[..3]).chain(&push[..2]).copied().collect();
    let a = scene.event("A", &everyone).await;
    let b = scene.event("B", &doubles).await;
    scene.fan_out(&[a, b]).await;
    let sms_messages = scene.take(Channel::Sms).await;
    let email_messages = scene.take(Channel::Email).await;
    let push_messages = scene.take(Channel::Push).await;

    let proxy = HttpFaultProxy::start(&required_env("AWS_ENDPOINT_URL"));
    let sdk = through(&proxy, CallLimits::default()).await;
    let sms_sender = kit::sms_sender(&sdk).await;
    let email_sender = kit::email_sender(&sdk).await;
    let push_sender = kit::push_sender(&sdk);
    proxy.add_rule(Rule::every_nth("sns:*", 2, WINDOW, Action::Throttle));
    proxy.add_rule(Rule::every_nth("ses:*", 2, WINDOW, Action::Throttle));
    let store = &scene.db.store;
    let (sms_done, email_done, push_done) = tokio::join!(
        deliver_all(store, &sms_sender, &scene.consumer, sender_deadline, sms_messages.clone()),
        deliver_all(store, &email_sender, &scene.consumer, sender_deadline, email_messages.clone()),
        deliver_all(store, &push_sender, &scene.consumer, sender_deadline, push_messages.clone()),
    );

    let returned: usize =
        [&sms_done, &email_done, &push_done].iter().filter_map(|r| r.as_ref().ok()).map(|r| r.returned).sum();
    let invocations: usize =
        [&sms_done, &email_done, &push_done].iter().filter_map(|r| r.as_ref().ok()).map(|r| r.invocations).sum();
    let mut outcome = Outcome {
        faults: format!(
            "every 2nd SNS/SES call throttled for 1.5 s: {} Publish, {} SendEmail; {returned} returned, {invocations} invocations",
            proxy.faults_on("sns:Publish"),
            proxy.faults_on("ses:SendEmail")
        ),
        ..Default::default()
    };
    for done in [&sms_done, &email_done, &push_done] {
        if let Err(error) = done {
            outcome.failures.push(error.clone());
        }
    }
    let mut people = scene.expected(&sms_messages);
    people.extend(scene.expected(&email_messages));
    people.extend(scene.expected(&push_messages));
    outcome.tally = tally(&people, &recorded(), &scene.markers(), true);
    outcome.exactly_once("moto's record");
    let due: usize = people.iter().map(|p| p.due.len()).sum();
    scene.check_log(&mut outcome, due).await;
    outcome.check(proxy.faults() > 0, || "no call was throttled".to_owned());
    outcome
}
