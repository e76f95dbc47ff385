use schedule_notifications::{FanOutConfig, handle_batch};
use torium_aws::{SecretsManager, SqsQueue, load_sdk_config};
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Env, database_pool, init_tracing, warm_up};
use torium_store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let env = Env::from_process();
    let config = FanOutConfig::from_env(&env)?;
    let sdk = load_sdk_config().await;
    let store = Store::new(database_pool(&env, &SecretsManager::new(&sdk)).await?);
    let queue = SqsQueue::new(&sdk);
    warm_up(store.pool()).await;
    let (store, queue, config) = (&store, &queue, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_batch(store, queue, config, &event.payload).await)
    }))
    .await
}
