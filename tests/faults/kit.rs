//! What the scenarios share: people and reminders set up as the HTTP API
//! would (fixtures), the real fan-out, SQS's redelivery as Lambda's event
//! source does it for a FIFO queue, moto's record read back and tallied per
//! person, and the real send-sms binary under the Lambda Runtime API
//! stand-in.

use crate::fixtures;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use schedule_notifications::FanOutConfig;
use send_email::EmailSender;
use send_push::PushSender;
use send_sms::{OptOuts, SmsSender};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use torium_aws::{CallLimits, EmailOptions, SdkConfig, Ses, SmsOptions, Sns, SqsQueue, load_sdk_config_with};
use torium_delivery::{ChannelSender, SnsPushPublisher, deliver_batch};
use torium_domain::{Channel, Delivery, EventId, ReminderDue};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use torium_runtime::{Clock, Consumer, Deadline, SqsDeadLetters};
use torium_store::{DbSettings, SslMode, Store, connect_pool};
use torium_tests::faults::{HttpFaultProxy, TcpFaultProxy, socket_addr_of};
use torium_tests::lambda_api::{
    FunctionProcess, INIT_LIMIT, RuntimeApi, function_binary, invoke_like_lambda, test_env,
};
use torium_tests::moto::{self, PushDevices, ReceivedMessage, sqs_event};
use torium_tests::{TestDatabase, required_env, unique_name};

/// The firing every scenario's reminders are for: this minute of the real
/// clock (the real send-sms binary checks freshness against it), the event
/// a day later.
pub fn trigger() -> DateTime<Utc> {
    static TRIGGER: OnceLock<DateTime<Utc>> = OnceLock::new();
    *TRIGGER.get_or_init(|| Utc::now().duration_trunc(TimeDelta::minutes(1)).expect("a minute"))
}
/// Redeliveries of one message at most (SQS would give up at the
/// queue's maxReceiveCount, 5 in the template; a few more show a stuck one).
pub const MAX_REDELIVERIES: usize = 8;
/// Between an invocation that returned messages and the next one: the
/// visibility timeout, shortened.
pub const VISIBILITY_PAUSE: Duration = Duration::from_millis(200);
/// How long one Lambda-style invocation of the real binary may take when no
/// scenario asks for less (the template's sender timeout is 30 s).
pub const BINARY_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// What a scenario reports
// ---------------------------------------------------------------------------

/// What one scenario measured and which of its assertions failed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub faults: String,
    pub tally: Tally,
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn check(&mut self, ok: bool, failure: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(failure());
        }
    }

    /// Every person got each reminder due to them exactly once (and, where
    /// the tally was ordered, in their message group's order).
    pub fn exactly_once(&mut self, what: &str) {
        let t = &self.tally;
        if t.duplicates > 0 || t.lost > 0 || !t.out_of_order.is_empty() || t.people == 0 {
            let mut lines = vec![format!(
                "{what}: {} people, {} duplicates, {} lost, {} out of order (expected exactly once each, in order)",
                t.people,
                t.duplicates,
                t.lost,
                t.out_of_order.len()
            )];
            lines.extend(t.details.iter().chain(&t.out_of_order).take(8).cloned());
            self.failures.push(lines.join("\n    "));
        }
    }
}

// ---------------------------------------------------------------------------
// People and their reminders
// ---------------------------------------------------------------------------

/// Where a person is reached, as moto records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Contact {
    Phone(String),
    Email(String),
    Endpoint(String),
}

/// One person and what they must receive: the markers (event or group
/// names) of their messages, in their message group's order.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: i64,
    pub contact: Contact,
    pub due: Vec<String>,
}

/// A test database, the channel queues, a dead-letter queue and a group
/// whose events the scenario creates.
pub struct Scene {
    pub db: TestDatabase,
    /// Straight to moto, for set-up and checks.
    pub sqs: SqsQueue,
    pub fan_out: FanOutConfig,
    /// schedule-notifications' own queue: where schedule-events enqueues and
    /// a fan-out that runs out of time continues.
    pub notifications_url: String,
    pub consumer: Consumer<SqsDeadLetters>,
    pub devices: PushDevices,
    group: i64,
    /// Event id → (label, marker): the marker is the event's name, unique.
    events: BTreeMap<i64, (String, String)>,
    pub contacts: BTreeMap<i64, Contact>,
}

impl Scene {
    pub async fn new() -> Scene {
        let db = TestDatabase::migrated().await;
        let sqs = SqsQueue::new(&moto::sdk_config().await);
        let client = sqs.client();
        let notifications_url = moto::create_api_fifo_queue(client, "faults-schedule-notifications").await;
        let fan_out = FanOutConfig::with_queues(
            &moto::create_fifo_queue(client, "faults-send-sms").await,
            &moto::create_fifo_queue(client, "faults-send-email").await,
            &moto::create_fifo_queue(client, "faults-send-push").await,
            &notifications_url,
        );
        // The real clock, as in the real binary: the scenes' reminders are due now.
        let consumer = Consumer { clock: Clock::system(), ..fixtures::consumer().await };
        let devices = PushDevices::new().await;
        let group = fixtures::group(&db.client().await, "Faults").await;
        Scene {
            db,
            sqs,
            fan_out,
            notifications_url,
            consumer,
            devices,
            group,
            events: BTreeMap::new(),
            contacts: BTreeMap::new(),
        }
    }

    /// A new user who prefers `channel` and can be reached on it.
    pub async fn person(&mut self, channel: Channel) -> i64 {
        let c = self.db.client().await;
        let (user, contact) = match channel {
            Channel::Sms => {
                let phone = moto::unique_phone();
                let user = fixtures::Person::unique("sms").phone(&phone).prefers("SMS").insert(&c).await;
                (user, Contact::Phone(phone))
            }
            Channel::Email => {
                let address = format!("{}@example.com", unique_name("mail"));
                let user = fixtures::Person::new(&address).prefers("EMAIL").insert(&c).await;
                (user, Contact::Email(address))
            }
            Channel::Push => {
                let endpoint = self.devices.endpoint(true).await;
                let user = fixtures::Person::unique("push").prefers("PUSH").device(&endpoint).insert(&c).await;
                (user, Contact::Endpoint(endpoint))
            }
        };
        self.contacts.insert(user, contact);
        user
    }

    pub async fn people(&mut self, channel: Channel, n: usize) -> Vec<i64> {
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            users.push(self.person(channel).await);
        }
        users
    }

    /// A `once` event of the scene's group, due at [`trigger`], with these
    /// members; `label` names it in reports.
    pub async fn event(&mut self, label: &str, members: &[i64]) -> i64 {
        let c = self.db.client().await;
        let marker = unique_name(label);
        let event = fixtures::EventSpec::once(trigger() + TimeDelta::days(1), "1 day")
            .created(trigger() - TimeDelta::days(1))
            .insert(&c, self.group, &marker)
            .await;
        for &member in members {
            fixtures::attendee(&c, event, member).await;
        }
        self.events.insert(event, (label.to_owned(), marker));
        event
    }

    pub fn markers(&self) -> Vec<(String, String)> {
        self.events.values().cloned().collect()
    }

    /// The scheduler's message for an event's firing at [`trigger`].
    pub fn due_message(&self, event: i64) -> ReceivedMessage {
        let due = ReminderDue { event_id: EventId(event), trigger_at: trigger() };
        ReceivedMessage {
            message_id: unique_name(&format!("due-{event}")),
            body: due.to_body(),
            group_id: due.group_id(),
            deduplication_id: due.deduplication_id(),
            sent_timestamp: chrono::Utc::now().timestamp_millis().to_string(),
        }
    }

    /// The real fan-out, straight to moto, one event after the other (so a
    /// person's messages are queued in this order).
    pub async fn fan_out(&self, events: &[i64]) {
        for &event in events {
            let response = schedule_notifications::handle_batch(
                &self.db.store,
                &self.sqs,
                &self.fan_out,
                &self.consumer,
                &fixtures::deadline(),
                &sqs_event(&[self.due_message(event)]),
            )
            .await;
            assert!(response.batch_item_failures.is_empty(), "set-up fan-out failed: {response:?}");
        }
    }

    /// The real fan-out of queued schedule-notifications messages, straight
    /// to moto, as SQS would hand them over.
    pub async fn fan_out_messages(&self, messages: Vec<ReceivedMessage>) -> Result<Redelivery, String> {
        drive(messages, async |batch| {
            failed_ids(
                &schedule_notifications::handle_batch(
                    &self.db.store,
                    &self.sqs,
                    &self.fan_out,
                    &self.consumer,
                    &fixtures::deadline(),
                    &sqs_event(&batch),
                )
                .await,
            )
        })
        .await
    }

    pub fn queue_url(&self, channel: Channel) -> &str {
        match channel {
            Channel::Sms => &self.fan_out.channels.sms,
            Channel::Email => &self.fan_out.channels.email,
            Channel::Push => &self.fan_out.channels.push,
        }
    }

    /// Every message waiting in a channel queue, in FIFO order.
    pub async fn take(&self, channel: Channel) -> Vec<ReceivedMessage> {
        take_all(self.sqs.client(), self.queue_url(channel)).await
    }

    /// The people these sends are for, each with the markers of their
    /// messages in queue order (their message group's order).
    pub fn expected(&self, messages: &[ReceivedMessage]) -> Vec<Person> {
        let mut people: Vec<Person> = Vec::new();
        for m in messages {
            let delivery = Delivery::parse(&m.body).expect("a delivery body");
            let user_id = delivery.user_id.0;
            let marker = self.events.get(&delivery.event_id.0).map(|(_, marker)| marker.clone()).unwrap_or_default();
            match people.iter_mut().find(|p| p.user_id == user_id) {
                Some(person) => person.due.push(marker),
                None => people.push(Person {
                    user_id,
                    contact: self.contacts.get(&user_id).cloned().expect("a person of the scene"),
                    due: vec![marker],
                }),
            }
        }
        people
    }

    /// Each (user, event) in these sends, counted: a check of a channel
    /// queue's contents after a fan-out under faults.
    pub fn queue_copies(&self, messages: &[ReceivedMessage]) -> BTreeMap<(i64, i64), usize> {
        let mut copies = BTreeMap::new();
        for m in messages {
            let d = Delivery::parse(&m.body).expect("a delivery body");
            *copies.entry((d.user_id.0, d.event_id.0)).or_default() += 1;
        }
        copies
    }

    /// Delivers queued sends with the real senders straight to moto (no
    /// faults), as SQS would hand them over.
    pub async fn deliver_direct(&self, channel: Channel, messages: Vec<ReceivedMessage>) -> Result<Redelivery, String> {
        let sdk = moto::sdk_config().await;
        let long = || fixtures::deadline();
        match channel {
            Channel::Sms => deliver_all(&self.db.store, &sms_sender(&sdk).await, &self.consumer, long, messages).await,
            Channel::Email => {
                deliver_all(&self.db.store, &email_sender(&sdk).await, &self.consumer, long, messages).await
            }
            Channel::Push => deliver_all(&self.db.store, &push_sender(&sdk), &self.consumer, long, messages).await,
        }
    }

    /// (status, count) of the reminder log rows.
    pub async fn log_statuses(&self) -> BTreeMap<String, i64> {
        let rows = self
            .db
            .client()
            .await
            .query("SELECT status::text, count(*) FROM event_reminders_logs GROUP BY 1", &[])
            .await
            .expect("reading the delivery log");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// Every delivery log row is `sent`, one per expected delivery.
    pub async fn check_log(&self, outcome: &mut Outcome, expected: usize) {
        let statuses = self.log_statuses().await;
        outcome.check(statuses.get("sent").copied() == Some(expected as i64) && statuses.len() == 1, || {
            format!("delivery log: expected {expected} rows, all sent; found {statuses:?}")
        });
    }
}

/// Every message waiting in a queue, received and deleted in FIFO order
/// (bounded: at most 100 receives).
pub async fn take_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<ReceivedMessage> {
    torium_tests::moto::drain_queue(sqs, url).await
}

/// A message as SQS hands over what the API sent (one constant group).
pub fn api_message(group_id: &str, body: String) -> ReceivedMessage {
    ReceivedMessage {
        message_id: unique_name("api"),
        deduplication_id: unique_name("content"),
        body,
        group_id: group_id.to_owned(),
        sent_timestamp: chrono::Utc::now().timestamp_millis().to_string(),
    }
}

// ---------------------------------------------------------------------------
// Clients and senders
// ---------------------------------------------------------------------------

/// Limits under which the invocation's deadline, not the SDK, cuts a
/// stalled call: attempts longer than the whole invocation.
pub fn stall_limits() -> CallLimits {
    CallLimits {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(10),
        operation: Duration::from_secs(20),
        max_attempts: 3,
    }
}

/// The SDK configuration the handlers build (`load_sdk_config_with`),
/// every client pointed at the fault proxy.
pub async fn through(proxy: &HttpFaultProxy, limits: CallLimits) -> SdkConfig {
    proxy.sdk_config(&load_sdk_config_with(&limits).await)
}

/// The SMS sender as send-sms's cold start builds it (the opted-out numbers
/// loaded through `sdk` once).
pub async fn sms_sender(sdk: &SdkConfig) -> SmsSender {
    let sns = Sns::new(sdk);
    let opt_outs = OptOuts::load(&sns, Duration::from_secs(300)).await;
    SmsSender { sns, options: SmsOptions { sms_type: "Transactional".into(), sender_id: None }, opt_outs }
}

/// An SES sender whose identity is verified in moto (straight, not through
/// any proxy).
pub async fn email_sender(sdk: &SdkConfig) -> EmailSender {
    let from_address = format!("{}@torium.example", unique_name("noreply"));
    Ses::new(&moto::sdk_config().await)
        .client()
        .create_email_identity()
        .email_identity(&from_address)
        .send()
        .await
        .expect("verify the sender in moto");
    EmailSender { ses: Ses::new(sdk), options: EmailOptions { from_address, configuration_set: None } }
}

pub fn push_sender(sdk: &SdkConfig) -> PushSender {
    PushSender { publisher: SnsPushPublisher { sns: Sns::new(sdk) } }
}

/// A Store whose pool connects through a TCP fault proxy in front of the
/// test database's PostgreSQL (a "restart" is then one call away).
pub fn store_through_proxy(db: &TestDatabase) -> (TcpFaultProxy, Store) {
    let proxy = TcpFaultProxy::start(socket_addr_of(&db.url, 5432));
    let settings = DbSettings::from_url(&proxy.redirect(&db.url), SslMode::Disable).expect("proxied database URL");
    let pool = connect_pool(&settings).expect("pool through the proxy");
    (proxy, Store::new(pool))
}

/// Restarts PostgreSQL as clients see it (every open connection cut, new
/// ones refused for `down`) as soon as `proxy` has seen `n` calls of
/// `operation`; gives up when `done` is set or after 60 s. The number of
/// connections cut, if it happened.
pub async fn restart_when(
    proxy: &HttpFaultProxy,
    operation: &str,
    n: usize,
    postgres: &TcpFaultProxy,
    down: Duration,
    done: &AtomicBool,
) -> Option<usize> {
    let step = Duration::from_millis(2);
    for _ in 0..30_000 {
        if proxy.calls(operation) >= n {
            let cut = postgres.cut_all();
            postgres.refuse_for(down);
            return Some(cut);
        }
        if done.load(Ordering::SeqCst) {
            return None;
        }
        tokio::time::sleep(step).await;
    }
    None
}

// ---------------------------------------------------------------------------
// SQS redelivery
// ---------------------------------------------------------------------------

/// What the redelivery took.
#[derive(Debug, Default, Clone, Copy)]
pub struct Redelivery {
    pub invocations: usize,
    /// Messages handed back (batch item failures, or a whole batch when the
    /// invocation failed), summed over invocations.
    pub returned: usize,
}

pub fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

/// Hands `messages` to `invoke` as Lambda's event source does for a FIFO
/// queue: batches of at most ten in queue order; what an invocation returns
/// (the ids it names) stays queued in its place and comes again in a later
/// batch, after [`VISIBILITY_PAUSE`]; the rest is deleted. Bounded: the
/// batches the messages need plus [`MAX_REDELIVERIES`] invocations.
pub async fn drive(
    mut pending: Vec<ReceivedMessage>,
    mut invoke: impl AsyncFnMut(Vec<ReceivedMessage>) -> Vec<String>,
) -> Result<Redelivery, String> {
    let budget = pending.len().div_ceil(10) + MAX_REDELIVERIES;
    let mut done = Redelivery::default();
    for _ in 0..budget {
        if pending.is_empty() {
            break;
        }
        let batch: Vec<ReceivedMessage> = pending.iter().take(10).cloned().collect();
        let in_batch: HashSet<String> = batch.iter().map(|m| m.message_id.clone()).collect();
        let returned: HashSet<String> = invoke(batch).await.into_iter().filter(|id| in_batch.contains(id)).collect();
        done.invocations += 1;
        done.returned += returned.len();
        pending.retain(|m| !in_batch.contains(&m.message_id) || returned.contains(&m.message_id));
        if !returned.is_empty() {
            tokio::time::sleep(VISIBILITY_PAUSE).await;
        }
    }
    if pending.is_empty() {
        Ok(done)
    } else {
        Err(format!(
            "{} messages still returned after {} invocations (at most {MAX_REDELIVERIES} redeliveries)",
            pending.len(),
            done.invocations
        ))
    }
}

/// [`drive`] through `deliver_batch` in-process, a new deadline per invocation.
pub async fn deliver_all(
    store: &Store,
    sender: &impl ChannelSender,
    consumer: &Consumer<SqsDeadLetters>,
    deadline: impl Fn() -> Deadline,
    messages: Vec<ReceivedMessage>,
) -> Result<Redelivery, String> {
    drive(messages, async |batch| {
        failed_ids(&deliver_batch(store, sender, consumer, &deadline(), &sqs_event(&batch)).await)
    })
    .await
}

// ---------------------------------------------------------------------------
// moto's record
// ---------------------------------------------------------------------------

/// What moto recorded as sent, read once.
pub struct Recorded {
    sms: Vec<(String, String)>,
    emails: Vec<(Vec<String>, String)>,
    pushes: HashMap<String, Vec<String>>,
}

/// moto's `/moto-api/data.json` as it is sent (keys in moto's order).
fn data_json() -> String {
    use std::io::{Read, Write};
    let endpoint = required_env("AWS_ENDPOINT_URL");
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).expect("moto");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    write!(stream, "GET /moto-api/data.json HTTP/1.0\r\nHost: {authority}\r\n\r\n").expect("request to moto");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response from moto");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response from moto");
    assert!(head.contains(" 200 "), "moto answered {head}");
    body.to_owned()
}

/// One read of moto's `/moto-api/data.json`.
pub fn recorded() -> Recorded {
    let raw = data_json();
    let data: Value = serde_json::from_str(&raw).expect("moto's data.json is JSON");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let list = |service: &str, model: &str| data[service][model].as_array().cloned().unwrap_or_default();
    let sms = list("sns", "SMS").iter().map(|s| (text(&s["phone_number"]), text(&s["message"]))).collect();
    let emails = list("ses", "Message")
        .iter()
        .map(|m| {
            let to =
                m["destinations"]["ToAddresses"].as_array().map(|a| a.iter().map(text).collect()).unwrap_or_default();
            (to, format!("{}\n{}", text(&m["subject"]), text(&m["body"])))
        })
        .collect();
    let pushes = list("sns", "PlatformEndpoint")
        .iter()
        .map(|e| {
            // A JSON object keyed by message id, which serde_json sorts: moto's
            // order is where each id stands in the text moto sent.
            let mut messages: Vec<(usize, String)> = e["messages"]
                .as_object()
                .map(|m| {
                    m.iter().map(|(id, v)| (raw.find(&format!("\"{id}\"")).unwrap_or(usize::MAX), text(v))).collect()
                })
                .unwrap_or_default();
            messages.sort();
            (text(&e["arn"]), messages.into_iter().map(|(_, m)| m).collect())
        })
        .collect();
    Recorded { sms, emails, pushes }
}

impl Recorded {
    /// What reached a contact, in moto's order.
    pub fn texts(&self, contact: &Contact) -> Vec<&str> {
        match contact {
            Contact::Phone(phone) => self.sms.iter().filter(|(p, _)| p == phone).map(|(_, t)| t.as_str()).collect(),
            Contact::Email(address) => {
                self.emails.iter().filter(|(to, _)| to.contains(address)).map(|(_, t)| t.as_str()).collect()
            }
            Contact::Endpoint(arn) => {
                self.pushes.get(arn).map(|m| m.iter().map(String::as_str).collect()).unwrap_or_default()
            }
        }
    }
}

/// What the scenario's people received, against what was due to them.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// People with something due.
    pub people: usize,
    /// People who got every reminder due to them (at least once).
    pub sent: usize,
    /// Copies beyond the first of a reminder, and reminders never due.
    pub duplicates: usize,
    /// People missing a reminder due to them.
    pub lost: usize,
    pub out_of_order: Vec<String>,
    pub details: Vec<String>,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.people += other.people;
        self.sent += other.sent;
        self.duplicates += other.duplicates;
        self.lost += other.lost;
        self.out_of_order.extend(other.out_of_order);
        self.details.extend(other.details);
    }
}

/// Tallies `people` against moto's record. `markers` are (label, marker)
/// pairs: a recorded text is the reminder whose marker it contains. With
/// `ordered`, a person's reminders must have reached them in their queue order.
pub fn tally(people: &[Person], recorded: &Recorded, markers: &[(String, String)], ordered: bool) -> Tally {
    let label = |marker: &str| {
        markers.iter().find(|(_, m)| m == marker).map(|(l, _)| l.clone()).unwrap_or_else(|| marker.to_owned())
    };
    let mut t = Tally { people: people.len(), ..Default::default() };
    for person in people {
        let got: Vec<&str> = recorded
            .texts(&person.contact)
            .into_iter()
            .filter_map(|text| markers.iter().find(|(_, m)| text.contains(m.as_str())).map(|(_, m)| m.as_str()))
            .collect();
        let mut missing = 0;
        let mut extra = 0;
        let distinct: HashSet<&str> = person.due.iter().map(String::as_str).chain(got.iter().copied()).collect();
        for marker in distinct {
            let due = person.due.iter().filter(|m| *m == marker).count();
            let copies = got.iter().filter(|m| **m == marker).count();
            missing += due.saturating_sub(copies);
            extra += copies.saturating_sub(due);
        }
        t.duplicates += extra;
        if missing == 0 {
            t.sent += 1;
        } else {
            t.lost += 1;
        }
        let labels = |markers: &mut dyn Iterator<Item = &str>| markers.map(label).collect::<Vec<_>>().join(",");
        if missing > 0 || extra > 0 {
            t.details.push(format!(
                "user {} ({:?}): due [{}], moto recorded [{}]",
                person.user_id,
                person.contact,
                labels(&mut person.due.iter().map(String::as_str)),
                labels(&mut got.iter().copied())
            ));
        } else if ordered && got.iter().copied().ne(person.due.iter().map(String::as_str)) {
            t.out_of_order.push(format!(
                "user {}: queued [{}], moto recorded [{}]",
                person.user_id,
                labels(&mut person.due.iter().map(String::as_str)),
                labels(&mut got.iter().copied())
            ));
        }
    }
    t
}

// ---------------------------------------------------------------------------
// The real send-sms binary
// ---------------------------------------------------------------------------

/// The environment the template gives send-sms, pointed at `endpoint` (moto
/// or a fault proxy) and the test database, with `settings` on top.
pub fn sms_env(db_url: &str, endpoint: &str, dlq_url: &str, settings: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = test_env(db_url);
    let mut set = |key: &str, value: &str| {
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    };
    set("AWS_ENDPOINT_URL", endpoint);
    set("SEND_SMS_DLQ_URL", dlq_url);
    set("SMS_TYPE", "Transactional");
    for (key, value) in settings {
        set(key, value);
    }
    env
}

/// How one invocation of the binary went.
#[derive(Debug, Clone)]
pub struct Invoked {
    pub killed: bool,
    pub duration: Duration,
    pub result: Result<Value, String>,
}

/// send-sms run as Lambda runs it; a process killed (or dead) is replaced
/// by a fresh one on the next invocation.
pub struct SmsFunction {
    api: RuntimeApi,
    process: Option<FunctionProcess>,
    binary: PathBuf,
    env: Vec<(String, String)>,
    pub timeout: Duration,
    pub invocations: Vec<Invoked>,
    pub processes: usize,
    /// The logs of the processes that ended (kept, as their files go).
    ended_logs: String,
}

impl SmsFunction {
    /// A fresh process, cold-starting at once.
    pub fn start(env: Vec<(String, String)>, timeout: Duration) -> SmsFunction {
        let binary = function_binary("send-sms");
        let mut function = SmsFunction {
            api: RuntimeApi::start(),
            process: None,
            binary,
            env,
            timeout,
            invocations: Vec::new(),
            processes: 0,
            ended_logs: String::new(),
        };
        function.ensure_process();
        function
    }

    fn ensure_process(&mut self) -> &mut FunctionProcess {
        if self.process.as_mut().is_some_and(|p| !p.is_running()) {
            self.retire();
        }
        if self.process.is_none() {
            self.processes += 1;
            self.process = Some(FunctionProcess::spawn(&self.binary, &self.api, &self.env));
        }
        self.process.as_mut().expect("a process")
    }

    fn retire(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            self.ended_logs.push_str(&process.log());
        }
    }

    /// One invocation as Lambda makes it (killed at the deadline); the ids
    /// SQS gets back: the batch item failures, or the whole batch when the
    /// invocation failed or was killed.
    pub async fn invoke(&mut self, batch: &[ReceivedMessage]) -> Vec<String> {
        self.invoke_event(&sqs_event(batch)).await
    }

    pub async fn invoke_event(&mut self, event: &SqsEvent) -> Vec<String> {
        let json = serde_json::to_value(event).expect("SQS event as JSON");
        self.ensure_process();
        let process = self.process.as_mut().expect("a process");
        let outcome = invoke_like_lambda(&self.api, process, json, self.timeout).await;
        let invoked = Invoked { killed: outcome.killed, duration: outcome.duration, result: outcome.result };
        let returned = returned_ids(&invoked.result, event);
        if invoked.killed {
            self.retire();
        }
        self.invocations.push(invoked);
        returned
    }

    /// Invokes, then SIGKILLs the process `after` it took the event, whatever
    /// it is doing. The ids SQS gets back (all of them unless it answered
    /// first), and whether the kill came before the answer.
    pub async fn invoke_and_kill(
        &mut self,
        batch: &[ReceivedMessage],
        after: Duration,
    ) -> Result<(Vec<String>, bool), String> {
        let event = sqs_event(batch);
        let json = serde_json::to_value(&event).expect("SQS event as JSON");
        self.ensure_process();
        let invocation = self.api.invoke(json, self.timeout);
        if invocation.taken(INIT_LIMIT).await.is_none() {
            let log = self.log_excerpt(20);
            self.retire();
            return Err(format!("send-sms never took the event within {INIT_LIMIT:?}\n{log}"));
        }
        let taken = Instant::now();
        tokio::time::sleep(after).await;
        let answered = invocation.outcome();
        self.retire();
        let killed_first = answered.is_none();
        let result = answered.unwrap_or_else(|| Err("SIGKILL".to_owned()));
        let returned = returned_ids(&result, &event);
        self.invocations.push(Invoked { killed: killed_first, duration: taken.elapsed(), result });
        Ok((returned, killed_first))
    }

    /// The WARN and ERROR lines every process of this function logged.
    pub fn log_excerpt(&self, max: usize) -> String {
        let current = self.process.as_ref().map(|p| p.log()).unwrap_or_default();
        crate::logs::warnings(&format!("{}{current}", self.ended_logs), max)
    }
}

impl Drop for SmsFunction {
    fn drop(&mut self) {
        self.retire();
    }
}

/// What SQS gets back from an invocation's result.
fn returned_ids(result: &Result<Value, String>, event: &SqsEvent) -> Vec<String> {
    let all = || event.records.iter().filter_map(|r| r.message_id.clone()).collect();
    match result {
        Ok(response) => match response.get("batchItemFailures").and_then(Value::as_array) {
            Some(failures) => failures
                .iter()
                .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            // A response that is not a batch response: the whole batch failed.
            None => all(),
        },
        Err(_) => all(),
    }
}

// ---------------------------------------------------------------------------
// After a fan-out or a scheduler run under faults
// ---------------------------------------------------------------------------

impl Scene {
    /// The channel queues must hold each expected (user, event) send exactly
    /// once; then the senders (no faults) deliver them, and moto must have
    /// recorded each person's reminders exactly once, in queue order (pushes
    /// counted), with every log row sent.
    pub async fn check_sends_then_deliver(&self, outcome: &mut Outcome, expected: &[(i64, i64)]) {
        // A fan-out that ran out of time continues through its own queue.
        for _ in 0..MAX_REDELIVERIES {
            let continued = take_all(self.sqs.client(), &self.notifications_url).await;
            if continued.is_empty() {
                break;
            }
            if let Err(error) = self.fan_out_messages(continued).await {
                outcome.failures.push(format!("continuing a fan-out: {error}"));
            }
        }
        let mut queued = Vec::new();
        for channel in [Channel::Sms, Channel::Email, Channel::Push] {
            queued.push((channel, self.take(channel).await));
        }
        let all: Vec<ReceivedMessage> = queued.iter().flat_map(|(_, m)| m.iter().cloned()).collect();
        let copies = self.queue_copies(&all);
        let wrong: Vec<String> = expected
            .iter()
            .map(|key| (key, copies.get(key).copied().unwrap_or(0)))
            .filter(|(_, n)| *n != 1)
            .map(|((user, event), n)| format!("user {user}, event {event}: {n} in the channel queue"))
            .chain(
                copies.keys().filter(|k| !expected.contains(k)).map(|(u, e)| format!("user {u}, event {e}: not due")),
            )
            .collect();
        outcome.check(wrong.is_empty(), || {
            format!("channel queues: each send once expected; {} wrong: {}", wrong.len(), wrong.join("; "))
        });
        let mut tallied = Tally::default();
        let record_people: Vec<(Channel, Vec<Person>)> =
            queued.iter().map(|(channel, messages)| (*channel, self.expected(messages))).collect();
        for (channel, messages) in queued {
            if let Err(error) = self.deliver_direct(channel, messages).await {
                outcome.failures.push(format!("delivering the {channel} queue: {error}"));
            }
        }
        let record = recorded();
        let markers = self.markers();
        let mut due = 0;
        for (_, people) in &record_people {
            due += people.iter().map(|p| p.due.len()).sum::<usize>();
            tallied += tally(people, &record, &markers, true);
        }
        // Everyone expected, even one the queues never held.
        let queued_people: HashSet<i64> = record_people.iter().flat_map(|(_, p)| p.iter().map(|p| p.user_id)).collect();
        let never_queued: HashSet<i64> =
            expected.iter().map(|(user, _)| *user).filter(|u| !queued_people.contains(u)).collect();
        tallied.people += never_queued.len();
        tallied.lost += never_queued.len();
        outcome.tally = tallied;
        outcome.exactly_once("moto's record");
        self.check_log(outcome, due).await;
    }

    /// Events still due at [`trigger`].
    pub async fn due_events(&self) -> i64 {
        self.db
            .client()
            .await
            .query_one("SELECT count(*) FROM events WHERE next_reminder_at <= $1", &[&trigger()])
            .await
            .expect("due events")
            .get(0)
    }

    /// schedule-events run for [`trigger`] again and again (a retried or the
    /// next invocation) until a run succeeds with nothing left due; at most
    /// [`MAX_REDELIVERIES`] runs. The errors of the failed runs.
    pub async fn run_scheduler_until_done(
        &self,
        store: &Store,
        queue: &impl torium_aws::MessageQueue,
        config: &schedule_events::SchedulerConfig,
        pause: Duration,
    ) -> Result<Vec<String>, String> {
        let mut errors = Vec::new();
        for _ in 0..MAX_REDELIVERIES {
            let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(2));
            let run = schedule_events::run_scheduler(store, queue, config, &deadline, trigger()).await;
            let due = self.due_events().await;
            match run {
                Ok(_) if due == 0 => return Ok(errors),
                Ok(summary) => errors.push(format!("run succeeded ({summary:?}) with {due} events still due")),
                Err(error) => errors.push(error.to_string()),
            }
            tokio::time::sleep(pause).await;
        }
        Err(format!(
            "still {} events due after {MAX_REDELIVERIES} runs: {}",
            self.due_events().await,
            errors.join("; ")
        ))
    }

    /// The schedule-notifications queue must hold each event's firing exactly
    /// once; then they are fanned out (no faults) and the sends checked and
    /// delivered as [`Scene::check_sends_then_deliver`] does.
    pub async fn check_due_then_fan_out(&self, outcome: &mut Outcome, expected: &[(i64, i64)]) {
        let due = take_all(self.sqs.client(), &self.notifications_url).await;
        let mut copies: BTreeMap<i64, usize> = BTreeMap::new();
        for m in &due {
            let firing = ReminderDue::parse(&m.body).expect("a reminder-due body");
            *copies.entry(firing.event_id.0).or_default() += 1;
        }
        let events: HashSet<i64> = expected.iter().map(|(_, e)| *e).collect();
        let wrong: Vec<String> = events
            .iter()
            .map(|e| (e, copies.get(e).copied().unwrap_or(0)))
            .filter(|(_, n)| *n != 1)
            .map(|(e, n)| format!("event {e}: {n}"))
            .collect();
        outcome.check(wrong.is_empty() && copies.len() == events.len(), || {
            format!("schedule-notifications queue: each firing once expected; {}", wrong.join("; "))
        });
        if let Err(error) = self.fan_out_messages(due).await {
            outcome.failures.push(format!("fan-out of the due firings: {error}"));
        }
        self.check_sends_then_deliver(outcome, expected).await;
    }
}
