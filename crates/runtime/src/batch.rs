//! The FIFO batch rule, in one place for every queue consumer: records are
//! handled in order; at the first failure that record and every later one
//! are reported as batch item failures, so SQS redelivers them in the same
//! order and nothing after a failure overtakes it. Never log-and-succeed.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use std::future::Future;

/// What a batch handler decided: how many leading records are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Every record is done (handled, or permanently refused and logged).
    AllDone,
    /// Records before this index are done; it and all later are to be retried.
    FailedAt(usize),
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

/// The response for a batch whose leading records are done.
pub fn fifo_batch_response(records: &[SqsMessage], outcome: BatchOutcome) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    if let BatchOutcome::FailedAt(first) = outcome {
        response.batch_item_failures = records
            .iter()
            .skip(first)
            .map(|record| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                failure
            })
            .collect();
    }
    response
}

/// Runs `handle` on each record's body in order and stops at the first
/// error (a record without a body is one), which is logged with the message
/// id; the response names it and every later record.
pub async fn process_fifo_batch<'a, F, Fut, E>(event: &'a SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    process_fifo_messages(event, |_, body| handle(body)).await
}

/// [`process_fifo_batch`] for handlers that also read the record (its
/// attributes, such as `SentTimestamp`).
pub async fn process_fifo_messages<'a, F, Fut, E>(event: &'a SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage, &'a str) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut outcome = BatchOutcome::AllDone;
    for (index, record) in event.records.iter().enumerate() {
        let result = match body_of(record) {
            Some(body) => handle(record, body).await.map_err(|e| e.to_string()),
            None => Err("message has no body".to_owned()),
        };
        if let Err(error) = result {
            tracing::error!(
                message_id = record.message_id.as_deref().unwrap_or("?"),
                index,
                returned_for_retry = event.records.len() - index,
                %error,
                "message failed; it and every later message go back to the queue"
            );
            outcome = BatchOutcome::FailedAt(index);
            break;
        }
    }
    fifo_batch_response(&event.records, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn batch(ids: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .map(|id| {
                let mut m = SqsMessage::default();
                m.message_id = Some((*id).to_owned());
                m.body = Some(format!("body-{id}"));
                m
            })
            .collect();
        event
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    #[tokio::test]
    async fn all_succeed_reports_nothing_and_handles_every_record_in_order() {
        let seen = RefCell::new(Vec::new());
        let response = process_fifo_batch(&batch(&["a", "b", "c"]), |body| {
            seen.borrow_mut().push(body.to_owned());
            async { Ok::<_, String>(()) }
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(*seen.borrow(), ["body-a", "body-b", "body-c"]);
    }

    #[tokio::test]
    async fn first_failure_stops_the_batch_and_reports_it_and_every_later_record() {
        let seen = RefCell::new(Vec::new());
        let response = process_fifo_batch(&batch(&["a", "b", "c", "d"]), |body| {
            let id = body.trim_start_matches("body-").to_owned();
            seen.borrow_mut().push(id.clone());
            async move { if id == "b" { Err("boom".to_owned()) } else { Ok(()) } }
        })
        .await;
        assert_eq!(failed_ids(&response), ["b", "c", "d"]);
        assert_eq!(*seen.borrow(), ["a", "b"], "nothing after the failure is attempted");
    }

    #[tokio::test]
    async fn a_record_without_a_body_fails_without_reaching_the_handler() {
        let mut event = batch(&["a", "b", "c"]);
        event.records[1].body = Some("  ".to_owned());
        let seen = RefCell::new(Vec::new());
        let response = process_fifo_batch(&event, |body| {
            seen.borrow_mut().push(body.to_owned());
            async { Ok::<_, String>(()) }
        })
        .await;
        assert_eq!(failed_ids(&response), ["b", "c"]);
        assert_eq!(*seen.borrow(), ["body-a"]);
    }

    #[test]
    fn outcome_maps_to_the_tail_of_the_batch() {
        let event = batch(&["a", "b", "c"]);
        assert!(fifo_batch_response(&event.records, BatchOutcome::AllDone).batch_item_failures.is_empty());
        assert_eq!(failed_ids(&fifo_batch_response(&event.records, BatchOutcome::FailedAt(0))), ["a", "b", "c"]);
        assert_eq!(failed_ids(&fifo_batch_response(&event.records, BatchOutcome::FailedAt(2))), ["c"]);
    }

    #[test]
    fn response_serialises_as_lambda_expects() {
        let event = batch(&["m1"]);
        let json = serde_json::to_value(fifo_batch_response(&event.records, BatchOutcome::FailedAt(0))).unwrap();
        assert_eq!(json, serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}));
    }
}
