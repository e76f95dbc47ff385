//! A poison message at the head of a batch of ten from ten message groups,
//! through a real moto source queue whose RedrivePolicy (maxReceiveCount 5)
//! names its dead-letter queue, handled by the real send-sms binary. The
//! nine others must be delivered in that same invocation, and the poison be
//! in the dead-letter queue after one receive, with its reason, the source
//! queue empty.

use crate::kit::{BINARY_TIMEOUT, Outcome, Scene, SmsFunction, sms_env};
use crate::stalls::finish_reminders;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName as Attr, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use torium_domain::Channel;
use torium_runtime::aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use torium_tests::moto;
use torium_tests::{required_env, unique_name};

const POISON: &str = "{\"type\": \"delivery\", not JSON after all";

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue ARN")
}

async fn messages_left(sqs: &aws_sdk_sqs::Client, url: &str) -> (i64, i64) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let count = |name: QueueAttributeName| {
        out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(-1)
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

pub async fn poison() -> Outcome {
    let mut scene = Scene::new().await;
    let people = scene.people(Channel::Sms, 9).await;
    let owner = scene.person(Channel::Sms).await;
    let event = scene.event("A", &people).await;
    scene.fan_out(&[event]).await;
    let deliveries = scene.take(Channel::Sms).await;
    let expected = scene.expected(&deliveries);

    let sqs = scene.sqs.client();
    let dlq_url = moto::create_fifo_queue(sqs, "faults-send-sms-dlq").await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let source_name = format!("{}.fifo", unique_name("faults-send-sms"));
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}).to_string();
    let source_url = sqs
        .create_queue()
        .queue_name(&source_name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("source queue with a redrive policy")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let source_arn = queue_arn(sqs, &source_url).await;
    let poison_group = format!("user-{owner}");
    let mut entries = vec![
        SendMessageBatchRequestEntry::builder()
            .id("poison")
            .message_body(POISON)
            .message_group_id(&poison_group)
            .message_deduplication_id(unique_name("poison"))
            .build()
            .expect("entry"),
    ];
    for (i, m) in deliveries.iter().enumerate() {
        entries.push(
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&m.body)
                .message_group_id(&m.group_id)
                .message_deduplication_id(&m.deduplication_id)
                .build()
                .expect("entry"),
        );
    }
    let sent = sqs.send_message_batch().queue_url(&source_url).set_entries(Some(entries)).send().await.expect("send");
    assert!(sent.failed().is_empty(), "moto refused entries: {:?}", sent.failed());

    // One receive, as Lambda's poller makes it.
    let received = sqs
        .receive_message()
        .queue_url(&source_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(Attr::All)
        .send()
        .await
        .expect("receive");
    let mut event = SqsEvent::default();
    let region = required_env("AWS_REGION");
    for m in received.messages() {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id().map(str::to_owned);
        record.receipt_handle = m.receipt_handle().map(str::to_owned);
        record.body = m.body().map(str::to_owned);
        record.attributes =
            m.attributes().into_iter().flatten().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(source_arn.clone());
        record.aws_region = Some(region.clone());
        event.records.push(record);
    }
    let mut outcome = Outcome {
        faults: "a body not JSON heads 10 messages of 10 groups, maxReceiveCount 5".to_owned(),
        ..Default::default()
    };
    let head = event.records.first();
    outcome.check(event.records.len() == 10 && head.and_then(|r| r.body.as_deref()) == Some(POISON), || {
        format!("one receive gave {} messages, the poison not first", event.records.len())
    });
    let poison_id = head.and_then(|r| r.message_id.clone()).unwrap_or_default();
    let receives = head.and_then(|r| r.attributes.get("ApproximateReceiveCount").cloned()).unwrap_or_default();

    let env = sms_env(&scene.db.url, &required_env("AWS_ENDPOINT_URL"), &dlq_url, &[]);
    let mut function = SmsFunction::start(env, BINARY_TIMEOUT);
    let returned = function.invoke_event(&event).await;
    // The event source deletes what the invocation did not return.
    let deletes: Vec<DeleteMessageBatchRequestEntry> = event
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| !returned.iter().any(|id| Some(id) == r.message_id.as_ref()))
        .map(|(i, r)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(r.receipt_handle.clone().unwrap_or_default())
                .build()
                .expect("delete entry")
        })
        .collect();
    if !deletes.is_empty() {
        sqs.delete_message_batch().queue_url(&source_url).set_entries(Some(deletes)).send().await.expect("delete");
    }

    outcome.check(returned.is_empty(), || format!("the invocation returned {} messages: {returned:?}", returned.len()));
    outcome.check(receives == "1", || format!("the poison was received {receives:?} times, not once"));
    let left = messages_left(sqs, &source_url).await;
    outcome.check(left == (0, 0), || format!("the source queue still holds {left:?} (visible, in flight)"));
    let dead = moto::drain_dead_letters(sqs, &dlq_url).await;
    let letters: Vec<String> = dead.iter().map(|(m, a)| format!("{:?} {a:?}", m.body)).collect();
    let set_aside = dead.first();
    outcome.check(dead.len() == 1, || format!("the dead-letter queue holds {} messages: {letters:?}", dead.len()));
    if let Some((letter, attributes)) = set_aside {
        let attribute = |name: &str| attributes.get(name).cloned().unwrap_or_default();
        outcome.check(letter.body == POISON && letter.group_id == poison_group, || {
            format!("the dead letter is not the poison as received: {letter:?}")
        });
        outcome.check(attribute("reason").starts_with("not a delivery"), || {
            format!("the dead letter's reason: {:?}", attribute("reason"))
        });
        outcome
            .check(attribute("source_queue") == source_name && attribute("original_message_id") == poison_id, || {
                format!("the dead letter's source and id: {attributes:?}")
            });
        let reason: String = attribute("reason").chars().take(36).collect();
        outcome.faults.push_str(&format!("; in the DLQ: \"{reason}…\""));
    }
    // Delivered within that one invocation: moto's record before any redelivery.
    finish_reminders(&mut outcome, &scene, &expected, Ok(Default::default()), true).await;
    if !outcome.failures.is_empty() {
        outcome.failures.push(format!("send-sms log (WARN/ERROR):\n{}", function.log_excerpt(25)));
    }
    outcome
}
