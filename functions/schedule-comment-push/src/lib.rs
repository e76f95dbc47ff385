//! schedule-comment-push: consumes `comment-push.fifo` (the HTTP API's
//! legacy body: `events_comments_id`, `event_id`, `event_timestamp`,
//! `user_id` (the author), `comment`) and pushes `New comment: <event>` to
//! every other member of the event with a push endpoint, never the author.
//!
//! One `events_comments_logs` row per receiver (unique on comment + user),
//! claimed and recorded with the shared delivery-log statements: a
//! redelivered message pushes nobody twice. Pushes go out concurrently; one
//! refused endpoint does not stop the others, and a transient failure returns
//! the message so that only the receivers not yet logged `sent` are retried.

use futures::{StreamExt, stream};
use std::collections::HashMap;
use torium_delivery::{PushPublisher, SendFailure, record_in_margin};
use torium_domain::{Channel, CommentPosted, DeliveryStatus, MessageError, comment_push, sns_push_message};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use torium_runtime::{Consumer, DeadLetterQueue, Deadline, DeadlineReached, MessageFailure, process_fifo_batch};
use torium_store::{DeliveryKey, DeliveryLog, DeliveryOutcome, Store, StoreError};

/// Pushes in flight at once per message (SNS publishes are independent).
pub const PUSH_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CommentPushError {
    #[error("malformed comment message: {0}")]
    Malformed(#[from] MessageError),
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error("{0} pushes failed transiently; the message is retried for them")]
    Transient(usize),
}

/// What one comment message did.
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
            CommentPushError::Malformed(_) => MessageFailure::Poison(error.to_string()),
            CommentPushError::Database(ref e) if !e.is_retryable() => MessageFailure::Poison(error.to_string()),
            CommentPushError::Database(_) | CommentPushError::Transient(_) => MessageFailure::Retry(error.to_string()),
        }
    }
}

pub async fn handle_batch(
    store: &Store,
    publisher: &impl PushPublisher,
    consumer: &Consumer<impl DeadLetterQueue>,
    deadline: &Deadline,
    event: &SqsEvent,
) -> SqsBatchResponse {
    process_fifo_batch(event, consumer, deadline, |_, body| async move {
        let comment = CommentPosted::parse(body).map_err(CommentPushError::from)?;
        push_comment(store, publisher, deadline, &comment).await.map(drop).map_err(Into::into)
    })
    .await
}

/// Pushes one comment to its receivers; every push is bounded by
/// `deadline` (those it cuts off are retried), and the outcomes are recorded
/// in the invocation's margin.
pub async fn push_comment(
    store: &Store,
    publisher: &impl PushPublisher,
    deadline: &Deadline,
    comment: &CommentPosted,
) -> Result<CommentPushSummary, CommentPushError> {
    let (comment_id, event_id) = (comment.comment_id.0, comment.event_id.0);
    let timed_out = |reached: DeadlineReached| StoreError::Unavailable(reached.to_string());
    let audience = deadline.bound(store.comment_audience(comment.event_id, comment.author_id)).await;
    let Some(audience) = audience.map_err(timed_out)?? else {
        tracing::warn!(comment_id, event_id, "event no longer exists; acknowledged");
        return Ok(CommentPushSummary::default());
    };
    let author = audience.author_email.as_deref().unwrap_or("A member");
    let message_json =
        sns_push_message(&comment_push(comment.event_id, &audience.event_name, author, &comment.comment));

    let claims: Vec<_> = audience
        .receivers
        .iter()
        .map(|(user_id, _)| (DeliveryKey { item_id: comment_id, user_id: *user_id }, Channel::Push))
        .collect();
    let statuses: HashMap<DeliveryKey, DeliveryStatus> = deadline
        .bound(store.claim_deliveries(DeliveryLog::Comments, &claims))
        .await
        .map_err(timed_out)??
        .into_iter()
        .collect();
    let mut summary = CommentPushSummary { receivers: audience.receivers.len(), ..Default::default() };
    let due: Vec<(DeliveryKey, &str)> = audience
        .receivers
        .iter()
        .map(|(user_id, endpoint)| (DeliveryKey { item_id: comment_id, user_id: *user_id }, endpoint.as_str()))
        .filter(|(key, _)| match statuses.get(key) {
            Some(DeliveryStatus::Sent) => {
                summary.already_pushed += 1;
                false
            }
            // Not claimable: the comment itself is gone.
            None => false,
            Some(_) => true,
        })
        .collect();

    // Outcomes are recorded a chunk at a time as the pushes come back, so a
    // crash leaves at most one chunk in flight unrecorded.
    let mut results = stream::iter(due)
        .map(|(key, endpoint)| {
            let message_json = &message_json;
            async move {
                let published = deadline
                    .bound(publisher.publish(endpoint, message_json))
                    .await
                    .unwrap_or_else(|reached| Err(SendFailure::Transient(reached.to_string())));
                (key, published)
            }
        })
        .buffer_unordered(PUSH_CONCURRENCY)
        .chunks(PUSH_CONCURRENCY);
    let mut transient = 0;
    while let Some(chunk) = results.next().await {
        let outcomes: Vec<(DeliveryKey, DeliveryOutcome)> = chunk
            .into_iter()
            .map(|(key, result)| (key, outcome_of(key, result, &mut summary, &mut transient)))
            .collect();
        record_in_margin(store, DeliveryLog::Comments, deadline, &outcomes).await?;
    }
    tracing::info!(
        comment_id,
        event_id,
        receivers = summary.receivers,
        pushed = summary.pushed,
        already_pushed = summary.already_pushed,
        refused = summary.refused,
        transient,
        "comment pushed"
    );
    if transient > 0 {
        return Err(CommentPushError::Transient(transient));
    }
    Ok(summary)
}

/// One push's outcome, counted in the summary.
fn outcome_of(
    key: DeliveryKey,
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
            tracing::warn!(user_id = key.user_id.0, %error, "push refused for good");
            summary.refused += 1;
            DeliveryOutcome::Failed { error, user_effect }
        }
        Err(SendFailure::Transient(error)) => {
            tracing::error!(user_id = key.user_id.0, %error, "push failed transiently");
            *transient += 1;
            DeliveryOutcome::Failed { error, user_effect: None }
        }
    }
}
