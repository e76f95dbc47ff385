//! The delivery flow of send-sms, send-email and send-push. Per SQS batch:
//!
//! 1. read every body in order as a [`Delivery`] for this sender's channel;
//!    the first that is not one stops the batch (it and every later message
//!    are batch item failures, with a log line saying why);
//! 2. claim the log rows of the readable ones in one statement
//!    (`event_reminders_logs`, unique on reminder + user): a row already
//!    `sent` means the person has it, acknowledge and do nothing; a message
//!    whose reminder or user no longer exists is acknowledged with a log line;
//! 3. send in order through the channel's [`ChannelSender`]: accepted →
//!    `sent` with the provider's message id; a permanent refusal → `failed`,
//!    acknowledged (never retried forever); a transient one (throttling, 5xx,
//!    timeout) → `failed` and the batch stops there: it and every later
//!    message go back to SQS;
//! 4. record every outcome in one statement.
//!
//! If the process dies between a provider call and step 4, the row stays
//! `pending` and SQS redelivers the message, which is then sent again: a
//! rare duplicate rather than a lost reminder (see docs/architecture.md).

use chrono::Utc;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use torium_domain::{Channel, Delivery, DeliveryStatus, MessageError};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use torium_runtime::{BatchOutcome, body_of, fifo_batch_response, redact_email, redact_phone};
use torium_store::{DeliveryKey, DeliveryLog, DeliveryOutcome, Store, StoreError, UserEffect};

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
    Permanent { error: String, user_effect: Option<UserEffect> },
}

/// One channel's provider.
pub trait ChannelSender: Send + Sync {
    /// The channel whose queue this sender consumes.
    fn channel(&self) -> Channel;

    /// Delivers one message; returns the provider's message id.
    fn send(&self, delivery: &Delivery) -> impl Future<Output = Result<String, SendFailure>> + Send;
}

/// What a batch did, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchSummary {
    pub sent: usize,
    pub already_sent: usize,
    pub failed_permanently: usize,
    pub unknown: usize,
    pub returned_for_retry: usize,
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
    DeliveryKey { item_id: delivery.reminder_id.0, user_id: delivery.user_id }
}

/// Runs the flow on one SQS batch.
pub async fn deliver_batch(store: &Store, sender: &impl ChannelSender, event: &SqsEvent) -> SqsBatchResponse {
    let (summary, outcome) = deliver(store, sender, &event.records).await;
    tracing::info!(
        channel = %sender.channel(),
        messages = event.records.len(),
        sent = summary.sent,
        already_sent = summary.already_sent,
        failed_permanently = summary.failed_permanently,
        unknown = summary.unknown,
        returned_for_retry = summary.returned_for_retry,
        "delivery batch done"
    );
    fifo_batch_response(&event.records, outcome)
}

/// The flow itself: what happened, and how far the batch is done.
pub async fn deliver(
    store: &Store,
    sender: &impl ChannelSender,
    records: &[SqsMessage],
) -> (BatchSummary, BatchOutcome) {
    let channel = sender.channel();
    let mut summary = BatchSummary::default();
    let mut stop_at: Option<usize> = None;

    let mut deliveries = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        match read(record, channel) {
            Ok(delivery) => deliveries.push(delivery),
            Err(error) => {
                tracing::error!(message_id = record.message_id.as_deref().unwrap_or("?"), %error, "unreadable delivery message");
                stop_at = Some(index);
                break;
            }
        }
    }

    let claims: Vec<_> = deliveries.iter().map(|d| (key(d), channel)).collect();
    let claimed: HashMap<DeliveryKey, DeliveryStatus> =
        match store.claim_deliveries(DeliveryLog::Reminders, &claims).await {
            Ok(rows) => rows.into_iter().collect(),
            Err(error) => {
                tracing::error!(%error, "claiming the delivery log failed; the whole batch is retried");
                return (BatchSummary { returned_for_retry: records.len(), ..summary }, BatchOutcome::FailedAt(0));
            }
        };

    let mut outcomes: Vec<(DeliveryKey, DeliveryOutcome)> = Vec::new();
    let mut handled: HashSet<DeliveryKey> = HashSet::new();
    for (index, delivery) in deliveries.iter().enumerate() {
        let key = key(delivery);
        let ids = (delivery.event_id.0, delivery.reminder_id.0, delivery.user_id.0);
        match claimed.get(&key) {
            None => {
                tracing::warn!(
                    event_id = ids.0,
                    reminder_id = ids.1,
                    user_id = ids.2,
                    "reminder or user no longer exists; acknowledged"
                );
                summary.unknown += 1;
                continue;
            }
            Some(DeliveryStatus::Sent) => {
                summary.already_sent += 1;
                continue;
            }
            Some(_) if !handled.insert(key) => {
                // The same delivery twice in one batch: the first one counts.
                summary.already_sent += 1;
                continue;
            }
            Some(_) => {}
        }
        match sender.send(delivery).await {
            Ok(provider_message_id) => {
                tracing::info!(event_id = ids.0, reminder_id = ids.1, user_id = ids.2, %provider_message_id, "delivered");
                summary.sent += 1;
                outcomes.push((key, DeliveryOutcome::Sent { provider_message_id, at: Utc::now() }));
            }
            Err(SendFailure::Permanent { error, user_effect }) => {
                let logged = scrub(&error, delivery);
                tracing::warn!(event_id = ids.0, reminder_id = ids.1, user_id = ids.2, error = %logged, "refused for good; not retried");
                summary.failed_permanently += 1;
                outcomes.push((key, DeliveryOutcome::Failed { error, user_effect }));
            }
            Err(SendFailure::Transient(error)) => {
                let logged = scrub(&error, delivery);
                tracing::error!(event_id = ids.0, reminder_id = ids.1, user_id = ids.2, error = %logged, "transient failure; retried with every later message");
                outcomes.push((key, DeliveryOutcome::Failed { error, user_effect: None }));
                // Indexes of `deliveries` equal those of `records` up to the first unreadable one.
                stop_at = Some(index);
                break;
            }
        }
    }

    if let Err(error) = record_with_retries(store, DeliveryLog::Reminders, &outcomes).await {
        // The sends happened but are not logged: SQS redelivers the batch
        // and the people may get a second copy (at least once).
        tracing::error!(%error, "recording delivery outcomes failed; the whole batch is retried");
        return (BatchSummary { returned_for_retry: records.len(), ..summary }, BatchOutcome::FailedAt(0));
    }
    match stop_at {
        Some(index) => {
            summary.returned_for_retry = records.len() - index;
            (summary, BatchOutcome::FailedAt(index))
        }
        None => (summary, BatchOutcome::AllDone),
    }
}

/// A provider's error text with the receiver's number or address masked:
/// logs never carry a whole phone number or email address.
fn scrub(error: &str, delivery: &Delivery) -> String {
    let masked = match delivery.channel() {
        Channel::Sms => redact_phone(&delivery.receiver),
        Channel::Email => redact_email(&delivery.receiver),
        Channel::Push => return error.to_owned(),
    };
    error.replace(&delivery.receiver, &masked)
}

/// A failed write of outcomes means resending what was sent, so it is
/// worth two quick retries.
pub async fn record_with_retries(
    store: &Store,
    log: DeliveryLog,
    outcomes: &[(DeliveryKey, DeliveryOutcome)],
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match store.record_delivery_outcomes(log, outcomes).await {
            Err(error) if error.is_retryable() && attempt < 2 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use torium_domain::{DeliveryContent, EventId, ReminderId, UserId};

    fn delivery(receiver: &str, content: DeliveryContent) -> Delivery {
        Delivery {
            reminder_id: ReminderId(1),
            event_id: EventId(1),
            user_id: UserId(1),
            trigger_at: Utc.with_ymd_and_hms(2026, 12, 23, 17, 0, 0).unwrap(),
            receiver: receiver.into(),
            content,
        }
    }

    #[test]
    fn logged_errors_never_carry_the_whole_receiver() {
        let sms = delivery("+48500100200", DeliveryContent::Sms { text: "hi".into() });
        assert_eq!(
            scrub("Invalid parameter: PhoneNumber +48500100200 is not valid", &sms),
            "Invalid parameter: PhoneNumber +48*******00 is not valid"
        );
        let email = delivery(
            "ala@example.com",
            DeliveryContent::Email { subject: "s".into(), html: "h".into(), text: "t".into() },
        );
        assert_eq!(
            scrub("Email address is not verified: ala@example.com", &email),
            "Email address is not verified: a***@example.com"
        );
    }
}
