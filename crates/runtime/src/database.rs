//! The database pool of a handler, built once per cold start from either
//! `DATABASE_URL` or `DB_SECRET_ARN` (an RDS-style secret read once from
//! Secrets Manager), with `PGSSLMODE`, `PGSSLROOTCERT`, `DB_POOL_SIZE` and
//! `DB_STATEMENT_TIMEOUT_MS` and `DB_IDLE_SESSION_TIMEOUT_MS`. Connections
//! carry TCP keepalives.

use crate::config::{ConfigError, Env};
use torium_aws::SecretStore;
use torium_store::{DbSettings, Pool, SslMode, connect_pool};

#[derive(Debug, thiserror::Error)]
pub enum DatabaseSetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Settings(#[from] torium_store::SettingsError),
    #[error("reading the database secret: {0}")]
    Secret(#[from] torium_aws::AwsError),
}

/// Where the database is, from the environment (and the secret, if named).
pub async fn database_settings(env: &Env, secrets: &impl SecretStore) -> Result<DbSettings, DatabaseSetupError> {
    let ssl_mode: SslMode = env.parsed_or("PGSSLMODE", SslMode::Disable)?;
    // The secret names the database; an RDS Proxy in front of it (`DB_HOST`)
    // is reached with the same credentials at its own host.
    let mut settings = match (env.optional("DATABASE_URL"), env.optional("DB_SECRET_ARN")) {
        (Some(url), _) => DbSettings::from_url(url, ssl_mode)?,
        (None, Some(arn)) => {
            DbSettings::from_rds_secret_at(&secrets.secret_string(arn).await?, ssl_mode, env.optional("DB_HOST"))?
        }
        (None, None) => return Err(ConfigError::Missing("DATABASE_URL or DB_SECRET_ARN").into()),
    };
    settings.root_cert_path = env.optional("PGSSLROOTCERT").map(str::to_owned);
    settings.pool_size = env.parsed_or("DB_POOL_SIZE", settings.pool_size)?;
    let statement_ms: u64 =
        env.parsed_or("DB_STATEMENT_TIMEOUT_MS", torium_store::DEFAULT_STATEMENT_TIMEOUT.as_millis() as u64)?;
    settings.set_statement_timeout(std::time::Duration::from_millis(statement_ms));
    let idle_ms: u64 =
        env.parsed_or("DB_IDLE_SESSION_TIMEOUT_MS", torium_store::DEFAULT_IDLE_SESSION_TIMEOUT.as_millis() as u64)?;
    settings.set_idle_session_timeout(std::time::Duration::from_millis(idle_ms));
    Ok(settings)
}

/// [`database_settings`] and the pool in one step, for `main`.
pub async fn database_pool(env: &Env, secrets: &impl SecretStore) -> Result<Pool, DatabaseSetupError> {
    Ok(connect_pool(&database_settings(env, secrets).await?)?)
}

/// Opens the first connection during the cold start, so the first
/// invocation does not pay for it. A failure is only logged: the pool
/// retries on demand, and the invocation reports it if it persists.
pub(crate) async fn warm_up(pool: &Pool) {
    if let Err(error) = pool.get().await {
        tracing::warn!(%error, "database not reachable during start-up; will retry per invocation");
    }
}
