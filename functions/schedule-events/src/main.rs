use schedule_events::{SchedulerConfig, SchedulerError, run_scheduler};
use torium_aws::SqsQueue;
use torium_runtime::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use torium_runtime::cold_start;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let config = SchedulerConfig::from_env(&start.env)?;
    let queue = SqsQueue::new(&start.sdk).with_send_concurrency(start.env.parsed_or("SQS_SEND_CONCURRENCY", 8)?);
    let (start, queue, config) = (&start, &queue, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        let now = event.payload.time.ok_or(SchedulerError::NoTime)?;
        let deadline = start.begin_invocation(&event.context);
        let summary = run_scheduler(&start.store, queue, config, &deadline, now).await?;
        summary.report(&start.metrics);
        Ok::<_, lambda_runtime::Error>(summary)
    }))
    .await
}
