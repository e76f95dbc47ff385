//! Structured JSON logs, one object per line, as Lambda's JSON log format
//! expects. Personal data never goes into a log whole: log the domain's contact types
//! (`E164Number`, `EmailAddress`: their `Debug` and `redacted()` hide most of
//! the value), never their `as_str()`.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` filters (default `info`).
/// Every line carries the fields of every span it is in (`spans`: the
/// batch driver's message span, then the handler's own), so log calls never
/// repeat the ids of their unit of work. Safe to call more than once
/// (later calls are ignored).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
