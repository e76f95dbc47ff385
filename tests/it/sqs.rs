//! The local-AWS wiring later handlers rely on: the SQS adapter against
//! moto's FIFO queues, read back from the queue itself.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::collections::BTreeMap;
use torium_aws::{MessageQueue, OutgoingMessage, SqsQueue};
use torium_tests::{moto, unique_name};

async fn fifo_queue(queue: &SqsQueue) -> String {
    let name = format!("{}.fifo", unique_name("it"));
    queue
        .client()
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .send()
        .await
        .expect("create FIFO queue in moto")
        .queue_url()
        .expect("queue url")
        .to_owned()
}

/// Every message in the queue, with its group and deduplication ids.
async fn drain(queue: &SqsQueue, url: &str) -> Vec<(String, String, String)> {
    let mut received = Vec::new();
    for _ in 0..20 {
        let out = queue
            .client()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let messages = out.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let attrs = m.attributes().expect("system attributes");
            received.push((
                m.body().unwrap_or_default().to_owned(),
                attrs[&MessageSystemAttributeName::MessageGroupId].clone(),
                attrs[&MessageSystemAttributeName::MessageDeduplicationId].clone(),
            ));
            queue
                .client()
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    received
}

fn message(i: usize, group: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: format!("{{\"n\":{i}}}"),
        group_id: group.to_owned(),
        deduplication_id: format!("dedup-{i}"),
    }
}

#[tokio::test]
async fn fifo_batch_send_round_trips_with_group_and_deduplication_ids() {
    let queue = SqsQueue::new(&moto::sdk_config().await);
    let url = fifo_queue(&queue).await;
    let messages: Vec<_> = (0..12).map(|i| message(i, if i % 2 == 0 { "event-1" } else { "event-2" })).collect();

    let calls = queue.send_all(&url, &messages).await.expect("send to moto");
    assert_eq!(calls, 2, "12 messages take two SendMessageBatch calls");

    let received = drain(&queue, &url).await;
    assert_eq!(received.len(), 12);
    let mut per_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (body, group, dedup) in &received {
        let n: usize = serde_json::from_str::<serde_json::Value>(body).unwrap()["n"].as_u64().unwrap() as usize;
        assert_eq!(dedup, &format!("dedup-{n}"));
        per_group.entry(group.clone()).or_default().push(body.clone());
    }
    // Order holds within each message group.
    let expected =
        |parity: usize| (0..12).filter(|i| i % 2 == parity).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>();
    assert_eq!(per_group["event-1"], expected(0));
    assert_eq!(per_group["event-2"], expected(1));
}

#[tokio::test]
async fn a_resent_deduplication_id_is_delivered_once() {
    let queue = SqsQueue::new(&moto::sdk_config().await);
    let url = fifo_queue(&queue).await;
    queue.send_all(&url, &[message(1, "g")]).await.unwrap();
    queue.send_all(&url, &[message(1, "g")]).await.unwrap();
    assert_eq!(drain(&queue, &url).await.len(), 1);
}

#[tokio::test]
async fn sending_to_a_missing_queue_is_a_permanent_error() {
    let queue = SqsQueue::new(&moto::sdk_config().await);
    let endpoint = torium_tests::required_env("AWS_ENDPOINT_URL");
    let url = format!("{endpoint}/123456789012/{}.fifo", unique_name("missing"));
    let err = queue.send_all(&url, &[message(1, "g")]).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert_eq!(err.operation, "SendMessageBatch");
}
