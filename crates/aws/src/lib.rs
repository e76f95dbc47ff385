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
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
#[cfg(feature = "cognito")]
pub use cognito::{CognitoUserAttributes, USER_ID_ATTRIBUTE, UserAttributes};
pub use error::{AwsError, FailureKind, classify};
#[cfg(feature = "logs")]
pub use logs::{CloudWatchLogs, LogLine};
#[cfg(feature = "sqs")]
pub use queue::{
    DeadLetter, DeadLetterQueue, MAX_BATCH_SIZE, MessageQueue, OutgoingMessage, SqsDeadLetters, SqsQueue, batches,
    groups_are_disjoint,
};
#[cfg(feature = "secrets")]
pub use secrets::SecretsManager;
pub use secrets::{NoSecrets, SecretStore};
#[cfg(feature = "ses")]
pub use ses::{EmailOptions, Ses};
#[cfg(feature = "sns")]
pub use sns::{SmsOptions, Sns};
use std::time::Duration;

/// How long one AWS call may take, and how often it is tried. An SDK client
/// loaded with the defaults has a connect timeout and nothing else: a
/// stalled call would wait until Lambda kills the process. These bound every
/// call; the handlers bound it further by the invocation's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Establishing the TCP + TLS connection.
    pub connect: Duration,
    /// One attempt, from sending the request to the end of the response.
    pub attempt: Duration,
    /// The whole operation, every retry included.
    pub operation: Duration,
    /// Attempts per operation (standard retry mode: throttling, 5xx,
    /// timeouts and connection errors are retried with jittered backoff).
    pub max_attempts: u32,
}

impl Default for CallLimits {
    /// Connect 2 s, attempt 5 s, operation 12 s, 3 attempts: a provider
    /// answers in well under a second when healthy, and three attempts ride
    /// out a short throttling burst while leaving a 30 s sender time to
    /// record what it did (docs/architecture.md, "Time limits").
    fn default() -> Self {
        CallLimits {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(12),
            max_attempts: 3,
        }
    }
}

/// The shared SDK configuration with the default [`CallLimits`].
pub async fn load_sdk_config() -> SdkConfig {
    load_sdk_config_with(&CallLimits::default()).await
}

/// The shared SDK configuration: region, credentials and endpoint from the
/// environment, the latest behaviour version, rustls, and every call bounded
/// by `limits`.
pub async fn load_sdk_config_with(limits: &CallLimits) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(limits.connect)
        .operation_attempt_timeout(limits.attempt)
        .operation_timeout(limits.operation)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(limits.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2));
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}
