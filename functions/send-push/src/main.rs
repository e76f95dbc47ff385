use send_push::PushSender;
use torium_aws::Sns;
use torium_delivery::{SnsPushPublisher, deliver_batch};
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{cold_start, dead_letters};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let (env, sdk) = (&start.env, &start.sdk);
    let sender = PushSender { publisher: SnsPushPublisher { sns: Sns::new(sdk) } };
    let dead_letters = dead_letters(env, sdk, "SEND_PUSH_DLQ_URL")?;
    let (start, sender, dead_letters) = (&start, &sender, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.deadline(&event.context);
        Ok::<_, lambda_runtime::Error>(
            deliver_batch(&start.store, sender, dead_letters, &deadline, &event.payload).await,
        )
    }))
    .await
}
