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
    /// The reminder firing's or the comment's id.
    pub item_id: i64,
    /// The member the row is for.
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
    /// The provider accepted it.
    Sent {
        /// The provider's id for the message (what its reports name).
        provider_message_id: String,
        /// When it was accepted.
        at: DateTime<Utc>,
    },
    /// The provider refused it.
    Failed {
        /// Why, for the row's `last_error`.
        error: String,
        /// What the refusal says about the user's number or endpoint; `None`
        /// when nothing.
        user_effect: Option<UserEffect>,
    },
}

/// A provider's verdict about the user's address, kept on the user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEffect {
    /// The number opted out of SMS: flag it for the app.
    SmsOptedOut,
    /// The push endpoint is disabled or gone: forget it, so the next
    /// reminder falls back to email.
    PushEndpointGone {
        /// The endpoint to forget (only if the user still has it).
        endpoint_arn: EndpointArn,
    },
}
