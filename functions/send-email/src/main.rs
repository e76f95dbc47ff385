use send_email::{EmailSender, email_options};
use torium_aws::Ses;
use torium_delivery::{QuietHoursSetting, deliver_batch, holds_by_default};
use torium_domain::Channel;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Consumer, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let (env, sdk) = (&start.env, &start.sdk);
    let hold = env.parsed_or("HOLD_IN_QUIET_HOURS", holds_by_default(Channel::Email))?;
    let sender = QuietHoursSetting { sender: EmailSender { ses: Ses::new(sdk), options: email_options(env)? }, hold };
    let consumer = Consumer::from_env(env, sdk, &start.metrics, "SEND_EMAIL_DLQ_URL")?;
    let (start, sender, consumer) = (&start, &sender, &consumer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.begin_invocation(&event.context);
        Ok::<_, lambda_runtime::Error>(deliver_batch(&start.store, sender, consumer, &deadline, &event.payload).await)
    }))
    .await
}
