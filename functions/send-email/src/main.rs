use send_email::{EmailSender, email_options};
use torium_aws::{SecretsManager, Ses, load_sdk_config};
use torium_delivery::deliver_batch;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Env, database_pool, init_tracing, warm_up};
use torium_store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let env = Env::from_process();
    let sdk = load_sdk_config().await;
    let sender = EmailSender { ses: Ses::new(&sdk), options: email_options(&env)? };
    let store = Store::new(database_pool(&env, &SecretsManager::new(&sdk)).await?);
    warm_up(store.pool()).await;
    let (store, sender) = (&store, &sender);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(deliver_batch(store, sender, &event.payload).await)
    }))
    .await
}
