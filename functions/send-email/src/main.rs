use send_email::{EmailSender, email_options};
use torium_aws::Ses;
use torium_delivery::deliver_batch;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { env, sdk, store } = cold_start().await?;
    let sender = EmailSender { ses: Ses::new(&sdk), options: email_options(&env)? };
    let (store, sender) = (&store, &sender);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(deliver_batch(store, sender, &event.payload).await)
    }))
    .await
}
