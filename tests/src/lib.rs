//! Test support for the whole suite: real PostgreSQL and moto, never mocks.
//!
//! The test command (`make test`) starts both and exports `DATABASE_URL` and
//! `AWS_ENDPOINT_URL`; a test run without them fails and says so, instead
//! of passing without having tested anything.

pub mod faults;
mod http1;
pub mod lambda_api;
pub mod moto;
pub mod webhook;

use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::NoTls;
use torium_store::{DbSettings, Pool, PooledClient, SslMode, Store, connect_pool};

const HOW_TO_RUN: &str = "run the suite with `make test`, which starts PostgreSQL and moto on 127.0.0.1 \
     (or export DATABASE_URL and AWS_ENDPOINT_URL yourself)";

/// A variable the test command sets; panics with how to run the suite.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set: this test needs a real service; {HOW_TO_RUN}"),
    }
}

/// "Now" on the tests' timeline: the fixtures' Christmas dinner
/// (2026-12-24 17:00 UTC) is reminded a day before, and the handlers that
/// check a reminder is still fresh are given this clock, so the suite reads
/// the same on every date it runs.
pub fn story_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_798_045_230, 0).expect("2026-12-23T17:00:30Z")
}

/// A name no other test (or test process) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A database of its own for one test, copied from a migrated template so
/// tests run in parallel without seeing each other's rows. Databases are
/// left behind: the throwaway cluster is deleted when the run ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    pub pool: Pool,
    pub store: Store,
}

impl TestDatabase {
    /// A fresh database with every migration applied.
    pub async fn migrated() -> TestDatabase {
        let template = ensure_template().await;
        Self::create(&format!("TEMPLATE {template}")).await
    }

    /// A fresh database with nothing in it (for migration tests).
    pub async fn empty() -> TestDatabase {
        Self::create("").await
    }

    async fn create(clause: &str) -> TestDatabase {
        let name = unique_name("torium_test");
        let admin = admin_client().await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} {clause}"))
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let url = database_url_for(&name);
        let pool = connect_pool(&DbSettings::from_url(&url, SslMode::Disable).expect("test database URL"))
            .expect("test database pool");
        TestDatabase { name, url, store: Store::new(pool.clone()), pool }
    }

    /// A plain client for a test's own set-up and checks.
    pub async fn client(&self) -> PooledClient {
        self.pool.get().await.expect("a connection to the test database")
    }
}

/// `DATABASE_URL` with its database name replaced.
pub fn database_url_for(database: &str) -> String {
    let base = required_env("DATABASE_URL");
    let (prefix, rest) = base.rsplit_once('/').expect("DATABASE_URL names a database");
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{prefix}/{database}{query}")
}

async fn admin_client() -> tokio_postgres::Client {
    let url = required_env("DATABASE_URL");
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at DATABASE_URL ({e}); {HOW_TO_RUN}"));
    tokio::spawn(connection);
    client
}

/// The migrated template, created once per cluster and migration set.
async fn ensure_template() -> String {
    let template = format!("torium_template_{:016x}", torium_store::migrations_fingerprint());
    let admin = admin_client().await;
    // Serialises template creation across test threads and processes.
    admin.execute("SELECT pg_advisory_lock(4242)", &[]).await.expect("advisory lock");
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .expect("pg_database")
        .is_some();
    if !exists {
        let building = format!("{template}_building");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {building}")).await.expect("drop stale template");
        admin.batch_execute(&format!("CREATE DATABASE {building}")).await.expect("create template");
        {
            let settings = DbSettings::from_url(&database_url_for(&building), SslMode::Disable).expect("url");
            let pool = connect_pool(&settings).expect("template pool");
            torium_store::migrate(&pool).await.expect("migrating the template database");
            pool.close();
        }
        // Renamed only when complete, so a crashed run never leaves a half-migrated template.
        admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}")).await.expect("rename template");
    }
    admin.execute("SELECT pg_advisory_unlock(4242)", &[]).await.expect("advisory unlock");
    template
}
