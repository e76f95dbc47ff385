use send_sms::{SmsSender, sms_options};
use torium_aws::Sns;
use torium_delivery::deliver_batch;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { env, sdk, store } = cold_start().await?;
    let sender = SmsSender { sns: Sns::new(&sdk), options: sms_options(&env)? };
    let (store, sender) = (&store, &sender);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(deliver_batch(store, sender, &event.payload).await)
    }))
    .await
}
