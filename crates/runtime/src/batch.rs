//! The FIFO batch rule, in one place for every queue consumer.
//!
//! Records are handled in order. When one fails, it and the later records
//! **of its message group** go back to SQS (as batch item failures), so
//! nothing of that group overtakes it; records of other groups are still
//! handled. A message that can never succeed (poison: not JSON, an unknown
//! shape, a missing field) is set aside in its queue's dead-letter queue at
//! once and acknowledged, so it holds back nobody; if that send fails it is
//! returned like any failure. When the invocation's deadline comes near,
//! no new record is started and every record not done is returned. Never
//! log-and-succeed: a record is acknowledged only once it is done.
//!
//! Message groups are independent, so up to `Consumer::group_concurrency`
//! groups are handled at once, each strictly in order.
//!
//! A crash (the process killed) leaves nothing acknowledged: SQS redelivers
//! the whole batch, and each consumer's idempotency keys make the redelivery
//! change nothing that was done.

use crate::clock::Clock;
use crate::config::{ConfigError, Env};
use crate::deadline::Deadline;
use crate::metrics::{self, Measure, Metrics};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use std::collections::HashSet;
use std::future::Future;
use torium_aws::{DeadLetter, DeadLetterQueue, SdkConfig, SqsDeadLetters, SqsQueue};
use tracing::Instrument;

/// Message groups handled at once by default: a batch holds at most ten
/// messages, so every group of a full batch of ten users runs at once.
pub const DEFAULT_GROUP_CONCURRENCY: usize = 10;

/// How a queue consumer handles its batches, built once per cold start:
/// where poison messages go, and how many message groups run at once.
#[derive(Debug, Clone)]
pub struct Consumer<D> {
    /// Where poison messages are set aside.
    pub dead_letters: D,
    /// `GROUP_CONCURRENCY` (default 10, at least 1).
    pub group_concurrency: usize,
    /// Where the batch's metrics go.
    pub metrics: Metrics,
    /// "Now" for the time-based decisions on each message (staleness,
    /// quiet hours): the system clock, a fixed one in tests.
    pub clock: Clock,
}

impl Consumer<SqsDeadLetters> {
    /// The dead-letter queue from the variable `dlq_variable` (its URL; the
    /// template sets it per function), `GROUP_CONCURRENCY`, and the
    /// function's metrics.
    pub fn from_env(
        env: &Env,
        sdk: &SdkConfig,
        metrics: &Metrics,
        dlq_variable: &'static str,
    ) -> Result<Self, ConfigError> {
        let dead_letters = SqsDeadLetters::new(&SqsQueue::new(sdk), env.required(dlq_variable)?);
        let group_concurrency = env.parsed_or("GROUP_CONCURRENCY", DEFAULT_GROUP_CONCURRENCY)?.max(1);
        Ok(Consumer { dead_letters, group_concurrency, metrics: metrics.clone(), clock: Clock::system() })
    }
}

impl<D> Consumer<D> {
    /// What a batch returned to SQS and set aside, as metrics.
    pub fn report_batch(&self, returned: usize, set_aside: usize) {
        self.metrics.emit(
            &[],
            &[&["Function"]],
            &[
                Measure::count(metrics::BATCH_ITEM_FAILURES, &[returned as f64]),
                Measure::count(metrics::POISON_MESSAGES, &[set_aside as f64]),
            ],
        );
    }
}

/// What became of one record in its group's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Handled: acknowledge it.
    Done,
    /// Poison, now in the dead-letter queue: acknowledge it.
    SetAside,
    /// Return it (and, the group's run having stopped, the rest of the group).
    Retry,
}

/// Why a message was not done, sorted by what the driver does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageFailure {
    /// It can never succeed as it is: set aside in the dead-letter queue.
    Poison(String),
    /// It may succeed later (throttling, a timeout, the database away):
    /// returned with the later messages of its group.
    Retry(String),
}

impl std::fmt::Display for MessageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageFailure::Poison(reason) => write!(f, "poison: {reason}"),
            MessageFailure::Retry(reason) => write!(f, "retry: {reason}"),
        }
    }
}

/// When SQS first accepted the record (`SentTimestamp`, epoch milliseconds):
/// the same on every redelivery of the message.
pub fn sent_at(record: &SqsMessage) -> Option<DateTime<Utc>> {
    let millis: i64 = record.attributes.get("SentTimestamp")?.trim().parse().ok()?;
    DateTime::from_timestamp_millis(millis)
}

/// A record's body, `None` when it is missing or blank.
pub fn body_of(record: &SqsMessage) -> Option<&str> {
    record.body.as_deref().filter(|body| !body.trim().is_empty())
}

/// A record's message group (`MessageGroupId`); a record without one (a
/// standard queue) is a group of its own.
pub(crate) fn group_of(record: &SqsMessage) -> &str {
    record.attributes.get("MessageGroupId").map(String::as_str).or(record.message_id.as_deref()).unwrap_or_default()
}

fn message_id(record: &SqsMessage) -> &str {
    record.message_id.as_deref().unwrap_or("?")
}

/// The state of one batch under the FIFO rule: which records are done, and
/// which message groups are held back by a failure. Everything not marked
/// done is returned to SQS.
#[derive(Debug)]
pub struct FifoBatch<'a> {
    records: &'a [SqsMessage],
    done: Vec<bool>,
    held_groups: HashSet<&'a str>,
}

impl<'a> FifoBatch<'a> {
    /// The batch, no message handled yet.
    pub fn new(records: &'a [SqsMessage]) -> Self {
        FifoBatch { records, done: vec![false; records.len()], held_groups: HashSet::new() }
    }

    /// The batch's messages, in SQS's order.
    pub fn records(&self) -> &'a [SqsMessage] {
        self.records
    }

    /// True when an earlier record of this one's group failed: it must not
    /// be handled now (it goes back to SQS behind the failed one).
    pub(crate) fn is_held(&self, index: usize) -> bool {
        self.held_groups.contains(group_of(&self.records[index]))
    }

    /// The record is handled (or set aside): acknowledge it.
    pub fn done(&mut self, index: usize) {
        if !self.is_held(index) {
            self.done[index] = true;
        }
    }

    /// The record failed: return it and hold back the rest of its group.
    pub fn retry(&mut self, index: usize) {
        self.done[index] = false;
        self.held_groups.insert(group_of(&self.records[index]));
    }

    /// How many records go back to SQS.
    pub fn returned(&self) -> usize {
        self.done.iter().filter(|done| !**done).count()
    }

    /// The partial batch response: every record not done, in order.
    pub fn response(&self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = self
            .records
            .iter()
            .zip(&self.done)
            .filter(|(_, done)| !**done)
            .map(|(record, _)| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                failure
            })
            .collect();
        response
    }

    /// The records' indexes by message group, each in order, the groups in
    /// the order they first appear.
    pub fn groups(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (index, record) in self.records.iter().enumerate() {
            let group = group_of(record);
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, indexes)) => indexes.push(index),
                None => groups.push((group, vec![index])),
            }
        }
        groups.into_iter().map(|(_, indexes)| indexes).collect()
    }

    /// Applies what a group's run did, in the group's order.
    pub fn apply(&mut self, outcomes: &[(usize, RecordOutcome)]) {
        for &(index, outcome) in outcomes {
            match outcome {
                RecordOutcome::Done | RecordOutcome::SetAside => self.done(index),
                RecordOutcome::Retry => self.retry(index),
            }
        }
    }
}

/// Sets a poison record aside in the dead-letter queue: `SetAside` once it
/// is there, `Retry` if the dead-letter queue refused it (it goes back).
/// Logged in the record's span (see [`message_span`]).
pub async fn set_aside(
    record: &SqsMessage,
    reason: &str,
    dead_letters: &impl DeadLetterQueue,
    deadline: &Deadline,
) -> RecordOutcome {
    put_aside(record, reason, dead_letters, deadline).instrument(message_span(record)).await
}

/// The span one record's work runs in: its message and group ids.
fn message_span(record: &SqsMessage) -> tracing::Span {
    tracing::info_span!("message", message_id = message_id(record), group_id = group_of(record))
}

/// [`set_aside`] inside the record's span.
async fn put_aside(
    record: &SqsMessage,
    reason: &str,
    dead_letters: &impl DeadLetterQueue,
    deadline: &Deadline,
) -> RecordOutcome {
    let letter = DeadLetter {
        body: record.body.as_deref().unwrap_or_default(),
        group_id: group_of(record),
        message_id: message_id(record),
        reason,
        source_queue: source_queue(record),
    };
    let sent = match deadline.bound(dead_letters.set_aside(&letter)).await {
        Ok(sent) => sent.map_err(|e| e.to_string()),
        Err(reached) => Err(reached.to_string()),
    };
    match sent {
        Ok(()) => {
            tracing::error!(%reason, "poison message set aside in the dead-letter queue");
            RecordOutcome::SetAside
        }
        Err(error) => {
            tracing::error!(%reason, %error, "poison message could not be set aside; returned");
            RecordOutcome::Retry
        }
    }
}

/// The queue a record came from: the last part of its `eventSourceARN`.
fn source_queue(record: &SqsMessage) -> &str {
    record.event_source_arn.as_deref().and_then(|arn| arn.rsplit(':').next()).unwrap_or_default()
}

/// Runs `handle` on each record under the FIFO rule (see the module's first
/// lines), up to `consumer.group_concurrency` message groups at once, each
/// record in a span with its message and group ids. A record without a body
/// is poison. Every call is bounded by `deadline`.
pub async fn process_fifo_batch<'a, F, Fut>(
    event: &'a SqsEvent,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage, &'a str) -> Fut,
    Fut: Future<Output = Result<(), MessageFailure>>,
{
    let mut batch = FifoBatch::new(&event.records);
    let handle = &handle;
    let runs: Vec<Vec<(usize, RecordOutcome)>> = stream::iter(batch.groups())
        .map(|indexes| async move {
            let mut outcomes = Vec::with_capacity(indexes.len());
            for index in indexes {
                if deadline.is_reached() {
                    tracing::warn!("the deadline is near: the rest of the group goes back to SQS");
                    break;
                }
                let outcome = run_one(&event.records[index], consumer, deadline, handle).await;
                outcomes.push((index, outcome));
                if outcome == RecordOutcome::Retry {
                    break;
                }
            }
            outcomes
        })
        .buffer_unordered(consumer.group_concurrency.max(1))
        .collect()
        .await;
    for outcomes in &runs {
        batch.apply(outcomes);
    }
    let set_aside = runs.iter().flatten().filter(|(_, outcome)| *outcome == RecordOutcome::SetAside).count();
    consumer.report_batch(batch.returned(), set_aside);
    batch.response()
}

/// One record, in a span of its own: everything its handler does and logs
/// carries the record's message and group ids.
async fn run_one<'a, F, Fut>(
    record: &'a SqsMessage,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    handle: &F,
) -> RecordOutcome
where
    F: Fn(&'a SqsMessage, &'a str) -> Fut,
    Fut: Future<Output = Result<(), MessageFailure>>,
{
    async move {
        let result = match body_of(record) {
            None => Err(MessageFailure::Poison("message has no body".to_owned())),
            // Handlers bound their own calls by the cutoff and record what they
            // did in the margin: the whole message is bounded by the end.
            Some(body) => match deadline.bound_final(handle(record, body)).await {
                Ok(result) => result,
                Err(reached) => Err(MessageFailure::Retry(reached.to_string())),
            },
        };
        match result {
            Ok(()) => RecordOutcome::Done,
            Err(MessageFailure::Poison(reason)) => put_aside(record, &reason, &consumer.dead_letters, deadline).await,
            Err(MessageFailure::Retry(error)) => {
                tracing::error!(%error, "message failed; it and the later messages of its group go back to SQS");
                RecordOutcome::Retry
            }
        }
    }
    .instrument(message_span(record))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::Mutex;
    use std::time::Duration;
    use torium_aws::AwsError;

    /// (id, group) pairs.
    fn batch(records: &[(&str, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records
            .iter()
            .map(|(id, group)| {
                let mut m = SqsMessage::default();
                m.message_id = Some((*id).to_owned());
                m.body = Some((*id).to_owned());
                m.attributes.insert("MessageGroupId".to_owned(), (*group).to_owned());
                m.event_source_arn = Some("arn:aws:sqs:eu-central-1:123456789012:send-sms.fifo".to_owned());
                m
            })
            .collect();
        event
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    fn long() -> Deadline {
        Deadline::after(Duration::from_secs(60), Duration::from_secs(1))
    }

    /// Records what was set aside; refuses when `refuse` is set.
    #[derive(Default)]
    struct Letters {
        set_aside: Mutex<Vec<(String, String, String, String)>>,
        refuse: bool,
    }

    impl DeadLetterQueue for Letters {
        async fn set_aside(&self, letter: &DeadLetter<'_>) -> Result<(), AwsError> {
            if self.refuse {
                return Err(AwsError::transient("SendMessage", "down"));
            }
            self.set_aside.lock().unwrap().push((
                letter.message_id.to_owned(),
                letter.group_id.to_owned(),
                letter.reason.to_owned(),
                letter.source_queue.to_owned(),
            ));
            Ok(())
        }
    }

    /// Fails the ids in `retry`, poisons those in `poison`, records the order.
    async fn run(event: &SqsEvent, retry: &[&str], poison: &[&str], letters: &Letters) -> (Vec<String>, Vec<String>) {
        let seen = RefCell::new(Vec::new());
        let consumer = Consumer {
            dead_letters: letters,
            group_concurrency: 1,
            metrics: Metrics::in_memory("test").0,
            clock: Clock::system(),
        };
        let response = process_fifo_batch(event, &consumer, &long(), |_, body| {
            seen.borrow_mut().push(body.to_owned());
            let outcome = if retry.contains(&body) {
                Err(MessageFailure::Retry("boom".into()))
            } else if poison.contains(&body) {
                Err(MessageFailure::Poison("not JSON".into()))
            } else {
                Ok(())
            };
            async move { outcome }
        })
        .await;
        (seen.into_inner(), failed_ids(&response).into_iter().map(str::to_owned).collect())
    }

    #[tokio::test]
    async fn all_succeed_reports_nothing_and_handles_every_record_in_order() {
        let (seen, failed) = run(&batch(&[("a", "g1"), ("b", "g1"), ("c", "g2")]), &[], &[], &Letters::default()).await;
        assert_eq!(seen, ["a", "b", "c"]);
        assert!(failed.is_empty());
    }

    #[tokio::test]
    async fn a_failure_holds_back_only_the_later_messages_of_its_group() {
        // Interleaved groups; g1 fails in the middle.
        let event = batch(&[("a1", "g1"), ("b1", "g2"), ("a2", "g1"), ("b2", "g2"), ("a3", "g1"), ("c1", "g3")]);
        let (seen, failed) = run(&event, &["a2"], &[], &Letters::default()).await;
        assert_eq!(seen, ["a1", "a2", "b1", "b2", "c1"], "a3 is never attempted; other groups go on, each in order");
        assert_eq!(failed, ["a2", "a3"]);
    }

    #[tokio::test]
    async fn when_every_group_fails_everything_from_each_failure_on_is_returned() {
        let event = batch(&[("a1", "g1"), ("b1", "g2"), ("a2", "g1"), ("b2", "g2")]);
        let (seen, failed) = run(&event, &["a1", "b1"], &[], &Letters::default()).await;
        assert_eq!(seen, ["a1", "b1"]);
        assert_eq!(failed, ["a1", "b1", "a2", "b2"]);
    }

    #[tokio::test]
    async fn a_poison_message_is_set_aside_at_once_and_holds_back_nobody() {
        let letters = Letters::default();
        let event = batch(&[("bad", "g1"), ("a2", "g1"), ("b1", "g2")]);
        let (seen, failed) = run(&event, &[], &["bad"], &letters).await;
        assert_eq!(seen, ["bad", "a2", "b1"]);
        assert!(failed.is_empty());
        assert_eq!(
            *letters.set_aside.lock().unwrap(),
            [("bad".to_owned(), "g1".to_owned(), "not JSON".to_owned(), "send-sms.fifo".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_poison_message_the_dead_letter_queue_refuses_is_returned_with_its_group() {
        let letters = Letters { refuse: true, ..Letters::default() };
        let event = batch(&[("bad", "g1"), ("a2", "g1"), ("b1", "g2")]);
        let (seen, failed) = run(&event, &[], &["bad"], &letters).await;
        assert_eq!(seen, ["bad", "b1"]);
        assert_eq!(failed, ["bad", "a2"]);
    }

    #[tokio::test]
    async fn a_record_without_a_body_is_poison_without_reaching_the_handler() {
        let letters = Letters::default();
        let mut event = batch(&[("a", "g1"), ("b", "g2"), ("c", "g2")]);
        event.records[1].body = Some("  ".to_owned());
        let (seen, failed) = run(&event, &[], &[], &letters).await;
        assert_eq!(seen, ["a", "c"]);
        assert!(failed.is_empty());
        assert_eq!(letters.set_aside.lock().unwrap()[0].2, "message has no body");
    }

    #[tokio::test]
    async fn near_the_deadline_no_new_message_starts_and_the_rest_is_returned() {
        let event = batch(&[("a", "g1"), ("slow", "g2"), ("c", "g3"), ("d", "g4")]);
        let deadline = Deadline::after(Duration::from_millis(500), Duration::from_millis(250));
        let seen = RefCell::new(Vec::new());
        let consumer = Consumer {
            dead_letters: Letters::default(),
            group_concurrency: 1,
            metrics: Metrics::in_memory("test").0,
            clock: Clock::system(),
        };
        let response = process_fifo_batch(&event, &consumer, &deadline, |_, body| {
            seen.borrow_mut().push(body.to_owned());
            let slow = body == "slow";
            async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Ok(())
            }
        })
        .await;
        assert_eq!(*seen.borrow(), ["a", "slow"], "the slow one is cut off and nothing starts after it");
        assert_eq!(failed_ids(&response), ["slow", "c", "d"]);
    }

    #[tokio::test]
    async fn groups_run_at_once_each_in_order() {
        let event = batch(&[("slow", "g1"), ("a2", "g1"), ("b1", "g2"), ("b2", "g2")]);
        let seen = Mutex::new(Vec::new());
        let consumer = Consumer {
            dead_letters: Letters::default(),
            group_concurrency: 2,
            metrics: Metrics::in_memory("test").0,
            clock: Clock::system(),
        };
        let response = process_fifo_batch(&event, &consumer, &long(), |_, body| {
            let seen = &seen;
            async move {
                if body == "slow" {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                seen.lock().unwrap().push(body.to_owned());
                Ok(())
            }
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(*seen.lock().unwrap(), ["b1", "b2", "slow", "a2"], "g2 does not wait for g1; g1 keeps its order");
    }

    #[test]
    fn sent_at_reads_the_sent_timestamp() {
        let mut record = SqsMessage::default();
        assert_eq!(sent_at(&record), None);
        record.attributes.insert("SentTimestamp".into(), "1797759000000".into());
        assert_eq!(sent_at(&record).map(|t| t.to_rfc3339()), Some("2026-12-20T09:30:00+00:00".to_owned()));
    }
}
