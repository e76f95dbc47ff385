//! send-group-invitation: consumes `group-invitation.fifo` (the HTTP API's
//! legacy body: `group_invitation_logs_id`, `user_id`, `group_id`) and pushes
//! the invitation to the invited user: title `<group> - Group invitation`,
//! body `From <admin email>`, `data.event = group_invitation`; then marks the
//! invitation `sent`. Uses the shared push publisher and FIFO batch driver.
//!
//! An invitation no longer `pending` is not pushed again. A user without a
//! push endpoint keeps a pending invitation (the app lists it), and so does
//! a user whose endpoint SNS reports dead (it is forgotten). A gone
//! invitation, user or group is acknowledged with a log line.

use chrono::{DateTime, Utc};
use torium_delivery::{PushPublisher, SendFailure};
use torium_domain::UserEffect;
use torium_domain::{GroupInvitation, InvitationStatus, MessageError, invitation_push, sns_push_message};
use torium_runtime::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use torium_runtime::{Consumer, DeadLetterQueue, Deadline, MessageFailure, process_fifo_batch};
use torium_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error("malformed invitation message: {0}")]
    Malformed(#[from] MessageError),
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error("push failed, will retry: {0}")]
    Transient(String),
}

/// What became of one invitation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationOutcome {
    Pushed {
        provider_message_id: String,
    },
    AlreadyHandled(InvitationStatus),
    /// The invitation, its user or its group no longer exists.
    Gone,
    /// No push endpoint (or a dead one): the invitation stays pending.
    NoDevice,
    /// SNS refused the push for good; the invitation stays pending.
    Refused(String),
}

impl From<InvitationError> for MessageFailure {
    fn from(error: InvitationError) -> Self {
        match error {
            InvitationError::Malformed(_) => MessageFailure::Poison(error.to_string()),
            InvitationError::Database(ref e) if !e.is_retryable() => MessageFailure::Poison(error.to_string()),
            InvitationError::Database(_) | InvitationError::Transient(_) => MessageFailure::Retry(error.to_string()),
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
        let message = GroupInvitation::parse(body).map_err(InvitationError::from)?;
        push_invitation(store, publisher, deadline, &message, Utc::now()).await.map(drop).map_err(Into::into)
    })
    .await
}

/// Pushes one invitation; the push is bounded by `deadline`, marking it
/// sent happens in the invocation's margin.
pub async fn push_invitation(
    store: &Store,
    publisher: &impl PushPublisher,
    deadline: &Deadline,
    message: &GroupInvitation,
    now: DateTime<Utc>,
) -> Result<InvitationOutcome, InvitationError> {
    let invitation_id = message.invitation_id.0;
    let invitation = deadline.bound(store.invitation_to_push(message.invitation_id)).await;
    let Some(invitation) = invitation.map_err(|reached| StoreError::Unavailable(reached.to_string()))?? else {
        tracing::warn!(invitation_id, "invitation, its user or its group no longer exists; acknowledged");
        return Ok(InvitationOutcome::Gone);
    };
    let (user_id, group_id) = (invitation.user_id.0, invitation.group_id.0);
    if invitation.user_id != message.user_id || invitation.group_id != message.group_id {
        tracing::warn!(
            invitation_id,
            user_id,
            group_id,
            "message names another user or group than the invitation; the invitation wins"
        );
    }
    if invitation.status != InvitationStatus::Pending {
        tracing::info!(invitation_id, status = %invitation.status, "invitation already handled; not pushed again");
        return Ok(InvitationOutcome::AlreadyHandled(invitation.status));
    }
    let Some(endpoint) = invitation.device_arn.as_deref() else {
        tracing::info!(
            invitation_id,
            user_id,
            "invited user has no push endpoint; the invitation stays pending in the app"
        );
        return Ok(InvitationOutcome::NoDevice);
    };
    let from = invitation.from_email.as_deref().unwrap_or("a Torium group admin");
    let message_json = sns_push_message(&invitation_push(&invitation.group_name, from));
    let published = deadline
        .bound(publisher.publish_stored(endpoint, &message_json))
        .await
        .unwrap_or_else(|reached| Err(SendFailure::Transient(reached.to_string())));
    match published {
        Ok(provider_message_id) => {
            deadline
                .bound_final(store.mark_invitation_sent(invitation.id, now))
                .await
                .map_err(|reached| StoreError::Unavailable(reached.to_string()))??;
            tracing::info!(invitation_id, user_id, group_id, %provider_message_id, "invitation pushed");
            Ok(InvitationOutcome::Pushed { provider_message_id })
        }
        Err(SendFailure::Transient(error)) => Err(InvitationError::Transient(error)),
        Err(SendFailure::Permanent { error, user_effect }) => {
            tracing::warn!(invitation_id, user_id, %error, "push refused; the invitation stays pending");
            if let Some(UserEffect::PushEndpointGone { endpoint_arn }) = user_effect {
                store.forget_push_endpoint(invitation.user_id, &endpoint_arn).await?;
                return Ok(InvitationOutcome::NoDevice);
            }
            Ok(InvitationOutcome::Refused(error))
        }
    }
}
