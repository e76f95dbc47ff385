//! schedule-events: run every minute by EventBridge. "Now" is the scheduled
//! event's own `time`, so a late or retried invocation handles the minute it
//! was meant for.
//!
//! Exactly once, in this order, inside one transaction per claimed batch:
//! 1. claim due events (`next_reminder_at <= now`, index range scan,
//!    `FOR UPDATE SKIP LOCKED`, so overlapping runs take disjoint events);
//! 2. plan each event's firings: at most one per event and run, the latest
//!    due one within the lateness bound; older ones are skipped;
//! 3. enqueue one message per fired firing (`SendMessageBatch`, group =
//!    event, deduplication id = event + trigger time);
//! 4. advance `next_reminder_at`, record skipped firings, commit. An event
//!    whose schedule cannot be read gets its `schedule_error` recorded and
//!    no next firing, until its schedule changes.
//!
//! Near the invocation's deadline no new batch is claimed, and an enqueue
//! the deadline cuts off rolls its batch back: what was not claimed stays
//! due for the next minute's run.
//!
//! A crash before 3 loses nothing (the claim rolls back). A crash between 3
//! and 4 rolls the claim back too, and the next run enqueues the same
//! firings again: SQS drops the copies within its five-minute deduplication
//! window, and after it `event_reminders` (unique on event + trigger time)
//! and the delivery logs (unique on reminder + user) make the copy a no-op.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use torium_aws::{AwsError, MessageQueue, OutgoingMessage};
use torium_domain::{ReminderDue, ReminderSchedule, plan_firings};
use torium_runtime::metrics::{self, Measure, Metrics};
use torium_runtime::{ChannelQueues, ConfigError, Deadline, DeadlineReached, Env};
use torium_store::{DueEvent, ScheduleAdvance, SchedulerRun, Store, StoreError, TransactionError};

/// Configuration from the environment the template sets.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `SCHEDULE_NOTIFICATIONS_QUEUE_URL`.
    pub queue_url: String,
    /// `MAX_LATENESS_MINUTES` (default 60): older firings are skipped.
    pub max_lateness: TimeDelta,
    /// `CLAIM_BATCH_SIZE` (default 200): events per transaction.
    pub claim_batch_size: i64,
    /// `MAX_CLAIM_BATCHES` (default 50): batches per run, so a run ends in
    /// time; what is left is due for the next minute's run.
    pub max_batches: usize,
}

impl SchedulerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(SchedulerConfig {
            queue_url: env.required("SCHEDULE_NOTIFICATIONS_QUEUE_URL")?.to_owned(),
            max_lateness: TimeDelta::minutes(env.parsed_or("MAX_LATENESS_MINUTES", 60)?),
            claim_batch_size: env.parsed_or("CLAIM_BATCH_SIZE", 200)?,
            max_batches: env.parsed_or("MAX_CLAIM_BATCHES", 50)?,
        })
    }
}

/// What a run did; returned to the caller and logged.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RunSummary {
    pub claimed: usize,
    pub enqueued: usize,
    pub skipped: usize,
    /// How long claiming due events took, every batch together.
    pub claim_ms: f64,
}

impl RunSummary {
    /// The run as EMF metrics (its liveness included).
    pub fn report(&self, metrics: &Metrics) {
        metrics.emit(
            &[],
            &[&["Function"], &[]],
            &[
                Measure::count(metrics::SCHEDULER_RUNS, &[1.0]),
                Measure::count(metrics::SCHEDULER_CLAIMED, &[self.claimed as f64]),
                Measure::count(metrics::SCHEDULER_ENQUEUED, &[self.enqueued as f64]),
                Measure::count(metrics::SCHEDULER_SKIPPED, &[self.skipped as f64]),
                Measure::millis(metrics::SCHEDULER_CLAIM_DURATION, &[self.claim_ms]),
            ],
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("the scheduled event has no time")]
    NoTime,
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error("enqueueing to schedule-notifications: {0}")]
    Queue(#[from] AwsError),
    #[error("releasing deferred deliveries to their channel queues: {0}")]
    Release(AwsError),
}

/// Why a claimed batch was rolled back.
#[derive(Debug, thiserror::Error)]
enum BatchStop {
    #[error(transparent)]
    Queue(#[from] AwsError),
    #[error(transparent)]
    Deadline(#[from] DeadlineReached),
}

impl RunSummary {
    fn absorb(&mut self, batch: &RunSummary) {
        self.claimed += batch.claimed;
        self.claim_ms += batch.claim_ms;
        self.enqueued += batch.enqueued;
        self.skipped += batch.skipped;
    }
}

/// Runs the scheduler for the minute `now`.
#[tracing::instrument(skip_all, fields(scheduled_for = %now))]
pub async fn run_scheduler(
    store: &Store,
    queue: &impl MessageQueue,
    config: &SchedulerConfig,
    deadline: &Deadline,
    now: DateTime<Utc>,
) -> Result<RunSummary, SchedulerError> {
    let started_at = Utc::now();
    let mut summary = RunSummary::default();
    for _ in 0..config.max_batches {
        if deadline.is_reached() {
            tracing::warn!("the deadline is near: no new batch is claimed; the rest stays due for the next run");
            break;
        }
        let Some(batch) = schedule_batch(store, queue, config, deadline, now).await? else {
            break;
        };
        summary.absorb(&batch);
        if (batch.claimed as i64) < config.claim_batch_size {
            break;
        }
    }
    let run = SchedulerRun {
        claimed: summary.claimed as i32,
        enqueued: summary.enqueued as i32,
        skipped: summary.skipped as i32,
    };
    deadline
        .bound_final(store.record_scheduler_run(now, started_at, run))
        .await
        .map_err(|reached| StoreError::Unavailable(reached.to_string()))??;
    tracing::info!(
        claimed = summary.claimed,
        enqueued = summary.enqueued,
        skipped = summary.skipped,
        "scheduler run finished"
    );
    Ok(summary)
}

/// Claims, plans, enqueues and advances one batch in its transaction;
/// `None` when the deadline cut it off (rolled back: it stays due).
async fn schedule_batch(
    store: &Store,
    queue: &impl MessageQueue,
    config: &SchedulerConfig,
    deadline: &Deadline,
    now: DateTime<Utc>,
) -> Result<Option<RunSummary>, SchedulerError> {
    let mut batch = RunSummary::default();
    let claim_started = std::time::Instant::now();
    let claim = store.with_due_events(now, config.claim_batch_size, |due| {
        batch.claim_ms = claim_started.elapsed().as_secs_f64() * 1000.0;
        let (advances, messages) = plan_batch(&due, now, config.max_lateness);
        batch.enqueued = messages.len();
        batch.skipped = advances.iter().map(|a| a.skipped.len()).sum();
        async move {
            deadline.bound(queue.send_all(&config.queue_url, &messages)).await??;
            Ok::<_, BatchStop>(advances)
        }
    });
    let cut_off = "the deadline cut a batch off; it was rolled back and stays due for the next run";
    let claimed = batch_result(deadline.bound_final(claim).await, SchedulerError::Queue, cut_off)?;
    Ok(claimed.map(|claimed| RunSummary { claimed, ..batch }))
}

/// What a batch's transaction came to: its value, the run's error, or
/// `None` when the deadline cut it off (logged as `cut_off` says).
fn batch_result<T>(
    result: Result<Result<T, TransactionError<BatchStop>>, DeadlineReached>,
    queue_error: fn(AwsError) -> SchedulerError,
    cut_off: &str,
) -> Result<Option<T>, SchedulerError> {
    match result {
        Ok(Ok(value)) => Ok(Some(value)),
        Ok(Err(TransactionError::Store(e))) => Err(SchedulerError::Database(e)),
        Ok(Err(TransactionError::Step(BatchStop::Queue(e)))) => Err(queue_error(e)),
        Ok(Err(TransactionError::Step(BatchStop::Deadline(_)))) | Err(DeadlineReached) => {
            tracing::warn!("{cut_off}");
            Ok(None)
        }
    }
}

/// The advance of every claimed event and the messages of its due firings.
fn plan_batch(
    due: &[DueEvent],
    now: DateTime<Utc>,
    max_lateness: TimeDelta,
) -> (Vec<ScheduleAdvance>, Vec<OutgoingMessage>) {
    let mut advances = Vec::with_capacity(due.len());
    let mut messages = Vec::new();
    for event in due {
        let (advance, message) = plan_event(event, now, max_lateness);
        advances.push(advance);
        messages.extend(message);
    }
    (advances, messages)
}

/// One claimed event: how it advances, and the message of its firing if
/// one is due.
#[tracing::instrument(skip_all, fields(event_id = event.id.0))]
fn plan_event(
    event: &DueEvent,
    now: DateTime<Utc>,
    max_lateness: TimeDelta,
) -> (ScheduleAdvance, Option<OutgoingMessage>) {
    let schedule =
        match ReminderSchedule::new(event.reminder_kind, event.event_at, event.schedule_period, &event.time_zone) {
            Ok(schedule) => schedule,
            Err(error) => {
                // Not retried every minute, never silently off: the error is
                // recorded on the event (the alerts function names it) and a
                // change of its schedule makes it due again.
                tracing::error!(%error, "event has an unreadable schedule; recorded for the alerts");
                let advance = ScheduleAdvance {
                    event_id: event.id,
                    next_reminder_at: None,
                    skipped: Vec::new(),
                    schedule_error: Some(error.to_string()),
                };
                return (advance, None);
            }
        };
    let first = match event.schedule_changed_at {
        Some(changed_at) => schedule.first_at_or_after(changed_at),
        None => Some(event.next_reminder_at),
    };
    let plan = plan_firings(&schedule, first, now, max_lateness);
    if !plan.skip.is_empty() || plan.skipped_unrecorded > 0 {
        tracing::warn!(
            skipped = plan.skip.len() as u64 + plan.skipped_unrecorded,
            "firings later than the lateness bound, or superseded by a later one, were skipped"
        );
    }
    let message = plan.fire.map(|trigger_at| {
        tracing::info!(trigger_at = %trigger_at, "reminder due");
        let due = ReminderDue { event_id: event.id, trigger_at };
        OutgoingMessage { body: due.to_body(), group_id: due.group_id(), deduplication_id: due.deduplication_id() }
    });
    let advance =
        ScheduleAdvance { event_id: event.id, next_reminder_at: plan.next, skipped: plan.skip, schedule_error: None };
    (advance, message)
}

/// Quiet-hours releases: the channel queues held deliveries go back to
/// (`SEND_SMS_QUEUE_URL`, `SEND_EMAIL_QUEUE_URL`, `SEND_PUSH_QUEUE_URL`, as
/// the fan-out names them) and how many rows one transaction releases
/// (`RELEASE_BATCH_SIZE`, default 200; `MAX_RELEASE_BATCHES`, default 10).
#[derive(Debug, Clone)]
pub struct ReleaseConfig {
    /// Where each held delivery goes back, by channel.
    pub channels: ChannelQueues,
    pub batch_size: i64,
    pub max_batches: usize,
}

impl ReleaseConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(ReleaseConfig {
            channels: ChannelQueues::new(
                env.required("SEND_SMS_QUEUE_URL")?,
                env.required("SEND_EMAIL_QUEUE_URL")?,
                env.required("SEND_PUSH_QUEUE_URL")?,
            ),
            batch_size: env.parsed_or("RELEASE_BATCH_SIZE", 200)?.max(1),
            max_batches: env.parsed_or("MAX_RELEASE_BATCHES", 10)?,
        })
    }
}

/// The minute run's result: the scheduling and the releases.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct MinuteSummary {
    #[serde(flatten)]
    pub scheduled: RunSummary,
    /// Deliveries released from quiet hours.
    pub released: usize,
}

/// The minute `now`: the scheduler's run, then the quiet-hours releases.
pub async fn run_minute(
    store: &Store,
    queue: &impl MessageQueue,
    config: &SchedulerConfig,
    release: &ReleaseConfig,
    deadline: &Deadline,
    now: DateTime<Utc>,
) -> Result<MinuteSummary, SchedulerError> {
    let scheduled = run_scheduler(store, queue, config, deadline, now).await?;
    let released = release_deferred(store, queue, release, deadline, now).await?;
    Ok(MinuteSummary { scheduled, released })
}

/// Re-sends every held delivery whose quiet hours ended by `now` to its
/// channel queue (the same message group as the fan-out's, deduplication id
/// `<original>-released`) and marks its row `pending` with `released_at`,
/// in one transaction per batch (`torium_store::Store::with_due_deferrals`).
/// A crash between the send and the commit sends the same ids again: SQS
/// drops the copy within five minutes, and the sender acknowledges a row it
/// finds `sent`. Returns how many were released.
#[tracing::instrument(skip_all, fields(scheduled_for = %now))]
pub async fn release_deferred(
    store: &Store,
    queue: &impl MessageQueue,
    config: &ReleaseConfig,
    deadline: &Deadline,
    now: DateTime<Utc>,
) -> Result<usize, SchedulerError> {
    let mut released = 0;
    for _ in 0..config.max_batches {
        if deadline.is_reached() {
            tracing::warn!("the deadline is near: the remaining deferred deliveries wait for the next run");
            break;
        }
        let batch = store.with_due_deferrals(now, config.batch_size, |due| async move {
            let (keys, sends) = release_messages(config, &due);
            for (url, messages) in &sends {
                deadline.bound(queue.send_all(url, messages)).await??;
            }
            Ok::<_, BatchStop>(keys)
        });
        let cut_off = "the deadline cut a release off; it was rolled back and is retried next run";
        let Some(keys) = batch_result(deadline.bound_final(batch).await, SchedulerError::Release, cut_off)? else {
            break;
        };
        released += keys.len();
        if (keys.len() as i64) < config.batch_size {
            break;
        }
    }
    if released > 0 {
        tracing::info!(released, "deferred deliveries released from quiet hours");
    }
    Ok(released)
}

/// The keys to mark released and the messages per channel queue. A held
/// body that is no longer a delivery of its row's channel stays deferred
/// with an error line (the alerts function counts it), never dropped.
fn release_messages(
    config: &ReleaseConfig,
    due: &[torium_store::DueDeferral],
) -> (Vec<torium_domain::DeliveryKey>, Vec<(String, Vec<OutgoingMessage>)>) {
    let mut keys = Vec::with_capacity(due.len());
    let mut sends: Vec<(String, Vec<OutgoingMessage>)> = Vec::new();
    for held in due {
        let delivery = match torium_domain::Delivery::parse(&held.body) {
            Ok(delivery) if delivery.channel() == held.channel => delivery,
            Ok(_) | Err(_) => {
                tracing::error!(
                    reminder_id = held.key.item_id,
                    user_id = held.key.user_id.0,
                    "a deferred delivery's body is not a delivery of its channel; it stays deferred"
                );
                continue;
            }
        };
        let url = config.channels.url(held.channel);
        let message = OutgoingMessage {
            body: held.body.clone(),
            group_id: delivery.group_id(),
            deduplication_id: delivery.released_deduplication_id(),
        };
        match sends.iter_mut().find(|(u, _)| u == url) {
            Some((_, messages)) => messages.push(message),
            None => sends.push((url.to_owned(), vec![message])),
        }
        keys.push(held.key);
    }
    (keys, sends)
}
