//! Cognito "Pre sign-up" trigger: the new user is saved unconfirmed, keyed
//! by the Cognito user id, so Cognito's retries and repeated sign-ups before
//! confirmation update the same row. The event goes back to Cognito as it
//! came: nothing is auto-confirmed or auto-verified here.

use chrono::{DateTime, Utc};
use serde_json::Value;
use torium_domain::{SignUp, SignUpError};
use torium_runtime::aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup;
use torium_runtime::lambda_runtime::Diagnostic;
use torium_store::{Store, StoreError};

/// Why a sign-up was refused. Cognito shows the text to the app, so it is
/// short and carries no personal data.
#[derive(Debug, thiserror::Error)]
pub enum PreSignUpError {
    #[error("not a Cognito pre sign-up event: {0}")]
    NotThisTrigger(String),
    #[error("{0}")]
    BadSignUp(#[from] SignUpError),
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("sign-up could not be saved, please try again ({0})")]
    Database(StoreError),
}

/// Records the sign-up in `event` at `now`; returns `event` unchanged.
pub async fn handle_pre_signup(store: &Store, event: Value, now: DateTime<Utc>) -> Result<Value, PreSignUpError> {
    let typed: CognitoEventUserPoolsPreSignup =
        serde_json::from_value(event.clone()).map_err(|e| PreSignUpError::NotThisTrigger(e.to_string()))?;
    let header = &typed.cognito_event_user_pools_header;
    if header.trigger_source.is_none() {
        return Err(PreSignUpError::NotThisTrigger("triggerSource is missing".to_owned()));
    }
    let signup = SignUp::from_cognito(header.user_name.as_deref(), &typed.request.user_attributes, now)?;
    let user = store.record_signup(&signup).await.map_err(|e| match e {
        StoreError::Conflict(_) => PreSignUpError::EmailTaken,
        other => PreSignUpError::Database(other),
    })?;
    tracing::info!(user_id = user.id.0, cognito_user_id = %user.cognito_user_id, "sign-up recorded, unconfirmed");
    Ok(event)
}

/// What Cognito (and the function's error metrics) see: a stable error
/// type per cause, and the message.
impl From<PreSignUpError> for Diagnostic {
    fn from(error: PreSignUpError) -> Self {
        let error_type = match &error {
            PreSignUpError::NotThisTrigger(_) => "NotThisTrigger",
            PreSignUpError::BadSignUp(_) => "BadSignUp",
            PreSignUpError::EmailTaken => "EmailTaken",
            PreSignUpError::Database(_) => "Database",
        };
        tracing::error!(error_type, %error, "trigger refused");
        Diagnostic { error_type: error_type.to_owned(), error_message: error.to_string() }
    }
}
