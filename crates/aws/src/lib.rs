//! Torium's AWS side: the SDK configuration every handler loads once per
//! cold start, and small adapters behind traits so handler logic is tested
//! against moto (and could be against anything else) without SDK types.
//!
//! Every client honours `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`),
//! which is how tests and the local demo point them at moto.

#[cfg(feature = "cognito")]
mod cognito;
mod error;
#[cfg(feature = "logs")]
mod logs;
#[cfg(feature = "sqs")]
mod queue;
mod secrets;
#[cfg(feature = "ses")]
mod ses;
#[cfg(feature = "sns")]
mod sns;

pub use aws_config::SdkConfig;
#[cfg(feature = "cognito")]
pub use cognito::{CognitoUserAttributes, USER_ID_ATTRIBUTE, UserAttributes};
pub use error::{AwsError, FailureKind, classify};
#[cfg(feature = "logs")]
pub use logs::{CloudWatchLogs, LogLine};
#[cfg(feature = "sqs")]
pub use queue::{MAX_BATCH_SIZE, MessageQueue, OutgoingMessage, SqsQueue};
#[cfg(feature = "secrets")]
pub use secrets::SecretsManager;
pub use secrets::{NoSecrets, SecretStore};
#[cfg(feature = "ses")]
pub use ses::{EmailOptions, Ses};
#[cfg(feature = "sns")]
pub use sns::{SmsOptions, Sns};

/// The shared SDK configuration: region, credentials and endpoint from the
/// environment, the latest behaviour version, rustls.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}
