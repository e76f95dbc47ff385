use schedule_notifications::{FanOutConfig, handle_batch};
use torium_aws::SqsQueue;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { env, sdk, store } = cold_start().await?;
    let config = FanOutConfig::from_env(&env)?;
    let queue = SqsQueue::new(&sdk);
    let (store, queue, config) = (&store, &queue, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_batch(store, queue, config, &event.payload).await)
    }))
    .await
}
