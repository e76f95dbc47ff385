//! schedule-comment-push: consumes `comment-push.fifo` (the HTTP API's
//! legacy body: `events_comments_id`, `event_id`, `event_timestamp`,
//! `user_id` (the author), `comment`) and pushes `New comment: <event>` to
//! every other member of the event with a push endpoint, never the author.
//! With a digest window (`COMMENT_DIGEST_WINDOW_SECONDS`, see [`digest`]) the
//! comments of one event within the window reach each member as one push,
//! flushed from the function's second queue, `comment-digest` (standard).
//!
//! One `events_comments_logs` row per comment and receiver (unique on
//! comment + user), claimed and recorded with the shared delivery-log
//! statements: a redelivered message pushes nobody twice. Pushes go out
//! concurrently; one refused endpoint does not stop the others, and a
//! transient failure returns the message so that only the receivers not yet
//! logged `sent` are retried. A crash between a push and its log write
//! leaves the row `pending`: the redelivery pushes that receiver again (at
//! least once; at most one chunk of [`PUSH_CONCURRENCY`] in flight).

pub mod digest;

use digest::{CommentDigests, DigestDue};
use futures::{StreamExt, stream};
use std::collections::HashMap;
use torium_delivery::{PushPublisher, SendFailure, record_in_margin};
use torium_domain::{Channel, CommentPosted, DeliveryStatus, MessageError, UserId, comment_push, sns_push_message};
use torium_domain::{DeliveryKey, DeliveryOutcome};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use torium_runtime::{Consumer, DeadLetterQueue, Deadline, DeadlineReached, MessageFailure, process_fifo_batch};
use torium_store::{DeliveryLog, Store, StoreError};

/// Pushes in flight at once per message (SNS publishes are independent).
pub(crate) const PUSH_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CommentPushError {
    #[error("malformed comment message: {0}")]
    Malformed(#[from] MessageError),
    #[error("malformed digest flush: {0}")]
    MalformedFlush(String),
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error("{0} pushes failed transiently; the message is retried for them")]
    Transient(usize),
    #[error("the digest flush could not be sent: {0}")]
    Queue(#[from] torium_aws::AwsError),
}

/// What one comment message (or one digest flush) did, counted in pushes:
/// a digest push to a receiver counts once, however many comments it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommentPushSummary {
    pub receivers: usize,
    pub pushed: usize,
    pub already_pushed: usize,
    pub refused: usize,
}

impl From<CommentPushError> for MessageFailure {
    fn from(error: CommentPushError) -> Self {
        match error {
            CommentPushError::Malformed(_) | CommentPushError::MalformedFlush(_) => {
                MessageFailure::Poison(error.to_string())
            }
            CommentPushError::Database(ref e) if !e.is_retryable() => MessageFailure::Poison(error.to_string()),
            CommentPushError::Database(_) | CommentPushError::Transient(_) | CommentPushError::Queue(_) => {
                MessageFailure::Retry(error.to_string())
            }
        }
    }
}

/// A batch of either queue with digests off: every comment pushed at once.
pub async fn handle_batch(
    store: &Store,
    publisher: &impl PushPublisher,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    event: &SqsEvent,
) -> SqsBatchResponse {
    handle_batch_with(store, publisher, &CommentDigests::off(), consumer, deadline, event).await
}

/// A batch of either queue: comments (`comment-push.fifo`) are pushed at
/// once or collected into their event's digest, as `digests` says; digest
/// flushes (`comment-digest`) push what their digest collected.
pub async fn handle_batch_with(
    store: &Store,
    publisher: &impl PushPublisher,
    digests: &CommentDigests,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    event: &SqsEvent,
) -> SqsBatchResponse {
    process_fifo_batch(event, consumer, deadline, |_, body| async move {
        let now = chrono::Utc::now();
        let handled = match DigestDue::recognise(body) {
            Some(due) => {
                let due = due.map_err(CommentPushError::MalformedFlush)?;
                digest::flush_digest(store, publisher, deadline, due.digest_id, now).await.map(drop)
            }
            None => {
                let comment = CommentPosted::parse(body).map_err(CommentPushError::from)?;
                handle_comment(store, publisher, digests, deadline, &comment, now).await
            }
        };
        handled.map_err(Into::into)
    })
    .await
}

async fn handle_comment(
    store: &Store,
    publisher: &impl PushPublisher,
    digests: &CommentDigests,
    deadline: &Deadline,
    comment: &CommentPosted,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), CommentPushError> {
    match digests.collecting() {
        None => push_comment(store, publisher, deadline, comment).await.map(drop),
        Some(collecting) => digest::collect_comment(store, collecting, deadline, comment, now).await.map(drop),
    }
}

/// A store call cut off by the deadline is a database that did not answer in time.
pub(crate) fn timed_out(reached: DeadlineReached) -> StoreError {
    StoreError::Unavailable(reached.to_string())
}

/// Pushes one comment to its receivers at once; every push is bounded by
/// `deadline` (those it cuts off are retried), and the outcomes are recorded
/// in the invocation's margin.
#[tracing::instrument(skip_all, fields(comment_id = comment.comment_id.0, event_id = comment.event_id.0))]
pub async fn push_comment(
    store: &Store,
    publisher: &impl PushPublisher,
    deadline: &Deadline,
    comment: &CommentPosted,
) -> Result<CommentPushSummary, CommentPushError> {
    let comment_id = comment.comment_id.0;
    let audience = deadline.bound(store.comment_audience(comment.event_id, comment.author_id)).await;
    let Some(audience) = audience.map_err(timed_out)?? else {
        tracing::warn!("event no longer exists; acknowledged");
        return Ok(CommentPushSummary::default());
    };
    let author = audience.author_email.as_deref().unwrap_or("A member");
    let message_json =
        sns_push_message(&comment_push(comment.event_id, &audience.event_name, author, &comment.comment));
    let pairs: Vec<(DeliveryKey, &str)> = audience
        .receivers
        .iter()
        .map(|(user_id, endpoint)| (DeliveryKey { item_id: comment_id, user_id: *user_id }, endpoint.as_str()))
        .collect();
    let keys: Vec<DeliveryKey> = pairs.iter().map(|(key, _)| *key).collect();
    let statuses = claim(store, deadline, &keys).await?;
    let mut summary = CommentPushSummary { receivers: audience.receivers.len(), ..Default::default() };
    let due: Vec<Due> = pairs
        .into_iter()
        .filter(|(key, _)| is_due(statuses.get(key), &mut summary))
        .map(|(key, endpoint)| Due { user_id: key.user_id, endpoint, message_json: &message_json, keys: vec![key] })
        .collect();
    let transient = publish_and_record(store, publisher, deadline, due, &mut summary).await?;
    finish(summary, transient, "comment pushed")
}

/// Claims the log rows of `keys` (one statement) and returns their statuses;
/// a key whose comment or user is gone is left out.
pub(crate) async fn claim(
    store: &Store,
    deadline: &Deadline,
    keys: &[DeliveryKey],
) -> Result<HashMap<DeliveryKey, DeliveryStatus>, CommentPushError> {
    let claims: Vec<(DeliveryKey, Channel)> = keys.iter().map(|key| (*key, Channel::Push)).collect();
    let statuses =
        deadline.bound(store.claim_deliveries(DeliveryLog::Comments, &claims)).await.map_err(timed_out)??;
    Ok(statuses.into_iter().collect())
}

/// True when a claimed row still needs its push; a row already `sent` is
/// counted, a row that could not be claimed (its comment is gone) skipped.
pub(crate) fn is_due(status: Option<&DeliveryStatus>, summary: &mut CommentPushSummary) -> bool {
    match status {
        Some(status) if status.was_accepted() => {
            summary.already_pushed += 1;
            false
        }
        None => false,
        Some(_) => true,
    }
}

/// Logs what a message did (`what` names it), and gives the summary, or the
/// error that returns the message for the transient failures.
pub(crate) fn finish(
    summary: CommentPushSummary,
    transient: usize,
    what: &str,
) -> Result<CommentPushSummary, CommentPushError> {
    tracing::info!(
        receivers = summary.receivers,
        pushed = summary.pushed,
        already_pushed = summary.already_pushed,
        refused = summary.refused,
        transient,
        "{what}"
    );
    if transient > 0 {
        return Err(CommentPushError::Transient(transient));
    }
    Ok(summary)
}

/// One push to one receiver, and the log rows its outcome goes to (one per
/// comment it tells of).
pub(crate) struct Due<'a> {
    pub user_id: UserId,
    pub endpoint: &'a str,
    pub message_json: &'a str,
    pub keys: Vec<DeliveryKey>,
}

/// Publishes every push, [`PUSH_CONCURRENCY`] at once, recording the
/// outcomes a chunk at a time as they come back (so a crash leaves at most
/// one chunk unrecorded). Returns how many failed transiently.
pub(crate) async fn publish_and_record(
    store: &Store,
    publisher: &impl PushPublisher,
    deadline: &Deadline,
    due: Vec<Due<'_>>,
    summary: &mut CommentPushSummary,
) -> Result<usize, CommentPushError> {
    let mut results = stream::iter(due)
        .map(|due| async move {
            let published = deadline
                .bound(publisher.publish_stored(due.endpoint, due.message_json))
                .await
                .unwrap_or_else(|reached| Err(SendFailure::Transient(reached.to_string())));
            (due, published)
        })
        .buffer_unordered(PUSH_CONCURRENCY)
        .chunks(PUSH_CONCURRENCY);
    let mut transient = 0;
    while let Some(chunk) = results.next().await {
        let mut outcomes: Vec<(DeliveryKey, DeliveryOutcome)> = Vec::new();
        for (due, result) in chunk {
            let outcome = outcome_of(due.user_id, result, summary, &mut transient);
            outcomes.extend(due.keys.into_iter().map(|key| (key, outcome.clone())));
        }
        record_in_margin(store, DeliveryLog::Comments, deadline, &outcomes).await?;
    }
    Ok(transient)
}

/// One push's outcome, counted in the summary.
fn outcome_of(
    user_id: UserId,
    result: Result<String, SendFailure>,
    summary: &mut CommentPushSummary,
    transient: &mut usize,
) -> DeliveryOutcome {
    match result {
        Ok(provider_message_id) => {
            summary.pushed += 1;
            DeliveryOutcome::Sent { provider_message_id, at: chrono::Utc::now() }
        }
        Err(SendFailure::Permanent { error, user_effect }) => {
            tracing::warn!(user_id = user_id.0, %error, "push refused for good");
            summary.refused += 1;
            DeliveryOutcome::Failed { error, user_effect }
        }
        Err(SendFailure::Transient(error)) => {
            tracing::error!(user_id = user_id.0, %error, "push failed transiently");
            *transient += 1;
            DeliveryOutcome::Failed { error, user_effect: None }
        }
    }
}
