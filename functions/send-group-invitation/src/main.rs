use send_group_invitation::handle_batch;
use torium_aws::Sns;
use torium_delivery::SnsPushPublisher;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{cold_start, dead_letters};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let publisher = SnsPushPublisher { sns: Sns::new(&start.sdk) };
    let dead_letters = dead_letters(&start.env, &start.sdk, "GROUP_INVITATION_DLQ_URL")?;
    let (start, publisher, dead_letters) = (&start, &publisher, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.deadline(&event.context);
        Ok::<_, lambda_runtime::Error>(
            handle_batch(&start.store, publisher, dead_letters, &deadline, &event.payload).await,
        )
    }))
    .await
}
