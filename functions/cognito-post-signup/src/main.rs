use cognito_post_signup::handle_post_confirmation;
use torium_aws::{CognitoUserAttributes, SecretsManager, load_sdk_config};
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Env, database_pool, init_tracing, warm_up};
use torium_store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let env = Env::from_process();
    let sdk = load_sdk_config().await;
    let store = Store::new(database_pool(&env, &SecretsManager::new(&sdk)).await?);
    let cognito = CognitoUserAttributes::new(&sdk);
    warm_up(store.pool()).await;
    let (store, cognito) = (&store, &cognito);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        handle_post_confirmation(store, cognito, event.payload, chrono::Utc::now()).await
    }))
    .await
}
