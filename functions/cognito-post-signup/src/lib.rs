//! Cognito "Post confirmation" trigger: the user is marked confirmed and its
//! database id is written back to Cognito as `custom:user_id`, so the app's
//! tokens carry it. Both happen or neither: the confirmation commits only
//! after Cognito accepted the attribute, and a retry then succeeds.

use chrono::{DateTime, Utc};
use serde_json::Value;
use torium_aws::{AwsError, UserAttributes};
use torium_domain::{SignUp, SignUpError};
use torium_runtime::aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource,
};
use torium_runtime::lambda_runtime::Diagnostic;
use torium_store::{Store, StoreError, TransactionError};

#[derive(Debug, thiserror::Error)]
pub enum PostConfirmationError {
    #[error("not a Cognito post confirmation event: {0}")]
    NotThisTrigger(String),
    #[error("{0}")]
    BadSignUp(#[from] SignUpError),
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("confirmation could not be saved, please try again ({0})")]
    Database(StoreError),
    #[error("the user id could not be written to Cognito, please try again ({0})")]
    Cognito(AwsError),
}

/// Confirms the user of `event`; returns `event` unchanged. Confirmations
/// of a forgotten password leave the user alone.
pub async fn handle_post_confirmation(
    store: &Store,
    cognito: &impl UserAttributes,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, PostConfirmationError> {
    let typed: CognitoEventUserPoolsPostConfirmation =
        serde_json::from_value(event.clone()).map_err(|e| PostConfirmationError::NotThisTrigger(e.to_string()))?;
    let header = &typed.cognito_event_user_pools_header;
    match header.trigger_source {
        Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp) => {}
        Some(_) => {
            tracing::info!(
                cognito_user_id = header.user_name.as_deref().unwrap_or("?"),
                "not a sign-up confirmation: nothing to do"
            );
            return Ok(event);
        }
        None => return Err(PostConfirmationError::NotThisTrigger("triggerSource is missing".to_owned())),
    }
    let user_pool_id = header
        .user_pool_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| PostConfirmationError::NotThisTrigger("userPoolId is missing".to_owned()))?;
    let signup = SignUp::from_cognito(header.user_name.as_deref(), &typed.request.user_attributes, now)?;
    let cognito_user_id = signup.cognito_user_id.as_str();

    let user = store
        .confirm_signup_then(&signup, |user| async move {
            cognito.set_user_id(user_pool_id, cognito_user_id, user.id.0).await
        })
        .await
        .map_err(|e| match e {
            TransactionError::Store(StoreError::Conflict(_)) => PostConfirmationError::EmailTaken,
            TransactionError::Store(other) => PostConfirmationError::Database(other),
            TransactionError::Step(aws) => PostConfirmationError::Cognito(aws),
        })?;
    tracing::info!(user_id = user.id.0, cognito_user_id = %user.cognito_user_id, "user confirmed, custom:user_id set");
    Ok(event)
}

/// What Cognito (and the function's error metrics) see: a stable error
/// type per cause, and the message.
impl From<PostConfirmationError> for Diagnostic {
    fn from(error: PostConfirmationError) -> Self {
        let error_type = match &error {
            PostConfirmationError::NotThisTrigger(_) => "NotThisTrigger",
            PostConfirmationError::BadSignUp(_) => "BadSignUp",
            PostConfirmationError::EmailTaken => "EmailTaken",
            PostConfirmationError::Database(_) => "Database",
            PostConfirmationError::Cognito(_) => "Cognito",
        };
        tracing::error!(error_type, %error, "trigger refused");
        Diagnostic { error_type: error_type.to_owned(), error_message: error.to_string() }
    }
}
