use send_sms::{SmsSender, sms_options};
use torium_aws::Sns;
use torium_delivery::deliver_batch;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{cold_start, dead_letters};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let (env, sdk) = (&start.env, &start.sdk);
    let sender = SmsSender { sns: Sns::new(sdk), options: sms_options(env)? };
    let dead_letters = dead_letters(env, sdk, "SEND_SMS_DLQ_URL")?;
    let (start, sender, dead_letters) = (&start, &sender, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.deadline(&event.context);
        Ok::<_, lambda_runtime::Error>(
            deliver_batch(&start.store, sender, dead_letters, &deadline, &event.payload).await,
        )
    }))
    .await
}
