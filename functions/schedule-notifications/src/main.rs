use schedule_notifications::{FanOutConfig, handle_batch};
use torium_aws::SqsQueue;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{cold_start, dead_letters};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let config = FanOutConfig::from_env(&start.env)?;
    let queue = SqsQueue::new(&start.sdk);
    let dead_letters = dead_letters(&start.env, &start.sdk, "SCHEDULE_NOTIFICATIONS_DLQ_URL")?;
    let (start, queue, config, dead_letters) = (&start, &queue, &config, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.deadline(&event.context);
        Ok::<_, lambda_runtime::Error>(
            handle_batch(&start.store, queue, config, dead_letters, &deadline, &event.payload).await,
        )
    }))
    .await
}
