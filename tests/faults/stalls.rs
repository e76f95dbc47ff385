//! A provider call that stalls past a short deadline: the k-th call never
//! gets an answer. The invocation (3 s, 1 s margin; SDK attempts of 10 s,
//! so the deadline is what cuts) must record every outcome it has, return
//! the rest, and SQS's redelivery must then give every person exactly one
//! copy. Some people get two reminders (events A then B) in their message
//! group: moto must have recorded them in that order.

use crate::fixtures;
use crate::kit::{
    self, Contact, Outcome, Person, Scene, SmsFunction, api_message, drive, failed_ids, recorded, sms_env,
    stall_limits, tally, through,
};
use std::time::{Duration, Instant};
use torium_delivery::{ChannelSender, SnsPushPublisher};
use torium_domain::Channel;
use torium_runtime::Deadline;
use torium_tests::faults::{Action, HttpFaultProxy, Rule};
use torium_tests::moto::{PushDevices, ReceivedMessage, sqs_event};
use torium_tests::{TestDatabase, required_env, unique_name};

const INVOCATION: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_secs(1);
const STALL_SETUP: &str = "3 s deadline, 1 s margin, 10 s SDK attempts";

fn short_deadline() -> Deadline {
    Deadline::after(INVOCATION, MARGIN)
}

fn proxy() -> HttpFaultProxy {
    HttpFaultProxy::start(&required_env("AWS_ENDPOINT_URL"))
}

/// `people` people, the first `doubles` of them reminded of A then B.
async fn messages(scene: &mut Scene, channel: Channel, people: usize, doubles: usize) -> Vec<ReceivedMessage> {
    let people = scene.people(channel, people).await;
    let a = scene.event("A", &people).await;
    let b = scene.event("B", &people[..doubles]).await;
    scene.fan_out(&[a, b]).await;
    scene.take(channel).await
}

/// The exact case the issue measured: the real send-sms binary, the 8th
/// `Publish` of a batch of ten stalls, Lambda kills the process at the
/// deadline if it has not answered.
pub async fn sms_binary() -> Outcome {
    let mut scene = Scene::new().await;
    // Seven people, three of them reminded twice: ten messages, as measured.
    let messages = messages(&mut scene, Channel::Sms, 7, 3).await;
    let people = scene.expected(&messages);
    let proxy = proxy();
    proxy.add_rule(Rule::nth("sns:Publish", 8, Action::Stall));
    let env = sms_env(
        &scene.db.url,
        &proxy.url(),
        scene.consumer.dead_letters.queue_url(),
        &[
            ("DEADLINE_MARGIN_MS", "1000"),
            ("SDK_ATTEMPT_TIMEOUT_MS", "10000"),
            ("SDK_OPERATION_TIMEOUT_MS", "20000"),
            ("GROUP_CONCURRENCY", "10"),
        ],
    );
    let mut function = SmsFunction::start(env, INVOCATION);
    let redelivery = drive(messages.clone(), async |batch| function.invoke(&batch).await).await;

    let mut outcome = Outcome::default();
    let first = function.invocations.first().cloned();
    outcome.faults = format!(
        "Publish #8 of 10 stalls ({} fault); {STALL_SETUP}; {}, {} invocations",
        proxy.faults_on("sns:Publish"),
        first.as_ref().map_or("no answer".to_owned(), |i| if i.killed {
            "killed at the deadline".to_owned()
        } else {
            format!("answered at {:.1} s", i.duration.as_secs_f64())
        }),
        function.invocations.len(),
    );
    finish_reminders(&mut outcome, &scene, &people, redelivery, true).await;
    outcome.check(proxy.faults_on("sns:Publish") == 1, || "the stall was never injected".to_owned());
    outcome.check(first.as_ref().is_some_and(|i| !i.killed && i.result.is_ok()), || {
        format!("the stalled invocation did not answer before its deadline (Lambda killed it): {first:?}")
    });
    outcome.check(function.invocations.iter().all(|i| !i.killed), || "an invocation was killed".to_owned());
    if !outcome.failures.is_empty() {
        outcome.failures.push(format!("send-sms log (WARN/ERROR):\n{}", function.log_excerpt(25)));
    }
    outcome
}

/// One in-process sender through the proxy, the k-th call of `operation`
/// stalled, redelivered until done.
async fn in_process(
    scene: &Scene,
    sender: &impl ChannelSender,
    proxy: &HttpFaultProxy,
    operation: &str,
    k: usize,
    messages: Vec<ReceivedMessage>,
) -> Outcome {
    let people = scene.expected(&messages);
    proxy.add_rule(Rule::nth(operation, k, Action::Stall));
    let mut first = None;
    let redelivery = drive(messages, async |batch| {
        let started = Instant::now();
        let response = torium_delivery::deliver_batch(
            &scene.db.store,
            sender,
            &scene.consumer,
            &short_deadline(),
            &sqs_event(&batch),
        )
        .await;
        first.get_or_insert(started.elapsed());
        failed_ids(&response)
    })
    .await;
    let mut outcome = Outcome {
        faults: format!(
            "{} #{k} of 10 (an A, its B waits) stalls ({} fault); {STALL_SETUP}; answered at {:.1} s, {} invocations",
            operation.split(':').nth(1).unwrap_or(operation),
            proxy.faults_on(operation),
            first.unwrap_or_default().as_secs_f64(),
            redelivery.as_ref().map_or(0, |r| r.invocations)
        ),
        ..Default::default()
    };
    finish_reminders(&mut outcome, scene, &people, redelivery, true).await;
    outcome.check(proxy.faults_on(operation) == 1, || "the stall was never injected".to_owned());
    outcome.check(first.is_some_and(|d| d < INVOCATION), || format!("the first invocation took {first:?}"));
    outcome
}

/// The checks every reminder scenario ends with: redelivery done, moto's
/// record exactly once (in order where `ordered`), every log row sent.
pub async fn finish_reminders(
    outcome: &mut Outcome,
    scene: &Scene,
    people: &[Person],
    redelivery: Result<kit::Redelivery, String>,
    ordered: bool,
) {
    if let Err(error) = &redelivery {
        outcome.failures.push(error.clone());
    }
    outcome.tally = tally(people, &recorded(), &scene.markers(), ordered);
    outcome.exactly_once("moto's record");
    let due: usize = people.iter().map(|p| p.due.len()).sum();
    scene.check_log(outcome, due).await;
}

/// Five people reminded of A then B (ten messages); the five A sends go out
/// first, so the stalled one is an A and its B must wait behind it.
pub async fn email() -> Outcome {
    let mut scene = Scene::new().await;
    let messages = messages(&mut scene, Channel::Email, 5, 5).await;
    let proxy = proxy();
    let sender = kit::email_sender(&through(&proxy, stall_limits()).await).await;
    in_process(&scene, &sender, &proxy, "ses:SendEmail", 3, messages).await
}

pub async fn push() -> Outcome {
    let mut scene = Scene::new().await;
    let messages = messages(&mut scene, Channel::Push, 5, 5).await;
    let proxy = proxy();
    let sender = kit::push_sender(&through(&proxy, stall_limits()).await);
    in_process(&scene, &sender, &proxy, "sns:Publish", 2, messages).await
}

/// A comment pushed to ten other members, the 4th push stalled: the
/// message goes back and the retry pushes only the one not yet sent.
pub async fn comment() -> Outcome {
    let db = TestDatabase::migrated().await;
    let devices = PushDevices::new().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Comments").await;
    let name = unique_name("Comment");
    let event = fixtures::ApiEvent::on(fixtures::at("2026-12-24T17:00:00Z")).insert(&c, group, &name).await;
    let author_endpoint = devices.endpoint(true).await;
    let author = fixtures::Person::unique("author").prefers("PUSH").device(&author_endpoint).insert(&c).await;
    fixtures::attendee(&c, event, author).await;
    let mut people = Vec::new();
    for _ in 0..10 {
        let endpoint = devices.endpoint(true).await;
        let user = fixtures::Person::unique("reader").prefers("PUSH").device(&endpoint).insert(&c).await;
        fixtures::attendee(&c, event, user).await;
        people.push(Person { user_id: user, contact: Contact::Endpoint(endpoint), due: vec![name.clone()] });
    }
    let comment: i64 = c
        .query_one(
            "INSERT INTO events_comments (event_id, user_id, comment, \"timestamp\") VALUES ($1, $2, 'Who brings the pierogi?', now()) RETURNING id",
            &[&event, &author],
        )
        .await
        .expect("insert comment")
        .get(0);
    let message = api_message(
        "CreateSchedulePushNotificationCommentsEvent",
        fixtures::legacy_body(&[
            ("events_comments_id", comment.to_string()),
            ("event_id", event.to_string()),
            ("event_timestamp", "2026-11-24 10:00:00".into()),
            ("user_id", author.to_string()),
            ("comment", "Who brings the pierogi?".into()),
        ]),
    );
    let proxy = proxy();
    let publisher = SnsPushPublisher { sns: torium_aws::Sns::new(&through(&proxy, stall_limits()).await) };
    proxy.add_rule(Rule::nth("sns:Publish", 4, Action::Stall));
    let consumer = fixtures::consumer().await;
    let redelivery = drive(vec![message], async |batch| {
        failed_ids(
            &schedule_comment_push::handle_batch(
                &db.store,
                &publisher,
                &consumer,
                &short_deadline(),
                &sqs_event(&batch),
            )
            .await,
        )
    })
    .await;

    let mut outcome = Outcome {
        faults: format!(
            "Publish #4 of 10 receivers stalls ({} fault); {STALL_SETUP}; {} invocations",
            proxy.faults_on("sns:Publish"),
            redelivery.as_ref().map_or(0, |r| r.invocations)
        ),
        ..Default::default()
    };
    if let Err(error) = &redelivery {
        outcome.failures.push(error.clone());
    }
    let record = recorded();
    outcome.tally = tally(&people, &record, &[("C".into(), name.clone())], false);
    outcome.exactly_once("moto's record");
    let author_got = record.texts(&Contact::Endpoint(author_endpoint)).len();
    outcome.check(author_got == 0, || format!("the author got {author_got} pushes of their own comment"));
    let sent: i64 = c
        .query_one(
            "SELECT count(*) FROM events_comments_logs WHERE events_comments_id = $1 AND status = 'sent'",
            &[&comment],
        )
        .await
        .expect("comment log")
        .get(0);
    outcome.check(sent == 10, || format!("comment log: {sent} rows sent, expected 10"));
    outcome.check(proxy.faults_on("sns:Publish") == 1, || "the stall was never injected".to_owned());
    outcome
}

/// Ten invitations sent as the API sends them (one message group for all),
/// the 3rd push stalled: it and the later ones go back, in order.
pub async fn invitation() -> Outcome {
    let db = TestDatabase::migrated().await;
    let devices = PushDevices::new().await;
    let c = db.client().await;
    let group_name = unique_name("Invitations");
    let group = fixtures::group(&c, &group_name).await;
    let mut people = Vec::new();
    let mut messages = Vec::new();
    let mut invitations = Vec::new();
    for _ in 0..10 {
        let endpoint = devices.endpoint(true).await;
        let user = fixtures::Person::unique("invited").prefers("PUSH").device(&endpoint).insert(&c).await;
        let id: i64 = c
            .query_one(
                "INSERT INTO group_invitation_logs (group_id, user_to, \"timestamp\", status) VALUES ($1, $2, now(), 'pending') RETURNING id",
                &[&group, &user],
            )
            .await
            .expect("insert invitation")
            .get(0);
        invitations.push(id);
        messages.push(api_message(
            "CreateSendPushGroupInvitationEvent",
            fixtures::legacy_body(&[
                ("group_invitation_logs_id", id.to_string()),
                ("user_id", user.to_string()),
                ("group_id", group.to_string()),
            ]),
        ));
        people.push(Person { user_id: user, contact: Contact::Endpoint(endpoint), due: vec![group_name.clone()] });
    }
    let proxy = proxy();
    let publisher = SnsPushPublisher { sns: torium_aws::Sns::new(&through(&proxy, stall_limits()).await) };
    proxy.add_rule(Rule::nth("sns:Publish", 3, Action::Stall));
    let consumer = fixtures::consumer().await;
    let redelivery = drive(messages, async |batch| {
        failed_ids(
            &send_group_invitation::handle_batch(
                &db.store,
                &publisher,
                &consumer,
                &short_deadline(),
                &sqs_event(&batch),
            )
            .await,
        )
    })
    .await;

    let mut outcome = Outcome {
        faults: format!(
            "Publish #3 of 10 stalls ({} fault), one message group; {STALL_SETUP}; {} invocations",
            proxy.faults_on("sns:Publish"),
            redelivery.as_ref().map_or(0, |r| r.invocations)
        ),
        ..Default::default()
    };
    if let Err(error) = &redelivery {
        outcome.failures.push(error.clone());
    }
    outcome.tally = tally(&people, &recorded(), &[("I".into(), group_name.clone())], false);
    outcome.exactly_once("moto's record");
    let sent: i64 = c
        .query_one(
            "SELECT count(*) FROM group_invitation_logs WHERE id = ANY($1) AND status = 'sent' AND sent_at IS NOT NULL",
            &[&invitations],
        )
        .await
        .expect("invitation rows")
        .get(0);
    outcome.check(sent == 10, || format!("{sent} of 10 invitations marked sent"));
    outcome.check(proxy.faults_on("sns:Publish") == 1, || "the stall was never injected".to_owned());
    outcome
}

/// Not a stall but its twin: SNS accepts a Publish and the answer never
/// comes back (the connection closes after moto recorded it). The SDK
/// retries, and nothing can tell the retry from a first send (SNS has no
/// idempotency key): one extra copy per lost answer, none lost. Measured
/// here so the bound is known; the real send-sms binary, the template's
/// SDK limits.
pub async fn lost_response() -> Outcome {
    let mut scene = Scene::new().await;
    let messages = messages(&mut scene, Channel::Sms, 10, 0).await;
    let people = scene.expected(&messages);
    let proxy = proxy();
    proxy.add_rule(Rule::nth("sns:Publish", 3, Action::DropAfterForward));
    proxy.add_rule(Rule::nth("sns:Publish", 7, Action::DropAfterForward));
    let env = sms_env(&scene.db.url, &proxy.url(), scene.consumer.dead_letters.queue_url(), &[]);
    let mut function = SmsFunction::start(env, crate::kit::BINARY_TIMEOUT);
    let redelivery = drive(messages, async |batch| function.invoke(&batch).await).await;
    let lost = proxy.faults_on("sns:Publish");
    let mut outcome = Outcome {
        faults: format!(
            "the answers to Publish #3 and #7 of 10 lost after moto recorded them ({lost} faults); SDK limits as deployed"
        ),
        ..Default::default()
    };
    if let Err(error) = &redelivery {
        outcome.failures.push(error.clone());
    }
    outcome.tally = tally(&people, &recorded(), &scene.markers(), true);
    let t = &outcome.tally;
    let (duplicates, missing, details) = (t.duplicates, t.lost, t.details.clone());
    outcome.check(missing == 0, || format!("{missing} people got nothing: {details:?}"));
    outcome.check(lost == 2 && duplicates <= lost, || {
        format!("{duplicates} duplicates for {lost} lost answers (at most one each expected): {details:?}")
    });
    scene.check_log(&mut outcome, people.len()).await;
    if !outcome.failures.is_empty() {
        outcome.failures.push(format!("send-sms log (WARN/ERROR):\n{}", function.log_excerpt(25)));
    }
    outcome
}
