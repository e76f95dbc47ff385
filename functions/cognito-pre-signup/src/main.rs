use cognito_pre_signup::handle_pre_signup;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { store, .. } = cold_start().await?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        handle_pre_signup(store, event.payload, chrono::Utc::now()).await
    }))
    .await
}
