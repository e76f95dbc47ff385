//! The SQL files of `migrations/`, embedded at build time and applied by
//! refinery, which records each applied version in
//! `refinery_schema_history`. Applying again is a no-op.
//!
//! V1 is the earlier Torium system's schema. A database that already holds
//! it (the live system's, with its rows) and has no history yet is adopted:
//! its tables are checked against V1, V1 is recorded as the baseline without
//! being run, and the later migrations bring it forward exactly as they do a
//! fresh install. Every run applies what is pending in one transaction, so a
//! failure leaves the database as it was.

use crate::StoreError;
use crate::error::with_sources;
use deadpool_postgres::Pool;
use refinery::Target;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// The newest applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    /// The `<n>` of `V<n>__<name>.sql`.
    pub version: i32,
    /// The `<name>` of `V<n>__<name>.sql`.
    pub name: String,
}

/// Applies every migration not applied yet, adopting an earlier Torium
/// database first; returns the versions applied by this call (empty when
/// the schema was current; an adopted baseline is not among them).
pub async fn migrate(pool: &Pool) -> Result<Vec<SchemaVersion>, StoreError> {
    let mut client = pool.get().await?;
    let client: &mut tokio_postgres::Client = &mut client;
    // One migrator at a time, whoever else starts at once (tests, deploys).
    client.execute("SELECT pg_advisory_lock(7272727)", &[]).await?;
    let result = migrate_locked(client).await;
    client.execute("SELECT pg_advisory_unlock(7272727)", &[]).await?;
    result
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> Result<Vec<SchemaVersion>, StoreError> {
    let adopting = earlier_schema(client).await?;
    if let Some(baseline) = adopting {
        tracing::info!(version = baseline, "adopting an earlier Torium database: recording its schema as the baseline");
        embedded::migrations::runner()
            .set_target(Target::FakeVersion(baseline))
            .run_async(client)
            .await
            .map_err(|e| StoreError::Unavailable(format!("recording the baseline failed: {}", with_sources(&e))))?;
    }
    let report = match embedded::migrations::runner().set_grouped(true).run_async(client).await {
        Ok(report) => report,
        Err(error) => {
            // The pending migrations ran in one transaction and rolled back;
            // the baseline this call recorded is the only change left: undo
            // it, so a failed adoption leaves the database as it was.
            if adopting.is_some() {
                client.batch_execute("DROP TABLE IF EXISTS refinery_schema_history").await?;
            }
            return Err(StoreError::Unavailable(format!("migration failed: {}", with_sources(&error))));
        }
    };
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| SchemaVersion { version: m.version(), name: m.name().to_owned() })
        .collect())
}

/// Every table and column of the earlier schema (V1) that the HTTP API
/// relies on: what a database must hold to be adopted.
const EARLIER_SCHEMA: &[(&str, &[&str])] = &[
    ("organizations", &["id", "name", "url", "file_name"]),
    (
        "users",
        &[
            "id",
            "username",
            "email",
            "mobile_number",
            "timestamp",
            "is_confirmed",
            "reminder_preferences",
            "cognito_user_id",
            "organization_id",
            "device_token",
        ],
    ),
    ("groups", &["id", "name", "description", "admin_id", "timestamp"]),
    ("users_groups", &["id", "group_id", "user_id", "timestamp", "status"]),
    ("group_invitation_logs", &["id", "group_id", "user_to", "timestamp", "status", "updated_timestamp"]),
    (
        "events",
        &[
            "id",
            "is_budget",
            "budget",
            "name",
            "description",
            "group_id",
            "event_timestamp",
            "timestamp",
            "updated_timestamp",
            "reminder",
            "schedule_period",
        ],
    ),
    ("events_users", &["id", "event_id", "user_id", "timestamp"]),
    ("event_reminders", &["id", "event_id", "trigger_timestamp", "timestamp"]),
    (
        "event_reminders_logs",
        &["id", "event_reminders_id", "sent_timestamp", "user_id", "status", "answer", "timestamp"],
    ),
    ("events_comments", &["id", "event_id", "user_id", "comment", "timestamp"]),
    ("events_comments_logs", &["id", "events_comments_id", "user_id", "sent_timestamp", "timestamp"]),
    ("users_verification", &["id", "user_id", "mobile_number", "is_sent", "is_confirmed", "code", "timestamp"]),
];

/// `Some(1)` when the database holds the earlier system's schema and no
/// migration history: it is to be adopted. `None` for a database with a
/// history (migrate as usual) or without any of those tables (a fresh
/// install). A database with only part of the earlier schema is refused,
/// naming what is missing, and nothing is changed.
async fn earlier_schema(client: &tokio_postgres::Client) -> Result<Option<i32>, StoreError> {
    let has_history: bool = client
        .query_one("SELECT to_regclass('public.refinery_schema_history') IS NOT NULL AS has_history", &[])
        .await?
        .get("has_history");
    if has_history {
        return Ok(None);
    }
    let present: Vec<(String, String)> = client
        .query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get("table_name"), r.get("column_name")))
        .collect();
    let has_table = |t: &str| present.iter().any(|(table, _)| table == t);
    if !EARLIER_SCHEMA.iter().any(|(table, _)| has_table(table)) {
        return Ok(None);
    }
    let missing: Vec<String> = EARLIER_SCHEMA
        .iter()
        .flat_map(|(table, columns)| columns.iter().map(move |c| (*table, *c)))
        .filter(|(t, c)| !present.iter().any(|(table, column)| table == t && column == c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the database has tables of the earlier Torium schema but not all of it (missing: {}); \
             nothing was changed: restore the earlier schema or start from an empty database",
            missing.join(", ")
        )));
    }
    Ok(Some(1))
}

/// The newest version recorded in the database, `None` before any migration.
pub async fn schema_version(pool: &Pool) -> Result<Option<SchemaVersion>, StoreError> {
    let client = pool.get().await?;
    let exists: bool = client
        .query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL AS has_history", &[])
        .await?
        .get("has_history");
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT version, name FROM refinery_schema_history ORDER BY version DESC LIMIT 1", &[])
        .await?;
    Ok(row.map(|r| SchemaVersion { version: r.get("version"), name: r.get("name") }))
}

/// Whether the database's own TimeZone setting is UTC (V2 sets it when the
/// migrating role owns the database): the HTTP API's naive UTC times land
/// as UTC only then. `false` tells the operator to set it.
pub async fn database_time_zone_is_utc(pool: &Pool) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT coalesce(bool_or(lower(setting) IN ('timezone=utc', 'timezone=etc/utc')), false) AS is_utc \
             FROM pg_db_role_setting s, unnest(s.setconfig) AS setting \
             WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await?;
    Ok(row.get("is_utc"))
}

/// How many migrations the binary carries (the version a current database has).
/// For tests: the handlers never ask.
#[cfg(any(test, feature = "test-support"))]
pub fn latest_embedded_version() -> Option<i32> {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).max()
}

/// Changes whenever any embedded migration changes: names a migrated
/// template database so a stale one is never reused.
pub fn migrations_fingerprint() -> u64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |acc, m| (acc ^ m.checksum()).wrapping_mul(0x100_0000_01b3))
}
