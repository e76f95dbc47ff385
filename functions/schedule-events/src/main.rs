use schedule_events::{RunSummary, SchedulerConfig, SchedulerError, run_scheduler};
use torium_aws::{SecretsManager, SqsQueue, load_sdk_config};
use torium_runtime::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Env, database_pool, init_tracing, warm_up};
use torium_store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let env = Env::from_process();
    let config = SchedulerConfig::from_env(&env)?;
    let sdk = load_sdk_config().await;
    let store = Store::new(database_pool(&env, &SecretsManager::new(&sdk)).await?);
    let queue = SqsQueue::new(&sdk);
    warm_up(store.pool()).await;
    let (store, queue, config) = (&store, &queue, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        let now = event.payload.time.ok_or(SchedulerError::NoTime)?;
        let summary: RunSummary = run_scheduler(store, queue, config, now).await?;
        Ok::<_, lambda_runtime::Error>(summary)
    }))
    .await
}
