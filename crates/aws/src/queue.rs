//! Sending to FIFO queues. The suite's producers send in batches: one
//! `SendMessageBatch` per ten messages (and at most [`MAX_BATCH_BYTES`]),
//! each with its message group and deduplication id set by the caller.
//! Batches whose message groups are disjoint are in flight at once (bounded
//! by the queue's send concurrency); when a group spans batches, they go one
//! after the other, so order within a group always holds.

use crate::error::{AwsError, FailureKind, classify};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use std::future::Future;

/// SQS takes at most ten entries per `SendMessageBatch`.
pub const MAX_BATCH_SIZE: usize = 10;

/// SQS caps a message, and a whole batch, at 256 KiB (bodies and attributes).
pub(crate) const MAX_BATCH_BYTES: usize = 256 * 1024;

/// `SendMessageBatch` calls in flight at once by default.
pub(crate) const DEFAULT_SEND_CONCURRENCY: usize = 8;

/// One message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The message body (JSON, one of the domain's message types).
    pub body: String,
    /// Messages of one group are delivered in order, one at a time.
    pub group_id: String,
    /// SQS drops a second message with the same id within five minutes.
    pub deduplication_id: String,
}

/// Where handlers send queue messages.
pub trait MessageQueue: Send + Sync {
    /// Sends every message, in order, ten per call; returns how many API
    /// calls it took. Fails if any message was not accepted.
    fn send_all(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
}

/// [`MessageQueue`] over SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    send_concurrency: usize,
}

impl SqsQueue {
    /// A client from the SDK configuration, sending with the default
    /// concurrency.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SqsQueue { client: aws_sdk_sqs::Client::new(config), send_concurrency: DEFAULT_SEND_CONCURRENCY }
    }

    /// At most `calls` `SendMessageBatch` calls in flight at once (at least 1).
    pub fn with_send_concurrency(mut self, calls: usize) -> Self {
        self.send_concurrency = calls.max(1);
        self
    }

    /// The SDK client, for calls this adapter does not wrap.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// Messages waiting in the queue, visible or in flight (approximate, as
    /// SQS counts them).
    pub async fn depth(&self, queue_url: &str) -> Result<i64, AwsError> {
        use aws_sdk_sqs::types::QueueAttributeName as Attr;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(Attr::ApproximateNumberOfMessages)
            .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| classify("GetQueueAttributes", &e))?;
        let count = |name: Attr| {
            output.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)
        };
        Ok(count(Attr::ApproximateNumberOfMessages) + count(Attr::ApproximateNumberOfMessagesNotVisible))
    }
}

/// The messages in order, cut into batches of at most ten entries and
/// [`MAX_BATCH_BYTES`]; a message alone over the limit is an error.
pub fn batches(messages: &[OutgoingMessage]) -> Result<Vec<&[OutgoingMessage]>, AwsError> {
    let size = |m: &OutgoingMessage| m.body.len() + m.group_id.len() + m.deduplication_id.len();
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, message) in messages.iter().enumerate() {
        let message_bytes = size(message);
        if message_bytes > MAX_BATCH_BYTES {
            return Err(AwsError::permanent(
                "SendMessageBatch",
                format!("a message of {message_bytes} bytes is over SQS's {MAX_BATCH_BYTES}"),
            ));
        }
        if i - start == MAX_BATCH_SIZE || bytes + message_bytes > MAX_BATCH_BYTES {
            batches.push(&messages[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += message_bytes;
    }
    if start < messages.len() {
        batches.push(&messages[start..]);
    }
    Ok(batches)
}

/// True when no message group has messages in two batches: the batches can
/// then be in flight at once without reordering any group.
pub fn groups_are_disjoint(batches: &[&[OutgoingMessage]]) -> bool {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    batches.iter().enumerate().all(|(b, batch)| batch.iter().all(|m| *seen.entry(&m.group_id).or_insert(b) == b))
}

impl MessageQueue for SqsQueue {
    async fn send_all(&self, queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        let batches = batches(messages)?;
        let concurrency = if groups_are_disjoint(&batches) { self.send_concurrency } else { 1 };
        let mut calls = 0;
        // Waves of `concurrency` calls at once, in order.
        for wave in batches.chunks(concurrency) {
            let sent: Vec<futures::future::BoxFuture<'_, Result<usize, AwsError>>> =
                wave.iter().map(|batch| Box::pin(self.send_batch(queue_url, batch)) as _).collect();
            for result in futures::future::join_all(sent).await {
                calls += result?;
            }
        }
        Ok(calls)
    }
}

impl SqsQueue {
    /// One `SendMessageBatch`; fails if any entry was refused.
    async fn send_batch(&self, queue_url: &str, batch: &[OutgoingMessage]) -> Result<usize, AwsError> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .message_group_id(&m.group_id)
                    .message_deduplication_id(&m.deduplication_id)
                    .build()
                    .map_err(|e| AwsError::permanent("SendMessageBatch", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify("SendMessageBatch", &e))?;
        // A batch call succeeds even when some entries are refused.
        if let Some(failed) = output.failed().first() {
            // The sender's fault is a bad entry; otherwise SQS failed it.
            let kind = if failed.sender_fault() { FailureKind::Permanent } else { FailureKind::Transient };
            let message = format!(
                "{} of {} entries refused, first: {}",
                output.failed().len(),
                batch.len(),
                failed.message().unwrap_or("no message")
            );
            return Err(AwsError::new("SendMessageBatch", kind, message).with_code(Some(failed.code().to_owned())));
        }
        Ok(1)
    }
}

/// A message that can never succeed, on its way to its queue's dead-letter
/// queue at once (instead of after `maxReceiveCount` receives that would
/// hold back every later message of its group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetter<'a> {
    /// The body exactly as received, so it can be redriven once fixed.
    pub body: &'a str,
    /// The message's group: the same group in the dead-letter queue.
    pub group_id: &'a str,
    /// The SQS message id: the dead letter's deduplication id comes from it,
    /// so setting the same message aside twice keeps one copy.
    pub message_id: &'a str,
    /// Why it can never succeed, for whoever reads the dead-letter queue.
    pub reason: &'a str,
    /// The queue it came from (its name).
    pub source_queue: &'a str,
}

impl DeadLetter<'_> {
    /// SQS caps a deduplication id at 128 characters.
    pub fn deduplication_id(&self) -> String {
        let id: String = self.message_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(120).collect();
        format!("dead-{id}")
    }
}

/// Where a consumer sets poison messages aside.
pub trait DeadLetterQueue: Send + Sync {
    /// Sends the message, with why it was set aside, to the dead-letter
    /// queue.
    fn set_aside(&self, letter: &DeadLetter<'_>) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`DeadLetterQueue`] over one SQS FIFO dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    /// The dead-letter queue at `queue_url`, through `queue`'s client.
    pub fn new(queue: &SqsQueue, queue_url: impl Into<String>) -> Self {
        SqsDeadLetters { client: queue.client.clone(), queue_url: queue_url.into() }
    }

    /// The dead-letter queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

impl DeadLetterQueue for SqsDeadLetters {
    async fn set_aside(&self, letter: &DeadLetter<'_>) -> Result<(), AwsError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let attribute = |value: &str| {
            let value: String = value.chars().take(1000).collect();
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| AwsError::permanent("SendMessage", e.to_string()))
        };
        let group_id = if letter.group_id.is_empty() { letter.message_id } else { letter.group_id };
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(letter.body)
            .message_group_id(group_id)
            .message_deduplication_id(letter.deduplication_id())
            .message_attributes("reason", attribute(letter.reason)?)
            .message_attributes("source_queue", attribute(letter.source_queue)?)
            .message_attributes("original_message_id", attribute(letter.message_id)?)
            .send()
            .await
            .map_err(|e| classify("SendMessage", &e))?;
        Ok(())
    }
}

impl<T: DeadLetterQueue> DeadLetterQueue for &T {
    fn set_aside(&self, letter: &DeadLetter<'_>) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).set_aside(letter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(group: &str, bytes: usize) -> OutgoingMessage {
        OutgoingMessage { body: "x".repeat(bytes), group_id: group.to_owned(), deduplication_id: String::new() }
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib_in_order() {
        let many: Vec<_> = (0..23).map(|i| message(&format!("g{i}"), 10)).collect();
        let sizes: Vec<usize> = batches(&many).unwrap().iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let big: Vec<_> = (0..5).map(|i| message(&format!("g{i}"), 100 * 1024)).collect();
        let sizes: Vec<usize> = batches(&big).unwrap().iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 2, 1], "two 100 KiB bodies fit in 256 KiB, three do not");
        let too_big = [message("g", MAX_BATCH_BYTES + 1)];
        assert!(!batches(&too_big).unwrap_err().is_transient());
    }

    #[test]
    fn batches_go_at_once_only_when_no_group_spans_two() {
        let distinct: Vec<_> = (0..20).map(|i| message(&format!("user-{i}"), 10)).collect();
        assert!(groups_are_disjoint(&batches(&distinct).unwrap()));
        let mut spanning = distinct.clone();
        spanning[15].group_id = "user-1".to_owned();
        assert!(!groups_are_disjoint(&batches(&spanning).unwrap()));
    }
}
