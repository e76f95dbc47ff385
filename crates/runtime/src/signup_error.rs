//! The one error of the two Cognito sign-up triggers (pre sign-up and post
//! confirmation) and what Cognito shows of it: a [`Diagnostic`] with a
//! stable error type per cause and a short message without personal data.
//! Holds no state: a refused trigger has written nothing that stays (the
//! store's writes are rolled back or never made), and Cognito's retry, or
//! the person's, starts clean.

use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use torium_aws::AwsError;
use torium_domain::SignUpError;
use torium_store::StoreError;

/// Which Cognito trigger is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpTrigger {
    /// `cognito-pre-signup`: the user recorded, unconfirmed.
    PreSignUp,
    /// `cognito-post-signup`: the user confirmed, `custom:user_id` written.
    PostConfirmation,
}

impl SignUpTrigger {
    /// The event's name in messages.
    fn event_name(self) -> &'static str {
        match self {
            SignUpTrigger::PreSignUp => "pre sign-up",
            SignUpTrigger::PostConfirmation => "post confirmation",
        }
    }

    /// What the trigger saves, in messages.
    fn saves(self) -> &'static str {
        match self {
            SignUpTrigger::PreSignUp => "sign-up",
            SignUpTrigger::PostConfirmation => "confirmation",
        }
    }

    /// Reads `event` as this trigger's Cognito event (a view for reading:
    /// the handler hands the event back to Cognito as it came).
    pub fn read<T: DeserializeOwned>(self, event: &serde_json::Value) -> Result<T, SignUpTriggerError> {
        T::deserialize(event).map_err(|e| self.not_this(e.to_string()))
    }

    /// The event is not this trigger's, for `reason`.
    pub fn not_this(self, reason: impl Into<String>) -> SignUpTriggerError {
        SignUpTriggerError::NotThisTrigger { trigger: self, reason: reason.into() }
    }

    /// A store failure as the person sees it: an address of a confirmed
    /// account is taken (do not retry); anything else may pass on a retry.
    pub fn store_failed(self, error: StoreError) -> SignUpTriggerError {
        match error {
            StoreError::Conflict(_) => SignUpTriggerError::EmailTaken,
            source => SignUpTriggerError::Database { trigger: self, source },
        }
    }
}

/// Why a sign-up trigger refused. Cognito shows the text to the app, so it
/// is short and carries no personal data. `NotThisTrigger`, `BadSignUp`
/// and `EmailTaken` fail again on a retry; `Database` and `Cognito` may
/// pass (their text says so).
#[derive(Debug, thiserror::Error)]
pub enum SignUpTriggerError {
    /// The event is not the trigger's (another shape, another trigger
    /// source, a field missing).
    #[error("not a Cognito {} event: {reason}", .trigger.event_name())]
    NotThisTrigger {
        /// The trigger that read it.
        trigger: SignUpTrigger,
        /// What did not fit.
        reason: String,
    },
    /// The sign-up itself cannot be a user (no user name, no or a
    /// malformed address).
    #[error("{0}")]
    BadSignUp(#[from] SignUpError),
    /// The address belongs to a confirmed account.
    #[error("an account with this email address already exists")]
    EmailTaken,
    /// The database failed; nothing was kept.
    #[error("{} could not be saved, please try again ({source})", .trigger.saves())]
    Database {
        /// The trigger whose write failed.
        trigger: SignUpTrigger,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// Cognito refused `custom:user_id`; the confirmation was rolled back.
    #[error("the user id could not be written to Cognito, please try again ({0})")]
    Cognito(#[source] AwsError),
}

impl SignUpTriggerError {
    /// The stable error type Cognito (and the function's error metrics) see.
    pub fn error_type(&self) -> &'static str {
        match self {
            SignUpTriggerError::NotThisTrigger { .. } => "NotThisTrigger",
            SignUpTriggerError::BadSignUp(_) => "BadSignUp",
            SignUpTriggerError::EmailTaken => "EmailTaken",
            SignUpTriggerError::Database { .. } => "Database",
            SignUpTriggerError::Cognito(_) => "Cognito",
        }
    }
}

/// What Cognito sees of a refusal: the error type and the message.
impl From<SignUpTriggerError> for Diagnostic {
    fn from(error: SignUpTriggerError) -> Self {
        let error_type = error.error_type();
        tracing::error!(error_type, %error, "trigger refused");
        Diagnostic { error_type: error_type.to_owned(), error_message: error.to_string() }
    }
}
