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
