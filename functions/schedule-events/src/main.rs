use schedule_events::{SchedulerConfig, SchedulerError, run_scheduler};
use torium_aws::SqsQueue;
use torium_runtime::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { env, sdk, store } = cold_start().await?;
    let config = SchedulerConfig::from_env(&env)?;
    let queue = SqsQueue::new(&sdk);
    let (store, queue, config) = (&store, &queue, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        let now = event.payload.time.ok_or(SchedulerError::NoTime)?;
        Ok::<_, lambda_runtime::Error>(run_scheduler(store, queue, config, now).await?)
    }))
    .await
}
