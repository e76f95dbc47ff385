//! The local-AWS wiring later handlers rely on: the SQS adapter against
//! moto's FIFO queues, read back from the queue itself.

use std::collections::BTreeMap;
use torium_aws::{MessageQueue, OutgoingMessage, SqsQueue};
use torium_tests::moto::{self, create_fifo_queue, drain_queue};
use torium_tests::unique_name;

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
    let url = create_fifo_queue(queue.client(), "it").await;
    let messages: Vec<_> = (0..12).map(|i| message(i, if i % 2 == 0 { "event-1" } else { "event-2" })).collect();

    let calls = queue.send_all(&url, &messages).await.expect("send to moto");
    assert_eq!(calls, 2, "12 messages take two SendMessageBatch calls");

    let received = drain_queue(queue.client(), &url).await;
    assert_eq!(received.len(), 12);
    let mut per_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &received {
        let n = serde_json::from_str::<serde_json::Value>(&m.body).unwrap()["n"].as_u64().unwrap();
        assert_eq!(m.deduplication_id, format!("dedup-{n}"));
        per_group.entry(m.group_id.clone()).or_default().push(m.body.clone());
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
    let url = create_fifo_queue(queue.client(), "it").await;
    queue.send_all(&url, &[message(1, "g")]).await.unwrap();
    queue.send_all(&url, &[message(1, "g")]).await.unwrap();
    assert_eq!(drain_queue(queue.client(), &url).await.len(), 1);
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
