//! How handlers find the database: DATABASE_URL, or an RDS-style secret in
//! Secrets Manager (moto), and TLS when PGSSLMODE asks for it.

use torium_aws::{NoSecrets, SecretsManager};
use torium_runtime::{Env, database_pool, database_settings};
use torium_store::{SslMode, connect_pool};
use torium_tests::{TestDatabase, moto, unique_name};

async fn connected_over_tls(pool: &torium_store::Pool) -> bool {
    let client = pool.get().await.expect("connection");
    client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_pool_comes_from_an_rds_secret_read_from_secrets_manager() {
    let db = TestDatabase::migrated().await;
    let config: tokio_postgres::Config = db.url.parse().expect("test database URL");
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the test database is reached over TCP, not {other:?}"),
    };
    let secret_json = serde_json::json!({
        "engine": "postgres",
        "host": host,
        "port": config.get_ports()[0],
        "username": config.get_user().unwrap_or("postgres"),
        "password": "unused-with-trust-auth",
        "dbname": db.name,
    })
    .to_string();
    let sdk = moto::sdk_config().await;
    let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = secrets_client
        .create_secret()
        .name(unique_name("torium/db"))
        .secret_string(secret_json)
        .send()
        .await
        .expect("create secret in moto")
        .arn()
        .unwrap()
        .to_owned();

    let env = Env::from_pairs([("DB_SECRET_ARN", arn.as_str()), ("DB_POOL_SIZE", "2")]);
    let settings = database_settings(&env, &SecretsManager::new(&sdk)).await.expect("settings from the secret");
    assert_eq!(settings.pool_size, 2);
    let pool = connect_pool(&settings).unwrap();
    let name: String = pool.get().await.unwrap().query_one("SELECT current_database()", &[]).await.unwrap().get(0);
    assert_eq!(name, db.name);
}

#[tokio::test]
async fn missing_database_configuration_is_a_clear_error() {
    let err = database_pool(&Env::from_pairs([]), &NoSecrets).await.unwrap_err();
    assert_eq!(err.to_string(), "environment variable DATABASE_URL or DB_SECRET_ARN is required but not set");
    let err =
        database_pool(&Env::from_pairs([("DB_SECRET_ARN", "arn:aws:secretsmanager:x")]), &NoSecrets).await.unwrap_err();
    assert!(err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn pgsslmode_require_and_verify_full_encrypt_the_connection() {
    let db = TestDatabase::migrated().await;
    let Ok(root_cert) = std::env::var("TORIUM_TEST_PG_ROOT_CERT") else {
        // A server of the user's own without TLS: then `require` must refuse
        // to fall back to plain TCP.
        let env = Env::from_pairs([("DATABASE_URL", db.url.as_str()), ("PGSSLMODE", "require")]);
        let pool = database_pool(&env, &NoSecrets).await.unwrap();
        assert!(pool.get().await.is_err() || connected_over_tls(&pool).await);
        return;
    };

    let plain = database_pool(&Env::from_pairs([("DATABASE_URL", db.url.as_str())]), &NoSecrets).await.unwrap();
    assert!(!connected_over_tls(&plain).await, "loopback stays plain by default");

    let env = Env::from_pairs([("DATABASE_URL", db.url.as_str()), ("PGSSLMODE", "require")]);
    assert!(connected_over_tls(&database_pool(&env, &NoSecrets).await.unwrap()).await);

    let env = Env::from_pairs([
        ("DATABASE_URL", db.url.as_str()),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", root_cert.as_str()),
    ]);
    assert!(connected_over_tls(&database_pool(&env, &NoSecrets).await.unwrap()).await);

    // verify-full against the public web roots: the test CA is not among them.
    let settings = {
        let env = Env::from_pairs([("DATABASE_URL", db.url.as_str()), ("PGSSLMODE", "verify-full")]);
        database_settings(&env, &NoSecrets).await.unwrap()
    };
    assert_eq!(settings.ssl_mode, SslMode::VerifyFull);
    let err = connect_pool(&settings).unwrap().get().await.expect_err("an untrusted certificate is refused");
    assert!(format!("{err:?}").to_lowercase().contains("certificate"), "{err:?}");
}
