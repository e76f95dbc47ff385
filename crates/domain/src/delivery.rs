//! What happened to one delivery, in the words every sender and the store
//! share: the (item, user) key of its log row, its outcome, and what the
//! provider said about the user's address.

use crate::{CommentId, EndpointArn, ReminderId, UserId};
use chrono::{DateTime, Utc};

/// The (item, user) key of a delivery log row: the item is a reminder
/// firing (`event_reminders_logs`) or a comment (`events_comments_logs`),
/// as the log a statement works on says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryKey {
    pub item_id: i64,
    pub user_id: UserId,
}

impl DeliveryKey {
    /// One member's row of one reminder firing.
    pub fn reminder(reminder_id: ReminderId, user_id: UserId) -> Self {
        DeliveryKey { item_id: reminder_id.0, user_id }
    }

    /// One member's row of one comment.
    pub fn comment(comment_id: CommentId, user_id: UserId) -> Self {
        DeliveryKey { item_id: comment_id.0, user_id }
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent { provider_message_id: String, at: DateTime<Utc> },
    Failed { error: String, user_effect: Option<UserEffect> },
}

/// A provider's verdict about the user's address, kept on the user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEffect {
    /// The number opted out of SMS: flag it for the app.
    SmsOptedOut,
    /// The push endpoint is disabled or gone: forget it, so the next
    /// reminder falls back to email.
    PushEndpointGone { endpoint_arn: EndpointArn },
}
