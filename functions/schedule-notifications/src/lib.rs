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

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use torium_aws::{AwsError, MessageQueue, OutgoingMessage};
use torium_domain::{
    Channel, Delivery, DeliveryContent, Event, Firing, Member, MessageError, ReminderContent, ReminderId,
    ReminderRequest, UserId, reminder_email, reminder_push, reminder_text, route, sns_push_message,
};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use torium_runtime::{
    ConfigError, Consumer, DeadLetterQueue, Deadline, DeadlineReached, Env, MessageFailure, process_fifo_batch, sent_at,
};
use torium_store::{Store, StoreError};

/// The three channel queues, from the environment the template sets.
#[derive(Debug, Clone)]
pub struct FanOutConfig {
    pub sms_queue_url: String,
    pub email_queue_url: String,
    pub push_queue_url: String,
}

impl FanOutConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(FanOutConfig {
            sms_queue_url: env.required("SEND_SMS_QUEUE_URL")?.to_owned(),
            email_queue_url: env.required("SEND_EMAIL_QUEUE_URL")?.to_owned(),
            push_queue_url: env.required("SEND_PUSH_QUEUE_URL")?.to_owned(),
        })
    }

    fn queue_url(&self, channel: Channel) -> &str {
        match channel {
            Channel::Sms => &self.sms_queue_url,
            Channel::Email => &self.email_queue_url,
            Channel::Push => &self.push_queue_url,
        }
    }
}

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

/// What one fan-out sent where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FanOutSummary {
    pub reminder_id: Option<ReminderId>,
    pub per_channel: BTreeMap<Channel, usize>,
    pub unreachable: usize,
    pub queue_calls: usize,
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
        fan_out(store, queue, config, deadline, firing).await.map(drop).map_err(Into::into)
    })
    .await
}

/// The firing a message asks for (see the module's first lines).
fn firing_of(record: &SqsMessage, body: &str) -> Result<Firing, FanOutError> {
    match ReminderRequest::parse(body)? {
        ReminderRequest::Due(due) => Ok(due.into()),
        request @ ReminderRequest::NotifyNow(_) => {
            Ok(request.firing(sent_at(record).ok_or(FanOutError::NoSentTimestamp)?))
        }
    }
}

/// Sends one firing to every member of its event; every statement and
/// queue call is bounded by `deadline`.
pub async fn fan_out(
    store: &Store,
    queue: &impl MessageQueue,
    config: &FanOutConfig,
    deadline: &Deadline,
    due: Firing,
) -> Result<FanOutSummary, FanOutError> {
    let Some(event) = deadline.bound(store.event_with_member_count(due.event_id)).await?? else {
        tracing::warn!(event_id = due.event_id.0, "event no longer exists; nothing to remind of");
        return Ok(FanOutSummary::default());
    };
    let reminder_id = match deadline.bound(store.record_firing(&due)).await? {
        Ok(id) => id,
        Err(StoreError::NotFound(_)) => {
            tracing::warn!(event_id = due.event_id.0, "event deleted while fanning out; nothing to remind of");
            return Ok(FanOutSummary::default());
        }
        Err(other) => return Err(other.into()),
    };
    let members = deadline.bound(store.event_members(event.id)).await??;

    let mut sends: BTreeMap<Channel, Vec<OutgoingMessage>> = BTreeMap::new();
    let mut unreachable: Vec<UserId> = Vec::new();
    for member in &members {
        let Some(route) = route(member) else {
            unreachable.push(member.user_id);
            continue;
        };
        let delivery = Delivery {
            reminder_id,
            event_id: event.id,
            user_id: member.user_id,
            trigger_at: due.trigger_at,
            receiver: route.receiver,
            content: render(
                &event,
                due.occurrence_at.unwrap_or_else(|| event.occurrence_at(due.trigger_at)),
                member,
                route.channel,
            ),
        };
        sends.entry(route.channel).or_default().push(OutgoingMessage {
            body: delivery.to_body(),
            group_id: delivery.group_id(),
            deduplication_id: delivery.deduplication_id(),
        });
    }
    if !unreachable.is_empty() {
        tracing::warn!(
            event_id = event.id.0,
            reminder_id = reminder_id.0,
            count = unreachable.len(),
            "members without a usable channel were skipped"
        );
        deadline.bound(store.record_unreachable_members(reminder_id, &unreachable)).await??;
    }
    let mut summary =
        FanOutSummary { reminder_id: Some(reminder_id), unreachable: unreachable.len(), ..Default::default() };
    for (channel, messages) in &sends {
        summary.queue_calls += deadline.bound(queue.send_all(config.queue_url(*channel), messages)).await??;
        summary.per_channel.insert(*channel, messages.len());
    }
    tracing::info!(
        event_id = event.id.0,
        reminder_id = reminder_id.0,
        trigger_at = %due.trigger_at,
        source = due.source.as_str(),
        members = members.len(),
        sms = summary.per_channel.get(&Channel::Sms).copied().unwrap_or(0),
        email = summary.per_channel.get(&Channel::Email).copied().unwrap_or(0),
        push = summary.per_channel.get(&Channel::Push).copied().unwrap_or(0),
        sqs_calls = summary.queue_calls,
        "reminder fanned out"
    );
    Ok(summary)
}

/// The reminder as this member receives it on this channel.
fn render(event: &Event, occurrence_at: DateTime<Utc>, member: &Member, channel: Channel) -> DeliveryContent {
    let content = ReminderContent {
        event_name: &event.name,
        description: &event.description,
        event_at: occurrence_at,
        time_zone: &event.time_zone,
        budget: event.budget,
        member_count: event.member_count,
        payment_url: member.organization_payment_url.as_deref(),
    };
    match channel {
        Channel::Sms => DeliveryContent::Sms { text: reminder_text(&content) },
        Channel::Email => {
            let email = reminder_email(&content);
            DeliveryContent::Email { subject: email.subject, html: email.html, text: email.text }
        }
        Channel::Push => DeliveryContent::Push { message: sns_push_message(&reminder_push(&content)) },
    }
}
