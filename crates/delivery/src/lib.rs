//! The delivery flow of send-sms, send-email and send-push. Per SQS batch,
//! under the FIFO rule of [`FifoBatch`] (a failure holds back only the later
//! messages of its group, one per user):
//!
//! 1. read every body as a [`Delivery`] for this sender's channel; one that
//!    is not (not JSON, another channel's, a missing field) is poison: set
//!    aside in the dead-letter queue at once, holding back nobody;
//! 2. claim the log rows of the readable ones in one statement
//!    (`event_reminders_logs`, unique on reminder + user): a row already
//!    `sent` means the person has it, acknowledge and do nothing (so does a
//!    row `skipped`, or `deferred` and waiting for its release); a message
//!    whose reminder or user no longer exists is acknowledged with a log line;
//! 3. decide at the handled time ([`send_decision`]): a stale reminder (its
//!    event started, or a periodical firing past its lateness bound unless
//!    released from quiet hours) is `skipped` with the reason; one inside
//!    the member's quiet hours, on a channel that holds
//!    ([`ChannelSender::holds_in_quiet_hours`]), is `deferred` until the
//!    window's end with its body kept, and acknowledged: schedule-events
//!    releases it. A released row is never held again. A crash before that
//!    write leaves the row `pending` and the message unacknowledged: the
//!    redelivery decides again;
//! 4. send in order through the channel's [`ChannelSender`], each call
//!    bounded by the invocation's deadline: accepted → `sent` with the
//!    provider's message id; a permanent refusal → `failed`, acknowledged
//!    (never retried forever); a transient one (throttling, 5xx, a timeout,
//!    the deadline) → `failed` and returned with the later messages of that
//!    user. Near the deadline no new send starts: the rest is returned;
//! 5. record each outcome as soon as its provider call returns (retried
//!    while the database is away, up to the end of the invocation's margin),
//!    so what was sent is never sent again.
//!
//! Only a crash no code can catch (SIGKILL, the instance lost) between a
//! provider call and the write of its outcome leaves a row `pending`: SQS
//! redelivers the batch and that one message is sent again, a rare duplicate
//! rather than a lost reminder (see docs/architecture.md).

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use torium_aws::AwsError;
use torium_domain::{
    Addressed, Channel, Delivery, DeliveryKey, DeliveryOutcome, DeliveryStatus, MessageError, SendDecision, UserEffect,
    member_zone, send_decision,
};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use torium_runtime::metrics::{self, Measure, Metrics};
use torium_runtime::{Clock, Consumer, DeadLetterQueue, Deadline, FifoBatch, RecordOutcome, body_of, set_aside};
use torium_store::{DeliveryLog, ReminderClaim, Store, StoreError, Unsent};
use tracing::{Instrument, instrument};

#[cfg(feature = "push")]
mod push;
#[cfg(feature = "push")]
pub use push::{PushPublisher, SnsPushPublisher};

/// Why a provider did not accept a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// Throttling, a 5xx, a timeout: SQS retries the message.
    Transient(String),
    /// The message can never be delivered as it is (invalid number, opted
    /// out, disabled endpoint, rejected address): logged, acknowledged.
    Permanent {
        /// The provider's refusal, as logged on the row.
        error: String,
        /// What the refusal says about the user's address, if anything.
        user_effect: Option<UserEffect>,
    },
}

impl SendFailure {
    /// Refused for good, with nothing to note on the user.
    pub fn permanent(error: impl Into<String>) -> Self {
        SendFailure::Permanent { error: error.into(), user_effect: None }
    }

    /// A provider's refusal: transient when the SDK says so or its code is
    /// one of `transient_codes` (a refusal that hits every message alike);
    /// otherwise permanent, with what `user_effect` reads from it about the
    /// user's address.
    pub fn from_provider(
        error: AwsError,
        transient_codes: &[&str],
        user_effect: impl FnOnce(&AwsError) -> Option<UserEffect>,
    ) -> Self {
        if error.is_transient() || error.code.as_deref().is_some_and(|c| transient_codes.contains(&c)) {
            return SendFailure::Transient(error.to_string());
        }
        let user_effect = user_effect(&error);
        SendFailure::Permanent { error: error.to_string(), user_effect }
    }
}

/// One channel's provider.
pub trait ChannelSender: Send + Sync {
    /// The channel whose queue this sender consumes.
    fn channel(&self) -> Channel;

    /// Delivers one message, its receiver already parsed; returns the
    /// provider's message id.
    fn send(&self, message: &Addressed<'_>) -> impl Future<Output = Result<String, SendFailure>> + Send;

    /// Whether this channel holds deliveries in the member's quiet hours:
    /// by default SMS and push do, email does not ([`QuietHoursSetting`]
    /// sets it from `HOLD_IN_QUIET_HOURS`).
    fn holds_in_quiet_hours(&self) -> bool {
        holds_by_default(self.channel())
    }
}

/// SMS and push wake people up; email waits in the inbox.
pub fn holds_by_default(channel: Channel) -> bool {
    channel != Channel::Email
}

/// A sender with its channel's quiet-hours setting, which each sender's
/// cold start reads from `HOLD_IN_QUIET_HOURS` (`true` / `false`; default
/// [`holds_by_default`]).
pub struct QuietHoursSetting<S> {
    /// The channel's provider.
    pub sender: S,
    /// Whether it holds deliveries in the member's quiet hours.
    pub hold: bool,
}

impl<S: ChannelSender> ChannelSender for QuietHoursSetting<S> {
    fn channel(&self) -> Channel {
        self.sender.channel()
    }

    fn send(&self, message: &Addressed<'_>) -> impl Future<Output = Result<String, SendFailure>> + Send {
        self.sender.send(message)
    }

    fn holds_in_quiet_hours(&self) -> bool {
        self.hold
    }
}

/// What a batch did, for logs, metrics and tests.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchSummary {
    /// Accepted by the provider in this batch.
    pub sent: usize,
    /// Accepted before (a redelivery, or a copy within the batch).
    pub already_sent: usize,
    /// Refused for good: `failed`, acknowledged.
    pub failed_permanently: usize,
    /// Their reminder or user no longer exists: acknowledged.
    pub unknown: usize,
    /// Not a delivery for this queue: set aside in the dead-letter queue.
    pub set_aside: usize,
    /// Given back to SQS to be retried.
    pub returned_for_retry: usize,
    /// Stale at the handled time: `skipped` with the reason.
    pub skipped: usize,
    /// Held in the member's quiet hours: `deferred` until the window's end
    /// (and held ones redelivered while waiting for their release).
    pub deferred: usize,
    /// Each sent delivery's lateness: provider accept minus trigger time.
    pub lateness_ms: Vec<f64>,
}

impl BatchSummary {
    /// The batch as EMF metrics: deliveries by channel and outcome, and the
    /// lateness of each (by channel, and across the namespace for alarms).
    fn report(&self, channel: Channel, metrics: &Metrics) {
        for (outcome, count) in [
            ("sent", self.sent),
            ("failed", self.failed_permanently),
            ("already_sent", self.already_sent),
            ("unknown", self.unknown),
            ("set_aside", self.set_aside),
            ("returned", self.returned_for_retry),
            ("skipped", self.skipped),
            ("deferred", self.deferred),
        ] {
            if count > 0 {
                metrics.emit(
                    &[("Channel", channel.as_str()), ("Outcome", outcome)],
                    &[&["Channel", "Outcome"], &["Outcome"]],
                    &[Measure::count(metrics::DELIVERIES, &[count as f64])],
                );
            }
        }
        for lateness in self.lateness_ms.chunks(100) {
            metrics.emit(
                &[("Channel", channel.as_str())],
                &[&["Channel"], &[]],
                &[Measure::millis(metrics::DELIVERY_LATENESS, lateness)],
            );
        }
    }
}

impl std::ops::AddAssign for BatchSummary {
    fn add_assign(&mut self, other: Self) {
        self.sent += other.sent;
        self.already_sent += other.already_sent;
        self.failed_permanently += other.failed_permanently;
        self.unknown += other.unknown;
        self.set_aside += other.set_aside;
        self.returned_for_retry += other.returned_for_retry;
        self.skipped += other.skipped;
        self.deferred += other.deferred;
        self.lateness_ms.extend(other.lateness_ms);
    }
}

#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("message has no body")]
    EmptyBody,
    #[error("not a delivery: {0}")]
    Malformed(#[from] MessageError),
    #[error("a {found} delivery on the {expected} queue")]
    WrongChannel { found: Channel, expected: Channel },
}

fn read(record: &SqsMessage, channel: Channel) -> Result<Delivery, Unreadable> {
    let body = body_of(record).ok_or(Unreadable::EmptyBody)?;
    let delivery = Delivery::parse(body)?;
    if delivery.channel() != channel {
        return Err(Unreadable::WrongChannel { found: delivery.channel(), expected: channel });
    }
    Ok(delivery)
}

fn key(delivery: &Delivery) -> DeliveryKey {
    DeliveryKey::reminder(delivery.reminder_id, delivery.user_id)
}

/// Runs the flow on one SQS batch, in a span with the sender's channel.
#[instrument(skip_all, fields(channel = %sender.channel(), messages = event.records.len()))]
pub async fn deliver_batch(
    store: &Store,
    sender: &impl ChannelSender,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    event: &SqsEvent,
) -> SqsBatchResponse {
    let mut batch = FifoBatch::new(&event.records);
    // Boxed: the flow's future is deep, and a caller nesting this one in
    // its own (the fault suite does) would pass the compiler's layout depth.
    let summary = Box::pin(deliver(store, sender, consumer, deadline, &mut batch)).await;
    summary.report(sender.channel(), &consumer.metrics);
    consumer.report_batch(summary.returned_for_retry, summary.set_aside);
    tracing::info!(
        sent = summary.sent,
        already_sent = summary.already_sent,
        failed_permanently = summary.failed_permanently,
        unknown = summary.unknown,
        set_aside = summary.set_aside,
        returned_for_retry = summary.returned_for_retry,
        skipped = summary.skipped,
        deferred = summary.deferred,
        "delivery batch done"
    );
    batch.response()
}

/// The flow itself, on a batch whose state it updates: up to
/// `consumer.group_concurrency` users' messages at once, each user's in order.
pub async fn deliver(
    store: &Store,
    sender: &impl ChannelSender,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    batch: &mut FifoBatch<'_>,
) -> BatchSummary {
    let mut summary = BatchSummary::default();
    let deliveries = read_batch(sender.channel(), consumer, deadline, batch, &mut summary).await;
    let claimed = match claim(store, sender.channel(), deadline, &deliveries).await {
        Ok(claimed) => claimed,
        Err(error) => return give_back(batch, &deliveries, summary, &error),
    };
    let flow = Flow { store, sender, deadline, clock: &consumer.clock, claimed: &claimed };
    let runs: Vec<(Vec<(usize, RecordOutcome)>, BatchSummary)> = stream::iter(groups_of(batch, &deliveries))
        .map(|group| flow.send_group(group))
        .buffer_unordered(consumer.group_concurrency.max(1))
        .collect()
        .await;
    for (outcomes, counts) in runs {
        batch.apply(&outcomes);
        summary += counts;
    }
    summary.returned_for_retry = batch.returned();
    summary
}

/// Step 2: the log rows of every readable delivery, claimed in one
/// statement; the error's text when the database could not.
async fn claim(
    store: &Store,
    channel: Channel,
    deadline: &Deadline,
    deliveries: &[Option<Delivery>],
) -> Result<HashMap<DeliveryKey, ReminderClaim>, String> {
    let claims: Vec<_> = deliveries.iter().flatten().map(|d| (key(d), channel)).collect();
    match deadline.bound(store.claim_reminder_deliveries(&claims)).await {
        Ok(Ok(rows)) => Ok(rows.into_iter().collect()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(reached) => Err(reached.to_string()),
    }
}

/// The batch's message groups (one per user, in order), each with its
/// readable deliveries and their record indexes.
fn groups_of<'d>(batch: &FifoBatch<'_>, deliveries: &'d [Option<Delivery>]) -> Vec<Vec<(usize, &'d Delivery)>> {
    batch
        .groups()
        .into_iter()
        .map(|indexes| indexes.into_iter().filter_map(|i| deliveries[i].as_ref().map(|d| (i, d))).collect())
        .collect()
}

/// Step 1: each record's delivery (`None` where it is not one); poison set
/// aside and marked done.
async fn read_batch(
    channel: Channel,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    batch: &mut FifoBatch<'_>,
    summary: &mut BatchSummary,
) -> Vec<Option<Delivery>> {
    let mut deliveries = Vec::with_capacity(batch.records().len());
    for (index, record) in batch.records().iter().enumerate() {
        match read(record, channel) {
            Ok(delivery) => deliveries.push(Some(delivery)),
            Err(error) => {
                summary.set_aside += 1;
                let outcome = set_aside(record, &error.to_string(), &consumer.dead_letters, deadline).await;
                batch.apply(&[(index, outcome)]);
                deliveries.push(None);
            }
        }
    }
    deliveries
}

/// The database could not claim the batch: every delivery goes back.
fn give_back(
    batch: &mut FifoBatch<'_>,
    deliveries: &[Option<Delivery>],
    mut summary: BatchSummary,
    error: &str,
) -> BatchSummary {
    tracing::error!(%error, "claiming the delivery log failed; the batch's deliveries are retried");
    for (index, _) in deliveries.iter().enumerate().filter(|(_, d)| d.is_some()) {
        batch.retry(index);
    }
    summary.returned_for_retry = batch.returned();
    summary
}

/// What sending a batch's claimed deliveries needs, shared by its groups.
struct Flow<'a, S> {
    store: &'a Store,
    sender: &'a S,
    deadline: &'a Deadline,
    clock: &'a Clock,
    claimed: &'a HashMap<DeliveryKey, ReminderClaim>,
}

impl<S: ChannelSender> Flow<'_, S> {
    /// Steps 3 to 5 for one message group (one user), in order: sends what
    /// the claim left to send and records each outcome at once; stops at the
    /// first message to retry (the rest of the group goes back behind it).
    /// Each delivery runs in a span with its ids.
    async fn send_group(&self, group: Vec<(usize, &Delivery)>) -> (Vec<(usize, RecordOutcome)>, BatchSummary) {
        let mut summary = BatchSummary::default();
        let mut outcomes = Vec::with_capacity(group.len());
        let mut handled: HashSet<DeliveryKey> = HashSet::new();
        for (index, delivery) in group {
            if self.deadline.is_reached() {
                tracing::warn!("the deadline is near: the deliveries not sent yet go back to SQS");
                break;
            }
            let span = tracing::info_span!(
                "delivery",
                event_id = delivery.event_id.0,
                reminder_id = delivery.reminder_id.0,
                user_id = delivery.user_id.0
            );
            let now = self.clock.now();
            let outcome = match span.in_scope(|| self.to_act_on(delivery, now, &mut handled, &mut summary)) {
                Some(claim) => self.decide_and_act(now, delivery, &claim, &mut summary).instrument(span).await,
                None => RecordOutcome::Done,
            };
            outcomes.push((index, outcome));
            if outcome == RecordOutcome::Retry {
                break;
            }
        }
        (outcomes, summary)
    }

    /// The claim to decide on for one delivery, or `None` when it is
    /// acknowledged as it stands (gone, sent, skipped, held, a copy of one
    /// `handled` already), counted in `summary`.
    fn to_act_on(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
        handled: &mut HashSet<DeliveryKey>,
        summary: &mut BatchSummary,
    ) -> Option<Cow<'_, ReminderClaim>> {
        let key = key(delivery);
        let Some(claim) = self.claimed.get(&key) else {
            tracing::warn!("reminder or user no longer exists; acknowledged");
            summary.unknown += 1;
            return None;
        };
        match &claim.status {
            // Sent before (and maybe reported on since: delivered, bounced…).
            status if status.was_accepted() => summary.already_sent += 1,
            // Not sent for good.
            DeliveryStatus::Skipped => summary.skipped += 1,
            // Held, and still in the quiet hours: its release re-sends it.
            DeliveryStatus::Deferred if claim.deferred_until.is_none_or(|u| u > now) => summary.deferred += 1,
            _ if !handled.insert(key) => summary.already_sent += 1,
            // Held, and its time has come, but the release has not committed
            // (it is running, or crashed after sending this copy): sent now,
            // as released; the release then finds the row no longer deferred.
            DeliveryStatus::Deferred => return Some(Cow::Owned(ReminderClaim { released: true, ..claim.clone() })),
            _ => return Some(Cow::Borrowed(claim)),
        }
        None
    }

    /// Step 3 for a claimed delivery: sent, skipped (stale) or deferred
    /// (quiet hours), as [`send_decision`] says at the handled time.
    async fn decide_and_act(
        &self,
        now: DateTime<Utc>,
        delivery: &Delivery,
        claim: &ReminderClaim,
        summary: &mut BatchSummary,
    ) -> RecordOutcome {
        let quiet = match claim.quiet_hours {
            Some(hours) if self.sender.holds_in_quiet_hours() => {
                Some((hours, member_zone(claim.user_time_zone.as_deref(), &claim.event_time_zone)))
            }
            _ => None,
        };
        let unsent = match send_decision(delivery.freshness(), now, claim.released, quiet) {
            SendDecision::Send => return self.send_and_record(delivery, summary).await,
            SendDecision::Skip(stale) => {
                tracing::info!(reason = %stale, "stale; skipped, not sent");
                summary.skipped += 1;
                Unsent::Skipped { reason: stale.to_string() }
            }
            SendDecision::Hold(until) => {
                tracing::info!(%until, "inside the member's quiet hours; deferred until their end");
                summary.deferred += 1;
                Unsent::Deferred { until, body: delivery.to_body() }
            }
        };
        let unsent = [(key(delivery), unsent)];
        match self.deadline.bound_final(with_retries(|| self.store.record_unsent_reminders(&unsent))).await {
            Ok(Ok(())) => RecordOutcome::Done,
            Ok(Err(error)) => retry_unrecorded(&error.to_string()),
            Err(reached) => retry_unrecorded(&reached.to_string()),
        }
    }

    /// One delivery sent and its outcome recorded at once.
    async fn send_and_record(&self, delivery: &Delivery, summary: &mut BatchSummary) -> RecordOutcome {
        let (outcome, retry) = send_one(self.sender, self.deadline, delivery, summary).await;
        let outcomes = [(key(delivery), outcome)];
        if let Err(error) = record_in_margin(self.store, DeliveryLog::Reminders, self.deadline, &outcomes).await {
            // Sent but not logged: it goes back to SQS and the person may get a
            // second copy (at least once, never lost).
            tracing::error!(%error, "recording the outcome failed; the message is retried");
            return RecordOutcome::Retry;
        }
        if retry { RecordOutcome::Retry } else { RecordOutcome::Done }
    }
}

fn retry_unrecorded(error: &str) -> RecordOutcome {
    tracing::error!(%error, "recording a skipped or deferred delivery failed; the message is retried");
    RecordOutcome::Retry
}

/// One provider call, bounded by the deadline: the outcome, and whether the
/// message is to be retried.
async fn send_one(
    sender: &impl ChannelSender,
    deadline: &Deadline,
    delivery: &Delivery,
    summary: &mut BatchSummary,
) -> (DeliveryOutcome, bool) {
    // The body's receiver is parsed once, here: a sender gets it typed.
    let message = delivery.addressed();
    let result = match &message {
        Ok(message) => match deadline.bound(sender.send(message)).await {
            Ok(result) => result,
            Err(reached) => Err(SendFailure::Transient(reached.to_string())),
        },
        Err(unusable) => Err(SendFailure::permanent(unusable.to_string())),
    };
    let scrub = |error: &str| message.as_ref().map_or_else(|_| error.to_owned(), |m| scrub(error, m));
    match result {
        Ok(provider_message_id) => {
            tracing::info!(%provider_message_id, "delivered");
            let at = Utc::now();
            summary.sent += 1;
            summary.lateness_ms.push((at - delivery.trigger_at).num_milliseconds() as f64);
            (DeliveryOutcome::Sent { provider_message_id, at }, false)
        }
        Err(SendFailure::Permanent { error, user_effect }) => {
            tracing::warn!(error = %scrub(&error), "refused for good; not retried");
            summary.failed_permanently += 1;
            (DeliveryOutcome::Failed { error, user_effect }, false)
        }
        Err(SendFailure::Transient(error)) => {
            tracing::error!(error = %scrub(&error), "transient failure; retried with the user's later messages");
            (DeliveryOutcome::Failed { error, user_effect: None }, true)
        }
    }
}

/// A provider's error text with the receiver's number or address masked:
/// logs never carry a whole phone number or email address.
fn scrub(error: &str, message: &Addressed<'_>) -> String {
    let whole = match message {
        Addressed::Sms { to, .. } => to.as_str(),
        Addressed::Email { to, .. } => to.as_str(),
        Addressed::Push { .. } => return error.to_owned(),
    };
    error.replace(whole, &message.redacted_receiver())
}

/// A failed write of outcomes means resending what was sent, so it is
/// retried while the database is away (a restart, a failover), with backoff
/// from 100 ms to 1 s, eight attempts at most; the caller bounds it in time.
pub async fn record_with_retries(
    store: &Store,
    log: DeliveryLog,
    outcomes: &[(DeliveryKey, DeliveryOutcome)],
) -> Result<(), StoreError> {
    with_retries(|| store.record_delivery_outcomes(log, outcomes)).await
}

/// A write retried while the database is away, as [`record_with_retries`].
async fn with_retries<F, Fut>(write: F) -> Result<(), StoreError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut attempt: u32 = 0;
    loop {
        match write().await {
            Err(error) if error.is_retryable() && attempt < 7 => {
                attempt += 1;
                let backoff = Duration::from_millis((100u64 << (attempt - 1)).min(1000));
                tracing::warn!(%error, attempt, "recording outcomes failed; retrying");
                tokio::time::sleep(backoff).await;
            }
            result => return result,
        }
    }
}

/// [`record_with_retries`] within the invocation's margin.
pub async fn record_in_margin(
    store: &Store,
    log: DeliveryLog,
    deadline: &Deadline,
    outcomes: &[(DeliveryKey, DeliveryOutcome)],
) -> Result<(), StoreError> {
    deadline
        .bound_final(record_with_retries(store, log, outcomes))
        .await
        .map_err(|reached| StoreError::Unavailable(reached.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use torium_domain::{DeliveryContent, EmailContent, EventId, ReminderId, UserId};

    fn delivery(receiver: &str, content: DeliveryContent) -> Delivery {
        Delivery {
            reminder_id: ReminderId(1),
            event_id: EventId(1),
            user_id: UserId(1),
            trigger_at: Utc.with_ymd_and_hms(2026, 12, 23, 17, 0, 0).unwrap(),
            receiver: receiver.into(),
            content,
            event_starts_at: None,
            late_after: None,
        }
    }

    #[test]
    fn logged_errors_never_carry_the_whole_receiver() {
        let sms = delivery("+48500100200", DeliveryContent::Sms { text: "hi".into() });
        assert_eq!(
            scrub("Invalid parameter: PhoneNumber +48500100200 is not valid", &sms.addressed().unwrap()),
            "Invalid parameter: PhoneNumber +48*******00 is not valid"
        );
        let email = delivery(
            "ala@example.com",
            DeliveryContent::Email(EmailContent { subject: "s".into(), html: "h".into(), text: "t".into() }),
        );
        assert_eq!(
            scrub("Email address is not verified: ala@example.com", &email.addressed().unwrap()),
            "Email address is not verified: a***@example.com"
        );
    }
}
