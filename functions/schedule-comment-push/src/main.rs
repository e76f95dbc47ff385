use schedule_comment_push::handle_batch;
use torium_aws::Sns;
use torium_delivery::SnsPushPublisher;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { sdk, store, .. } = cold_start().await?;
    let publisher = SnsPushPublisher { sns: Sns::new(&sdk) };
    let (store, publisher) = (&store, &publisher);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_batch(store, publisher, &event.payload).await)
    }))
    .await
}
