use crate::settings::{DbSettings, SettingsError, SslMode};
use crate::tls;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use std::time::Duration;

/// Builds the pool once per process (a Lambda cold start); connections are
/// opened lazily and reused by every warm invocation.
pub fn connect_pool(settings: &DbSettings) -> Result<Pool, SettingsError> {
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = match settings.ssl_mode {
        SslMode::Disable => Manager::from_config(settings.config.clone(), tokio_postgres::NoTls, manager_config),
        mode => Manager::from_config(
            settings.config.clone(),
            tls::connector(mode, settings.root_cert_path.as_deref())?,
            manager_config,
        ),
    };
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(Duration::from_secs(10)),
            create: Some(Duration::from_secs(5)),
            recycle: Some(Duration::from_secs(5)),
        })
        .build()
        .map_err(|e| SettingsError(format!("pool: {e}")))
}

/// The repository: every SQL statement of the suite, as typed methods.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
}

impl Store {
    /// The store over `pool` (see [`connect_pool`]).
    pub fn new(pool: Pool) -> Self {
        Store { pool }
    }

    /// The pool, for the connection housekeeping of an invocation's start.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}
/// A connection taken from the pool, returned to it when dropped.
pub type PooledClient = deadpool_postgres::Object;
