//! Torium's Postgres store: the pool every handler builds once per cold
//! start, the embedded migrations, and every SQL statement of the suite as a
//! typed function. Statements are parameterised; errors say whether to retry
//! ([`StoreError::Unavailable`]) or to give up on the input.

mod error;
mod interval;
mod migrate;
mod pool;
mod repo;
mod settings;
mod tls;
mod transaction;

pub use error::{StoreError, TransactionError};
#[cfg(any(test, feature = "test-support"))]
pub use migrate::latest_embedded_version;
pub use migrate::{SchemaVersion, database_time_zone_is_utc, migrate, migrations_fingerprint, schema_version};
pub use pool::{PooledClient, Store, connect_pool};
pub use repo::alerts::{AlertStateUpdate, FailedDeliveries};
pub use repo::deferrals::DueDeferral;
pub use repo::delivery::{DeliveryLog, ReminderClaim, Unsent};
pub use repo::digests::{DigestComment, DigestSlot, DigestToPush, Joined};
pub use repo::events::CommentAudience;
pub use repo::groups::InvitationToPush;
pub use repo::reports::ReportResult;
pub use repo::scheduling::{DueEvent, RecordedFiring, ScheduleAdvance, SchedulerRun};
pub use settings::{DEFAULT_IDLE_SESSION_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, DbSettings, SettingsError, SslMode};

pub use deadpool_postgres::Pool;
