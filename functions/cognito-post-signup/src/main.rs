use cognito_post_signup::handle_post_confirmation;
use torium_aws::CognitoUserAttributes;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { sdk, store, .. } = cold_start().await?;
    let cognito = CognitoUserAttributes::new(&sdk);
    let (store, cognito) = (&store, &cognito);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        handle_post_confirmation(store, cognito, event.payload, chrono::Utc::now()).await
    }))
    .await
}
