//! What every Torium Lambda `main` shares: JSON tracing, configuration from
//! the environment, the database pool built once per cold start, and the
//! FIFO batch driver that keeps SQS ordering and retries honest.

pub mod batch;
pub mod config;
mod database;
mod telemetry;

pub use batch::{BatchOutcome, fifo_batch_response, process_fifo_batch};
pub use config::{ConfigError, Env};
pub use database::{database_pool, database_settings, warm_up};
pub use telemetry::{init_tracing, redact_email, redact_phone};

pub use aws_lambda_events;
pub use lambda_runtime;
