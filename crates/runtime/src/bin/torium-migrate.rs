//! Applies the embedded migrations to the database named by `DATABASE_URL`
//! or `DB_SECRET_ARN` (as the handlers find it) and prints the schema
//! version. Safe to run again: applied migrations are skipped.

use torium_aws::{NoSecrets, SecretsManager, load_sdk_config};
use torium_runtime::{Env, database_pool, init_tracing};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("torium-migrate: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    init_tracing();
    let env = Env::from_process();
    let pool = if env.optional("DATABASE_URL").is_some() {
        database_pool(&env, &NoSecrets).await?
    } else {
        database_pool(&env, &SecretsManager::new(&load_sdk_config().await)).await?
    };
    let applied = torium_store::migrate(&pool).await?;
    for m in &applied {
        println!("applied V{}__{}", m.version, m.name);
    }
    match torium_store::schema_version(&pool).await? {
        Some(v) => println!("schema version {} ({}), {} applied now", v.version, v.name, applied.len()),
        None => println!("no migrations recorded"),
    }
    if !torium_store::database_time_zone_is_utc(&pool).await? {
        eprintln!(
            "torium-migrate: warning: the database's TimeZone is not set to UTC (the migrating role does not own \
             the database?): the HTTP API's naive UTC times would land in the server's zone. As the owner, run \
             ALTER DATABASE <name> SET timezone TO 'UTC' (docs/deploy.md)"
        );
    }
    Ok(())
}
