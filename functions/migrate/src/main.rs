use migrate::{ResponseClient, handle_custom_resource};
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{DEFAULT_MARGIN, Deadline, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // A cold start that fails (the secret unreadable, a bad setting) must
    // still answer CloudFormation: every request is then answered FAILED
    // with the reason, instead of leaving the stack waiting.
    let start = cold_start().await.map_err(|error| error.to_string());
    if let Err(error) = &start {
        tracing::error!(%error, "cold start failed; every Create and Update is answered FAILED");
    }
    let client = ResponseClient::new()?;
    let (start, client) = (&start, &client);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let deadline = match start {
            Ok(start) => start.begin_invocation(&event.context),
            Err(_) => Deadline::at_epoch_millis(event.context.deadline, DEFAULT_MARGIN),
        };
        let database = start.as_ref().map(|s| s.store.pool()).map_err(String::as_str);
        let handled = handle_custom_resource(database, client, event.payload, deadline.time_left()).await?;
        // Not answered after every attempt: failing the invocation makes
        // Lambda run it again (CloudFormation invokes asynchronously).
        handled.delivered?;
        Ok::<_, lambda_runtime::Error>(serde_json::json!({ "Status": handled.response.status }))
    }))
    .await
}
