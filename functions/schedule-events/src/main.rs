use schedule_events::{ReleaseConfig, SchedulerConfig, SchedulerError, run_minute};
use torium_aws::SqsQueue;
use torium_runtime::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use torium_runtime::cold_start;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let config = SchedulerConfig::from_env(&start.env)?;
    let release = ReleaseConfig::from_env(&start.env)?;
    let queue = SqsQueue::new(&start.sdk).with_send_concurrency(start.env.parsed_or("SQS_SEND_CONCURRENCY", 8)?);
    let (start, queue, config, release) = (&start, &queue, &config, &release);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        let now = event.payload.time.ok_or(SchedulerError::NoTime)?;
        let deadline = start.begin_invocation(&event.context);
        let summary = run_minute(&start.store, queue, config, release, &deadline, now).await?;
        summary.scheduled.report(&start.metrics);
        Ok::<_, lambda_runtime::Error>(summary)
    }))
    .await
}
