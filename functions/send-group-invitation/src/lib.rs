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
use torium_store::{InvitationToPush, Store, StoreError};

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
#[tracing::instrument(
    skip_all,
    fields(invitation_id = message.invitation_id.0, user_id = tracing::field::Empty, group_id = tracing::field::Empty)
)]
pub async fn push_invitation(
    store: &Store,
    publisher: &impl PushPublisher,
    deadline: &Deadline,
    message: &GroupInvitation,
    now: DateTime<Utc>,
) -> Result<InvitationOutcome, InvitationError> {
    let Some(invitation) = load(store, deadline, message).await? else {
        return Ok(InvitationOutcome::Gone);
    };
    let endpoint = match endpoint_to_push(&invitation) {
        Ok(endpoint) => endpoint,
        Err(outcome) => return Ok(outcome),
    };
    let from = invitation.from_email.as_deref().unwrap_or("a Torium group admin");
    let message_json = sns_push_message(&invitation_push(&invitation.group_name, from));
    let published = deadline
        .bound(publisher.publish_stored(endpoint, &message_json))
        .await
        .unwrap_or_else(|reached| Err(SendFailure::Transient(reached.to_string())));
    settle(store, deadline, &invitation, published, now).await
}

/// The invitation as stored (its user and group go into the span); `None`
/// when it, its user or its group is gone.
async fn load(
    store: &Store,
    deadline: &Deadline,
    message: &GroupInvitation,
) -> Result<Option<InvitationToPush>, InvitationError> {
    let invitation = deadline.bound(store.invitation_to_push(message.invitation_id)).await;
    let Some(invitation) = invitation.map_err(|reached| StoreError::Unavailable(reached.to_string()))?? else {
        tracing::warn!("invitation, its user or its group no longer exists; acknowledged");
        return Ok(None);
    };
    let span = tracing::Span::current();
    span.record("user_id", invitation.user_id.0);
    span.record("group_id", invitation.group_id.0);
    if invitation.user_id != message.user_id || invitation.group_id != message.group_id {
        tracing::warn!("message names another user or group than the invitation; the invitation wins");
    }
    Ok(Some(invitation))
}

/// The endpoint to push to, or why nothing is pushed: the invitation was
/// handled already, or its user has no push endpoint.
fn endpoint_to_push(invitation: &InvitationToPush) -> Result<&str, InvitationOutcome> {
    if invitation.status != InvitationStatus::Pending {
        tracing::info!(status = %invitation.status, "invitation already handled; not pushed again");
        return Err(InvitationOutcome::AlreadyHandled(invitation.status));
    }
    invitation.device_arn.as_deref().ok_or_else(|| {
        tracing::info!("invited user has no push endpoint; the invitation stays pending in the app");
        InvitationOutcome::NoDevice
    })
}

/// What the push came to: marked sent, retried, or refused for good (a
/// dead endpoint is forgotten).
async fn settle(
    store: &Store,
    deadline: &Deadline,
    invitation: &InvitationToPush,
    published: Result<String, SendFailure>,
    now: DateTime<Utc>,
) -> Result<InvitationOutcome, InvitationError> {
    match published {
        Ok(provider_message_id) => {
            deadline
                .bound_final(store.mark_invitation_sent(invitation.id, now))
                .await
                .map_err(|reached| StoreError::Unavailable(reached.to_string()))??;
            tracing::info!(%provider_message_id, "invitation pushed");
            Ok(InvitationOutcome::Pushed { provider_message_id })
        }
        Err(SendFailure::Transient(error)) => Err(InvitationError::Transient(error)),
        Err(SendFailure::Permanent { error, user_effect }) => {
            tracing::warn!(%error, "push refused; the invitation stays pending");
            if let Some(UserEffect::PushEndpointGone { endpoint_arn }) = user_effect {
                store.forget_push_endpoint(invitation.user_id, &endpoint_arn).await?;
                return Ok(InvitationOutcome::NoDevice);
            }
            Ok(InvitationOutcome::Refused(error))
        }
    }
}
