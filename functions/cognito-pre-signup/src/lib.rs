//! Cognito "Pre sign-up" trigger: the new user is saved unconfirmed, keyed
//! by the Cognito user id, so Cognito's retries and repeated sign-ups before
//! confirmation update the same row. The event goes back to Cognito as it
//! came: nothing is auto-confirmed or auto-verified here.
//!
//! The event is read through `aws_lambda_events`' typed view but handed back
//! as the JSON that came: the typed event does not serialize back to what
//! Cognito sent (`validationData: null` becomes `{}`, an absent
//! `clientMetadata` appears as `{}`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use torium_domain::SignUp;
use torium_runtime::aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup;
use torium_runtime::signup_error::{SignUpTrigger, SignUpTriggerError};
use torium_store::Store;
use tracing::instrument;

const TRIGGER: SignUpTrigger = SignUpTrigger::PreSignUp;

/// Records the sign-up in `event` at `now`; returns `event` unchanged.
#[instrument(skip_all, fields(cognito_user_id = tracing::field::Empty, user_id = tracing::field::Empty))]
pub async fn handle_pre_signup(store: &Store, event: Value, now: DateTime<Utc>) -> Result<Value, SignUpTriggerError> {
    let typed: CognitoEventUserPoolsPreSignup = TRIGGER.read(&event)?;
    let header = &typed.cognito_event_user_pools_header;
    if header.trigger_source.is_none() {
        return Err(TRIGGER.not_this("triggerSource is missing"));
    }
    let signup = SignUp::from_cognito(header.user_name.as_deref(), &typed.request.user_attributes, now)?;
    let span = tracing::Span::current();
    span.record("cognito_user_id", signup.cognito_user_id.as_str());
    let user = store.record_signup(&signup).await.map_err(|e| TRIGGER.store_failed(e))?;
    span.record("user_id", user.id.0);
    tracing::info!("sign-up recorded, unconfirmed");
    Ok(event)
}
