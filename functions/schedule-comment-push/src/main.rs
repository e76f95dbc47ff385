use schedule_comment_push::digest::CommentDigests;
use schedule_comment_push::handle_batch_with;
use torium_aws::Sns;
use torium_delivery::SnsPushPublisher;
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{Consumer, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let start = cold_start().await?;
    let publisher = SnsPushPublisher { sns: Sns::new(&start.sdk) };
    let consumer = Consumer::from_env(&start.env, &start.sdk, &start.metrics, "COMMENT_PUSH_DLQ_URL")?;
    let digests = CommentDigests::from_env(&start.env, &start.sdk)?;
    let (start, publisher, consumer, digests) = (&start, &publisher, &consumer, &digests);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = start.begin_invocation(&event.context);
        let response = handle_batch_with(&start.store, publisher, digests, consumer, &deadline, &event.payload).await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}
