//! What every Torium Lambda `main` shares: JSON tracing, configuration from
//! the environment, the database pool built once per cold start, and the
//! FIFO batch driver that keeps SQS ordering and retries honest.

pub mod batch;
pub mod config;
mod database;
mod telemetry;

use torium_aws::{SdkConfig, SecretsManager, load_sdk_config};
use torium_store::Store;

pub use batch::{BatchOutcome, body_of, fifo_batch_response, process_fifo_batch, process_fifo_messages, sent_at};
pub use config::{ConfigError, Env};
pub use database::{database_pool, database_settings, warm_up};
pub use telemetry::{init_tracing, redact_email, redact_phone};

pub use aws_lambda_events;
pub use lambda_runtime;

/// What every handler's `main` builds once per cold start and reuses in
/// every warm invocation.
pub struct ColdStart {
    pub env: Env,
    pub sdk: SdkConfig,
    pub store: Store,
}

/// JSON tracing, the environment, the SDK configuration and the database
/// pool (from `DATABASE_URL`, or the secret named by `DB_SECRET_ARN`, read
/// once), with a first connection opened before the first invocation.
pub async fn cold_start() -> Result<ColdStart, lambda_runtime::Error> {
    init_tracing();
    let env = Env::from_process();
    let sdk = load_sdk_config().await;
    let store = Store::new(database_pool(&env, &SecretsManager::new(&sdk)).await?);
    warm_up(store.pool()).await;
    Ok(ColdStart { env, sdk, store })
}
