//! Cognito "Post confirmation" trigger: the user is marked confirmed and its
//! database id is written back to Cognito as `custom:user_id`, so the app's
//! tokens carry it. Both happen or neither: the confirmation commits only
//! after Cognito accepted the attribute, and a retry then succeeds.
//!
//! The event is read through `aws_lambda_events`' typed view but handed back
//! as the JSON that came: the typed event does not serialize back to what
//! Cognito sent (an absent `clientMetadata` appears as `{}`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use torium_aws::UserAttributes;
use torium_domain::SignUp;
use torium_runtime::aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource,
};
use torium_runtime::signup_error::{SignUpTrigger, SignUpTriggerError};
use torium_store::{Store, TransactionError};
use tracing::instrument;

const TRIGGER: SignUpTrigger = SignUpTrigger::PostConfirmation;

/// Confirms the user of `event`; returns `event` unchanged. Confirmations
/// of a forgotten password leave the user alone.
#[instrument(skip_all, fields(cognito_user_id = tracing::field::Empty, user_id = tracing::field::Empty))]
pub async fn handle_post_confirmation(
    store: &Store,
    cognito: &impl UserAttributes,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, SignUpTriggerError> {
    let typed: CognitoEventUserPoolsPostConfirmation = TRIGGER.read(&event)?;
    let header = &typed.cognito_event_user_pools_header;
    let span = tracing::Span::current();
    span.record("cognito_user_id", header.user_name.as_deref().unwrap_or("?"));
    match header.trigger_source {
        Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp) => {}
        Some(_) => {
            tracing::info!("not a sign-up confirmation: nothing to do");
            return Ok(event);
        }
        None => return Err(TRIGGER.not_this("triggerSource is missing")),
    }
    let user_pool_id = header
        .user_pool_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| TRIGGER.not_this("userPoolId is missing"))?;
    let signup = SignUp::from_cognito(header.user_name.as_deref(), &typed.request.user_attributes, now)?;
    let cognito_user_id = signup.cognito_user_id.as_str();
    let user = store
        .confirm_signup_then(&signup, |user| async move {
            cognito.set_user_id(user_pool_id, cognito_user_id, user.id.0).await
        })
        .await
        .map_err(|e| match e {
            TransactionError::Store(store) => TRIGGER.store_failed(store),
            TransactionError::Step(aws) => SignUpTriggerError::Cognito(aws),
        })?;
    span.record("user_id", user.id.0);
    tracing::info!("user confirmed, custom:user_id set");
    Ok(event)
}
