use delivery_events::handle_event;
use torium_runtime::cold_start;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let start = &start;
    // An SNS event (SES events, push application events) or a CloudWatch
    // Logs subscription event (SMS receipts): told apart by their shape.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let deadline = start.begin_invocation(&event.context);
        let summary = handle_event(&start.store, &deadline, &event.payload).await?;
        summary.report(&start.metrics);
        Ok::<_, lambda_runtime::Error>(summary)
    }))
    .await
}
