use send_email::{EmailSender, email_options};
use torium_aws::Ses;
use torium_delivery::deliver_batch;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{cold_start, dead_letters};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let (env, sdk) = (&start.env, &start.sdk);
    let sender = EmailSender { ses: Ses::new(sdk), options: email_options(env)? };
    let dead_letters = dead_letters(env, sdk, "SEND_EMAIL_DLQ_URL")?;
    let (start, sender, dead_letters) = (&start, &sender, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.deadline(&event.context);
        Ok::<_, lambda_runtime::Error>(
            deliver_batch(&start.store, sender, dead_letters, &deadline, &event.payload).await,
        )
    }))
    .await
}
