//! The SQL files of `migrations/`, embedded at build time and applied by
//! refinery, which records each applied version in
//! `refinery_schema_history`. Applying again is a no-op.

use crate::StoreError;
use deadpool_postgres::Pool;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// The newest applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    pub version: i32,
    pub name: String,
}

/// Applies every migration not applied yet; returns the versions applied by
/// this call (empty when the schema was current).
pub async fn migrate(pool: &Pool) -> Result<Vec<SchemaVersion>, StoreError> {
    let mut client = pool.get().await?;
    let client: &mut tokio_postgres::Client = &mut client;
    // One migrator at a time, whoever else starts at once (tests, deploys).
    client.execute("SELECT pg_advisory_lock(7272727)", &[]).await?;
    let report = embedded::migrations::runner().run_async(client).await;
    client.execute("SELECT pg_advisory_unlock(7272727)", &[]).await?;
    let report = report.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| SchemaVersion { version: m.version(), name: m.name().to_owned() })
        .collect())
}

/// The newest version recorded in the database, `None` before any migration.
pub async fn schema_version(pool: &Pool) -> Result<Option<SchemaVersion>, StoreError> {
    let client = pool.get().await?;
    let exists: bool = client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT version, name FROM refinery_schema_history ORDER BY version DESC LIMIT 1", &[])
        .await?;
    Ok(row.map(|r| SchemaVersion { version: r.get(0), name: r.get(1) }))
}

/// How many migrations the binary carries (the version a current database has).
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
