//! What every Torium Lambda `main` shares: JSON tracing, configuration from
//! the environment, the database pool built once per cold start, and the
//! FIFO batch driver that keeps SQS ordering and retries honest.

pub mod batch;
mod clock;
pub mod config;
mod database;
pub mod deadline;
pub mod metrics;
pub mod signup_error;
mod telemetry;

use std::time::Duration;
use torium_aws::{CallLimits, SdkConfig, SecretsManager, load_sdk_config_with};
use torium_store::Store;

pub use batch::{
    Consumer, DEFAULT_GROUP_CONCURRENCY, FifoBatch, MessageFailure, RecordOutcome, body_of, process_fifo_batch,
    sent_at, set_aside,
};
pub use clock::Clock;
pub use config::{ChannelQueues, ConfigError, Env};
use database::warm_up;
pub use database::{database_pool, database_settings};
pub use deadline::{DEFAULT_MARGIN, Deadline, DeadlineReached};
pub use metrics::{Measure, Metrics};
pub use telemetry::init_tracing;
pub use torium_aws::{DeadLetter, DeadLetterQueue, SqsDeadLetters};

pub use aws_lambda_events;
pub use lambda_runtime;

/// What every handler's `main` builds once per cold start and reuses in
/// every warm invocation.
pub struct ColdStart {
    /// The environment as the cold start read it.
    pub env: Env,
    /// The AWS SDK configuration, every call bounded in time.
    pub sdk: SdkConfig,
    /// The database, its pool warmed by a first connection.
    pub store: Store,
    /// Kept back from every invocation's deadline (`DEADLINE_MARGIN_MS`).
    pub margin: Duration,
    /// EMF metrics under `METRICS_NAMESPACE` (default `Torium`).
    pub metrics: Metrics,
}

/// A pooled connection unused this long is closed at the next invocation's
/// start (the server's `idle_session_timeout` closes those of a sandbox that
/// is frozen or gone).
pub(crate) const POOL_IDLE_RELEASE: Duration = Duration::from_secs(60);

impl ColdStart {
    /// What every handler calls as an invocation starts: releases pooled
    /// connections idle for [`POOL_IDLE_RELEASE`], and gives the time the
    /// invocation has, from its Lambda context.
    pub fn begin_invocation(&self, context: &lambda_runtime::Context) -> Deadline {
        let released = self.store.pool().retain(|_, metrics| metrics.last_used() < POOL_IDLE_RELEASE).removed.len();
        if released > 0 {
            tracing::debug!(released, "idle database connections released");
        }
        let deadline = Deadline::at_epoch_millis(context.deadline, self.margin);
        tracing::debug!(
            deadline_ms = context.deadline,
            time_left_ms = deadline.time_left().as_millis() as u64,
            "invocation deadline"
        );
        deadline
    }
}

/// JSON tracing, the environment, the SDK configuration (every call bounded:
/// [`call_limits`]) and the database pool (from `DATABASE_URL`, or the secret
/// named by `DB_SECRET_ARN`, read once), with a first connection opened
/// before the first invocation.
pub async fn cold_start() -> Result<ColdStart, lambda_runtime::Error> {
    let started = std::time::Instant::now();
    init_tracing();
    let env = Env::from_process();
    let function = env.optional("AWS_LAMBDA_FUNCTION_NAME").map(str::to_owned).unwrap_or_else(binary_name);
    let metrics = Metrics::new(env.optional("METRICS_NAMESPACE").unwrap_or(metrics::DEFAULT_NAMESPACE), &function);
    let sdk = load_sdk_config_with(&call_limits(&env)?).await;
    let store = Store::new(database_pool(&env, &SecretsManager::new(&sdk)).await?);
    warm_up(store.pool()).await;
    let margin = Duration::from_millis(env.parsed_or("DEADLINE_MARGIN_MS", DEFAULT_MARGIN.as_millis() as u64)?);
    let took = started.elapsed().as_secs_f64() * 1000.0;
    metrics.emit(
        &[],
        &[&["Function"]],
        &[Measure::count(metrics::COLD_STARTS, &[1.0]), Measure::millis(metrics::COLD_START_DURATION, &[took])],
    );
    Ok(ColdStart { env, sdk, store, margin, metrics })
}

/// The running binary's name (the function's package), for the `Function`
/// dimension where Lambda's `AWS_LAMBDA_FUNCTION_NAME` is not set.
fn binary_name() -> String {
    std::env::args()
        .next()
        .and_then(|path| std::path::Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The AWS call limits, defaults overridden by `SDK_CONNECT_TIMEOUT_MS`,
/// `SDK_ATTEMPT_TIMEOUT_MS`, `SDK_OPERATION_TIMEOUT_MS` and `SDK_MAX_ATTEMPTS`.
pub(crate) fn call_limits(env: &Env) -> Result<CallLimits, ConfigError> {
    let default = CallLimits::default();
    let millis = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(env.parsed_or(name, default.as_millis() as u64)?))
    };
    Ok(CallLimits {
        connect: millis("SDK_CONNECT_TIMEOUT_MS", default.connect)?,
        attempt: millis("SDK_ATTEMPT_TIMEOUT_MS", default.attempt)?,
        operation: millis("SDK_OPERATION_TIMEOUT_MS", default.operation)?,
        max_attempts: env.parsed_or("SDK_MAX_ATTEMPTS", default.max_attempts)?,
    })
}
