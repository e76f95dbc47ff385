use schedule_notifications::{FanOutConfig, handle_batch};
use torium_aws::SqsQueue;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Consumer, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let config = FanOutConfig::from_env(&start.env)?;
    let queue = SqsQueue::new(&start.sdk).with_send_concurrency(start.env.parsed_or("SQS_SEND_CONCURRENCY", 8)?);
    let consumer = Consumer::from_env(&start.env, &start.sdk, &start.metrics, "SCHEDULE_NOTIFICATIONS_DLQ_URL")?;
    let (start, queue, config, consumer) = (&start, &queue, &config, &consumer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.begin_invocation(&event.context);
        Ok::<_, lambda_runtime::Error>(
            handle_batch(&start.store, queue, config, consumer, &deadline, &event.payload).await,
        )
    }))
    .await
}
