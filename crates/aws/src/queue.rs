//! Sending to FIFO queues. The suite only ever sends in batches: one
//! `SendMessageBatch` per ten messages, each with its message group and
//! deduplication id set by the caller (content-based deduplication is off).

use crate::error::{AwsError, FailureKind, classify};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use std::future::Future;

/// SQS takes at most ten entries per `SendMessageBatch`.
pub const MAX_BATCH_SIZE: usize = 10;

/// One message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
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
}

impl SqsQueue {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SqsQueue { client: aws_sdk_sqs::Client::new(config) }
    }

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

impl MessageQueue for SqsQueue {
    async fn send_all(&self, queue_url: &str, messages: &[OutgoingMessage]) -> Result<usize, AwsError> {
        let mut calls = 0;
        for chunk in messages.chunks(MAX_BATCH_SIZE) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .message_group_id(&m.group_id)
                        .message_deduplication_id(&m.deduplication_id)
                        .build()
                        .map_err(|e| AwsError {
                            operation: "SendMessageBatch",
                            kind: FailureKind::Permanent,
                            code: None,
                            message: e.to_string(),
                        })
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
            calls += 1;
            // A batch call succeeds even when some entries are refused.
            if let Some(failed) = output.failed().first() {
                return Err(AwsError {
                    operation: "SendMessageBatch",
                    kind: if failed.sender_fault() { FailureKind::Permanent } else { FailureKind::Transient },
                    code: Some(failed.code().to_owned()),
                    message: format!(
                        "{} of {} entries refused, first: {}",
                        output.failed().len(),
                        chunk.len(),
                        failed.message().unwrap_or("no message")
                    ),
                });
            }
        }
        Ok(calls)
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
    fn set_aside(&self, letter: &DeadLetter<'_>) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`DeadLetterQueue`] over one SQS FIFO dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(queue: &SqsQueue, queue_url: impl Into<String>) -> Self {
        SqsDeadLetters { client: queue.client.clone(), queue_url: queue_url.into() }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

impl DeadLetterQueue for SqsDeadLetters {
    async fn set_aside(&self, letter: &DeadLetter<'_>) -> Result<(), AwsError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let attribute = |value: &str| {
            let value: String = value.chars().take(1000).collect();
            MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| AwsError {
                operation: "SendMessage",
                kind: FailureKind::Permanent,
                code: None,
                message: e.to_string(),
            })
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
