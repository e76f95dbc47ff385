//! The unit tests' clock: instants written as RFC 3339 text, read in UTC.
//! Test-only (compiled under `cfg(test)`); nothing here runs in production.

use chrono::{DateTime, Utc};

/// The instant `text` (RFC 3339, e.g. `2026-12-24T17:00:00Z`) names, in UTC.
pub(crate) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("test timestamp").with_timezone(&Utc)
}
