//! schedule-notifications: consumes `schedule-notifications.fifo` (the
//! scheduler's typed bodies and the HTTP API's legacy "notify now" bodies)
//! and fans each due reminder out to the event's members: one message per
//! member to `send-sms.fifo`, `send-email.fifo` or `send-push.fifo`, with the
//! text already rendered for that member (their bank, their share).
//!
//! A legacy body is the API's "notify now": remind every member now. Its
//! `event_timestamp` is the event's own time (what the texts show); the
//! firing is keyed on the message's `SentTimestamp`, which every redelivery
//! shares and which the API's "once in 24 hours" rule then reads from
//! `event_reminders.trigger_timestamp`. A scheduled firing and a "notify
//! now" are separate firings (`event_reminders.source`).
//!
//! A redelivered message records no second firing (`event_reminders` is
//! unique on event + trigger time + source) and its sends carry the same
//! deduplication ids (reminder + user); the senders' log rows (unique on
//! reminder + user) stop any copy that gets through after SQS's window.
//! Database round trips per message are constant: event, firing, members,
//! unreachable members, whatever the member count; SQS calls are one per
//! ten members.

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use torium_aws::{AwsError, MessageQueue, OutgoingMessage};
use torium_domain::{
    Channel, Delivery, Event, Firing, Freshness, Member, MessageError, ReminderId, ReminderRequest, Stale, UserId,
    member_reminder, route,
};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use torium_runtime::metrics::{self, Measure, Metrics};
use torium_runtime::{
    ChannelQueues, Clock, ConfigError, Consumer, DeadLetterQueue, Deadline, DeadlineReached, Env, MessageFailure,
    process_fifo_batch, sent_at,
};
use torium_store::{Store, StoreError};
use tracing::instrument;

/// Where and how a fan-out sends, from the environment the template sets.
#[derive(Debug, Clone)]
pub struct FanOutConfig {
    /// Where each member's delivery goes, by channel.
    pub channels: ChannelQueues,
    /// `SCHEDULE_NOTIFICATIONS_QUEUE_URL`: this function's own queue, where
    /// a fan-out that runs out of time continues.
    pub continue_queue_url: String,
    /// `FAN_OUT_PAGE_SIZE` (default 1000): members read and enqueued per page.
    pub page_size: i64,
    /// `FAN_OUT_PAGE_BUDGET_MS` (default 15000): a page is started only with
    /// at least this much time left before the invocation's margin.
    pub page_budget: Duration,
    /// `MAX_LATENESS_MINUTES` (default 60, as the scheduler's): a periodical
    /// firing handled later than this after its trigger time is not sent.
    pub max_lateness: TimeDelta,
    /// What "now" is when a firing's freshness is checked: the wall clock,
    /// or a fixed instant in tests.
    pub clock: Clock,
}

impl FanOutConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(FanOutConfig {
            channels: ChannelQueues::new(
                env.required("SEND_SMS_QUEUE_URL")?,
                env.required("SEND_EMAIL_QUEUE_URL")?,
                env.required("SEND_PUSH_QUEUE_URL")?,
            ),
            continue_queue_url: env.required("SCHEDULE_NOTIFICATIONS_QUEUE_URL")?.to_owned(),
            page_size: env.parsed_or("FAN_OUT_PAGE_SIZE", DEFAULT_PAGE_SIZE)?.max(1),
            page_budget: Duration::from_millis(env.parsed_or("FAN_OUT_PAGE_BUDGET_MS", 15_000)?),
            max_lateness: TimeDelta::minutes(env.parsed_or("MAX_LATENESS_MINUTES", DEFAULT_MAX_LATENESS_MINUTES)?),
            clock: Clock::system(),
        })
    }

    /// The given queues with the default page size and budget.
    pub fn with_queues(sms: &str, email: &str, push: &str, continue_on: &str) -> Self {
        FanOutConfig {
            channels: ChannelQueues::new(sms, email, push),
            continue_queue_url: continue_on.to_owned(),
            page_size: DEFAULT_PAGE_SIZE,
            page_budget: Duration::from_secs(15),
            max_lateness: TimeDelta::minutes(DEFAULT_MAX_LATENESS_MINUTES),
            clock: Clock::system(),
        }
    }
}

/// Members per page unless `FAN_OUT_PAGE_SIZE` says otherwise: 100
/// `SendMessageBatch` calls, a few seconds at SQS's pace.
pub const DEFAULT_PAGE_SIZE: i64 = 1000;

/// The lateness bound unless `MAX_LATENESS_MINUTES` says otherwise.
pub(crate) const DEFAULT_MAX_LATENESS_MINUTES: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error("malformed reminder message: {0}")]
    Malformed(#[from] MessageError),
    #[error("message has no valid SentTimestamp attribute")]
    NoSentTimestamp,
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error("enqueueing sends: {0}")]
    Queue(#[from] AwsError),
    #[error(transparent)]
    Deadline(#[from] DeadlineReached),
}

impl From<FanOutError> for MessageFailure {
    fn from(error: FanOutError) -> Self {
        match error {
            FanOutError::Malformed(_) | FanOutError::NoSentTimestamp => MessageFailure::Poison(error.to_string()),
            FanOutError::Database(ref e) if !e.is_retryable() => MessageFailure::Poison(error.to_string()),
            FanOutError::Database(_) | FanOutError::Queue(_) | FanOutError::Deadline(_) => {
                MessageFailure::Retry(error.to_string())
            }
        }
    }
}

/// What one fan-out invocation sent where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FanOutSummary {
    pub reminder_id: Option<ReminderId>,
    pub per_channel: BTreeMap<Channel, usize>,
    pub unreachable: usize,
    /// Members not reminded because the firing is stale ([`Stale`]).
    pub stale: usize,
    pub queue_calls: usize,
    /// Pages of members enqueued by this invocation.
    pub pages: usize,
    /// The fan-out ran out of time and continues in a message of its own.
    pub continued: bool,
}

/// A whole SQS batch under the FIFO rule (`torium_runtime::batch`): a
/// failure holds back the later messages of its group, poison is set aside.
pub async fn handle_batch(
    store: &Store,
    queue: &impl MessageQueue,
    config: &FanOutConfig,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    event: &SqsEvent,
) -> SqsBatchResponse {
    process_fifo_batch(event, consumer, deadline, |record, body| async move {
        let firing = firing_of(record, body)?;
        let summary = fan_out(store, queue, config, deadline, firing).await?;
        summary.report(&consumer.metrics);
        Ok(())
    })
    .await
}

impl FanOutSummary {
    /// The fan-out as EMF metrics: members enqueued, SQS calls, pages.
    pub fn report(&self, metrics: &Metrics) {
        let members = self.per_channel.values().sum::<usize>() + self.unreachable;
        metrics.emit(
            &[],
            &[&["Function"]],
            &[
                Measure::count(metrics::FAN_OUT_MEMBERS, &[members as f64]),
                Measure::count(metrics::FAN_OUT_SQS_CALLS, &[self.queue_calls as f64]),
                Measure::count(metrics::FAN_OUT_PAGES, &[self.pages as f64]),
            ],
        );
        for (outcome, count) in [("skipped", self.unreachable), ("stale", self.stale)] {
            if count > 0 {
                metrics.emit(
                    &[("Channel", "none"), ("Outcome", outcome)],
                    &[&["Channel", "Outcome"], &["Outcome"]],
                    &[Measure::count(metrics::DELIVERIES, &[count as f64])],
                );
            }
        }
    }
}

/// The firing a message asks for (see the module's first lines).
fn firing_of(record: &SqsMessage, body: &str) -> Result<Firing, FanOutError> {
    match ReminderRequest::parse(body)? {
        ReminderRequest::Due(due) => Ok(due.into()),
        ReminderRequest::Continue(firing) => Ok(firing),
        request @ ReminderRequest::NotifyNow(_) => {
            Ok(request.firing(sent_at(record).ok_or(FanOutError::NoSentTimestamp)?))
        }
    }
}

/// Sends one firing to every member of its event, a page of members at a
/// time, recording after each page how far it got: a redelivery resumes after
/// the last finished page, and when the invocation's time runs short the rest
/// continues in a message on this function's own queue. Every statement and
/// queue call is bounded by `deadline`.
#[instrument(skip_all, fields(
    event_id = due.event_id.0,
    reminder_id = tracing::field::Empty,
    trigger_at = %due.trigger_at,
    source = due.source.as_str(),
))]
pub async fn fan_out(
    store: &Store,
    queue: &impl MessageQueue,
    config: &FanOutConfig,
    deadline: &Deadline,
    due: Firing,
) -> Result<FanOutSummary, FanOutError> {
    let Some(event) = deadline.bound(store.event_with_member_count(due.event_id)).await?? else {
        tracing::warn!("event no longer exists; nothing to remind of");
        return Ok(FanOutSummary::default());
    };
    let recorded = match deadline.bound(store.record_firing(&due)).await? {
        Ok(recorded) => recorded,
        Err(StoreError::NotFound(_)) => {
            tracing::warn!("event deleted while fanning out; nothing to remind of");
            return Ok(FanOutSummary::default());
        }
        Err(other) => return Err(other.into()),
    };
    tracing::Span::current().record("reminder_id", recorded.id.0);
    let mut summary = FanOutSummary { reminder_id: Some(recorded.id), ..Default::default() };
    if recorded.fanned_out {
        tracing::info!("already fanned out; nothing more to send");
        return Ok(summary);
    }
    let fanning = Fanning::new(&event, &due, recorded.id, config);
    let after = recorded.fanned_out_through.unwrap_or(UserId(0));
    send_pages(store, queue, config, deadline, &fanning, after, &mut summary).await?;
    summary.log();
    Ok(summary)
}

impl FanOutSummary {
    /// The fan-out's one log line (its ids are the span's).
    fn log(&self) {
        tracing::info!(
            pages = self.pages,
            continued = self.continued,
            sms = self.per_channel.get(&Channel::Sms).copied().unwrap_or(0),
            email = self.per_channel.get(&Channel::Email).copied().unwrap_or(0),
            push = self.per_channel.get(&Channel::Push).copied().unwrap_or(0),
            unreachable = self.unreachable,
            stale = self.stale,
            sqs_calls = self.queue_calls,
            "reminder fanned out"
        );
    }
}

/// One recorded firing of an event, as every page of its fan-out sends it.
struct Fanning<'a> {
    event: &'a Event,
    firing: &'a Firing,
    reminder_id: ReminderId,
    /// The occurrence the firing reminds of (what the texts show).
    occurrence_at: DateTime<Utc>,
    /// The limits every delivery of the firing carries.
    freshness: Freshness,
    /// Set when the firing is already stale: every member is skipped.
    stale: Option<Stale>,
}

impl<'a> Fanning<'a> {
    /// The firing's occurrence and freshness, checked now (by `config`'s clock).
    fn new(event: &'a Event, firing: &'a Firing, reminder_id: ReminderId, config: &FanOutConfig) -> Self {
        let occurrence_at = firing.occurrence_at.unwrap_or_else(|| event.occurrence_at(firing.trigger_at));
        let freshness =
            Freshness::of_firing(event.reminder_kind, occurrence_at, firing.trigger_at, config.max_lateness);
        let stale = freshness.check(config.clock.now(), false).err();
        if let Some(why) = stale {
            tracing::warn!(reason = %why, "stale firing: every member's row is skipped");
        }
        Fanning { event, firing, reminder_id, occurrence_at, freshness, stale }
    }
}

/// The pages of members after `after`, each enqueued and its progress
/// recorded, until the last; or, when the time left is short, the rest
/// handed to a message of its own.
async fn send_pages(
    store: &Store,
    queue: &impl MessageQueue,
    config: &FanOutConfig,
    deadline: &Deadline,
    fanning: &Fanning<'_>,
    mut after: UserId,
    summary: &mut FanOutSummary,
) -> Result<(), FanOutError> {
    loop {
        if deadline.time_left() < config.page_budget {
            continue_later(queue, config, deadline, fanning.firing, after).await?;
            summary.continued = true;
            return Ok(());
        }
        let members = deadline.bound(store.event_members_page(fanning.event.id, after, config.page_size)).await??;
        let finished = (members.len() as i64) < config.page_size;
        send_page(store, queue, config, deadline, Page { fanning, members: &members }, summary).await?;
        after = members.last().map_or(after, |m| m.user_id);
        deadline.bound(store.record_fan_out_progress(fanning.reminder_id, after, finished)).await??;
        summary.pages += 1;
        if finished {
            return Ok(());
        }
    }
}

/// One page of an event's members for one firing.
struct Page<'a> {
    fanning: &'a Fanning<'a>,
    members: &'a [Member],
}

/// Routes and renders a page, records its unreachable members and sends
/// the rest to the channel queues (the three channels at once).
async fn send_page(
    store: &Store,
    queue: &impl MessageQueue,
    config: &FanOutConfig,
    deadline: &Deadline,
    page: Page<'_>,
    summary: &mut FanOutSummary,
) -> Result<(), FanOutError> {
    let (sends, skipped) = deliveries_of(&page);
    if !skipped.is_empty() {
        if page.fanning.stale.is_none() {
            tracing::warn!(count = skipped.len(), "members without a usable channel were skipped");
        }
        deadline.bound(store.record_skipped_members(page.fanning.reminder_id, &skipped)).await??;
    }
    let sent = futures::future::try_join_all(
        sends.iter().map(|(channel, messages)| deadline.bound(queue.send_all(config.channels.url(*channel), messages))),
    )
    .await?;
    for ((channel, messages), calls) in sends.iter().zip(sent) {
        summary.queue_calls += calls?;
        *summary.per_channel.entry(*channel).or_default() += messages.len();
    }
    match page.fanning.stale {
        Some(_) => summary.stale += skipped.len(),
        None => summary.unreachable += skipped.len(),
    }
    Ok(())
}

/// A page's messages by channel queue.
type Sends = BTreeMap<Channel, Vec<OutgoingMessage>>;

/// Members not reminded, with the reason (their `skipped` row's `last_error`).
type Skipped = Vec<(UserId, String)>;

/// Each reachable member's message by channel, and the members skipped
/// with the reason (no usable channel, or the whole firing is stale).
fn deliveries_of(page: &Page<'_>) -> (Sends, Skipped) {
    let fanning = page.fanning;
    if let Some(why) = fanning.stale {
        return (Sends::new(), page.members.iter().map(|m| (m.user_id, why.to_string())).collect());
    }
    let mut sends = Sends::new();
    let mut skipped = Skipped::new();
    for member in page.members {
        let receiver = match route(member) {
            Ok(receiver) => receiver,
            Err(no_route) => {
                skipped.push((member.user_id, no_route.to_string()));
                continue;
            }
        };
        let delivery = Delivery {
            reminder_id: fanning.reminder_id,
            event_id: fanning.event.id,
            user_id: member.user_id,
            trigger_at: fanning.firing.trigger_at,
            receiver: receiver.as_str().to_owned(),
            content: member_reminder(fanning.event, fanning.occurrence_at, member, receiver.channel()),
            event_starts_at: fanning.freshness.event_starts_at,
            late_after: fanning.freshness.late_after,
        };
        sends.entry(receiver.channel()).or_default().push(OutgoingMessage {
            body: delivery.to_body(),
            group_id: delivery.group_id(),
            deduplication_id: delivery.deduplication_id(),
        });
    }
    (sends, skipped)
}

/// Hands the rest of the fan-out (members after `after`) to a message of its
/// own on this function's queue, in the event's message group.
async fn continue_later(
    queue: &impl MessageQueue,
    config: &FanOutConfig,
    deadline: &Deadline,
    firing: &Firing,
    after: UserId,
) -> Result<(), FanOutError> {
    let message = OutgoingMessage {
        body: firing.continuation_body(),
        group_id: firing.group_id(),
        deduplication_id: firing.continuation_deduplication_id(after),
    };
    deadline.bound_final(queue.send_all(&config.continue_queue_url, &[message])).await??;
    tracing::info!(after_user_id = after.0, "time is short: the fan-out continues in a message of its own");
    Ok(())
}
