//! moto's server: the local AWS endpoint, and its record of what was really
//! sent (`GET /moto-api/data.json`), which tests assert on.

use crate::required_env;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

/// The SDK configuration the handlers would load, pointed at moto.
pub async fn sdk_config() -> torium_aws::SdkConfig {
    required_env("AWS_ENDPOINT_URL");
    required_env("AWS_REGION");
    torium_aws::load_sdk_config().await
}

/// Everything moto recorded, across services, accounts and regions.
pub fn recorded() -> Value {
    let endpoint = required_env("AWS_ENDPOINT_URL");
    let body = http_get(&endpoint, "/moto-api/data.json");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("moto's data.json is not JSON: {e}"))
}

/// The records of one model (e.g. `("sns", "SMS")`, `("ses", "Message")`).
pub fn recorded_models(service: &str, model: &str) -> Vec<Value> {
    match &recorded()[service][model] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => panic!("unexpected moto record for {service}.{model}: {other}"),
    }
}

/// A plain HTTP/1.0 GET on loopback (no chunking, body until close).
fn http_get(endpoint: &str, path: &str) -> String {
    let authority =
        endpoint.strip_prefix("http://").unwrap_or_else(|| panic!("moto endpoint {endpoint} is not http://"));
    let authority = authority.trim_end_matches('/');
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("cannot reach moto at {endpoint} ({e}); run the suite with `make test`"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").expect("request to moto");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response from moto");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response from moto");
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "moto answered {head}");
    body.to_owned()
}

/// A new FIFO queue in moto with content-based deduplication off (as the
/// template declares Torium's own queues and the dead-letter queues); returns
/// its URL.
pub async fn create_fifo_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    create_queue(sqs, prefix, false).await
}

/// A new FIFO queue in moto with content-based deduplication on, as the
/// template declares the three queues the existing HTTP API sends to
/// (schedule notifications, group invitation, comment push): the API sends
/// no deduplication id. Returns its URL.
pub async fn create_api_fifo_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    create_queue(sqs, prefix, true).await
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str, content_based_deduplication: bool) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let name = format!("{}.fifo", crate::unique_name(prefix));
    sqs.create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, content_based_deduplication.to_string())
        .send()
        .await
        .expect("create FIFO queue in moto")
        .queue_url()
        .expect("queue url")
        .to_owned()
}

/// A message as it was taken off a queue.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub body: String,
    pub group_id: String,
    pub deduplication_id: String,
    /// `SentTimestamp`, epoch milliseconds as SQS writes it ("" when unknown).
    pub sent_timestamp: String,
}

/// Every message waiting in the queue, received and deleted in the order
/// received (bounded: at most 100 receive calls).
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<ReceivedMessage> {
    receive_all(sqs, url).await.into_iter().map(|(message, _)| message).collect()
}

/// Every message waiting in a dead-letter queue with its message attributes
/// (`reason`, `source_queue`, `original_message_id`), received and deleted.
pub async fn drain_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<(ReceivedMessage, std::collections::BTreeMap<String, String>)> {
    receive_all(sqs, url).await
}

/// Receives and deletes until the queue is empty (at most 100 receives):
/// each message with its system and message attributes.
async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<(ReceivedMessage, std::collections::BTreeMap<String, String>)> {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName as Attr};
    let mut received = Vec::new();
    for _ in 0..100 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(Attr::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from moto");
        if out.messages().is_empty() {
            break;
        }
        let mut deletes = Vec::new();
        for (i, m) in out.messages().iter().enumerate() {
            let attribute = |name: Attr| m.attributes().and_then(|a| a.get(&name)).cloned().unwrap_or_default();
            let attributes = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                .collect();
            let message = ReceivedMessage {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                group_id: attribute(Attr::MessageGroupId),
                deduplication_id: attribute(Attr::MessageDeduplicationId),
                sent_timestamp: attribute(Attr::SentTimestamp),
            };
            received.push((message, attributes));
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("delete entry");
            deletes.push(entry);
        }
        sqs.delete_message_batch().queue_url(url).set_entries(Some(deletes)).send().await.expect("delete from moto");
    }
    received
}

/// The SQS event Lambda would hand a consumer for these messages.
pub fn sqs_event(messages: &[ReceivedMessage]) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.body = Some(m.body.clone());
            record.event_source = Some("aws:sqs".to_owned());
            for (name, value) in [
                ("MessageGroupId", &m.group_id),
                ("MessageDeduplicationId", &m.deduplication_id),
                ("SentTimestamp", &m.sent_timestamp),
            ] {
                if !value.is_empty() {
                    record.attributes.insert(name.to_owned(), value.clone());
                }
            }
            record
        })
        .collect();
    event
}

/// The SMS moto recorded for one number, as (message id, text).
pub fn sms_to(phone_number: &str) -> Vec<(String, String)> {
    recorded_models("sns", "SMS")
        .into_iter()
        .filter(|sms| sms["phone_number"] == phone_number)
        .map(|sms| {
            (
                sms["message_id"].as_str().unwrap_or_default().to_owned(),
                sms["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The emails moto recorded for one address (`source`, `subject`, `body`).
pub fn emails_to(address: &str) -> Vec<Value> {
    recorded_models("ses", "Message")
        .into_iter()
        .filter(|m| m["destinations"]["ToAddresses"].as_array().is_some_and(|to| to.iter().any(|a| a == address)))
        .collect()
}

/// The pushes moto recorded for one platform endpoint, as parsed messages.
pub fn pushes_to(endpoint_arn: &str) -> Vec<Value> {
    recorded_models("sns", "PlatformEndpoint")
        .into_iter()
        .filter(|e| e["arn"] == endpoint_arn)
        .flat_map(|e| match &e["messages"] {
            Value::Object(messages) => messages
                .values()
                .map(|m| serde_json::from_str(m.as_str().unwrap_or("null")).unwrap_or(Value::Null))
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

/// A phone number no other test uses (never ending in 99, which moto
/// treats as opted out).
pub fn unique_phone() -> String {
    let name = crate::unique_name("p");
    let digits: u64 = name.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
    let mut number = format!("+4869{:07}", digits % 10_000_000);
    if number.ends_with("99") {
        number.replace_range(number.len() - 1.., "8");
    }
    number
}

/// A GCM platform application in moto, to create device endpoints in.
pub struct PushDevices {
    pub sns: aws_sdk_sns::Client,
    pub application_arn: String,
}

impl PushDevices {
    pub async fn new() -> PushDevices {
        let sns = aws_sdk_sns::Client::new(&sdk_config().await);
        let application_arn = sns
            .create_platform_application()
            .name(crate::unique_name("torium"))
            .platform("GCM")
            .attributes("PlatformCredential", "test-server-key")
            .send()
            .await
            .expect("platform application in moto")
            .platform_application_arn()
            .expect("platform application ARN")
            .to_owned();
        PushDevices { sns, application_arn }
    }

    /// A new device endpoint; a disabled one answers `EndpointDisabled`.
    pub async fn endpoint(&self, enabled: bool) -> String {
        let arn = self
            .sns
            .create_platform_endpoint()
            .platform_application_arn(&self.application_arn)
            .token(crate::unique_name("device-token"))
            .send()
            .await
            .expect("platform endpoint in moto")
            .endpoint_arn()
            .expect("endpoint ARN")
            .to_owned();
        if !enabled {
            self.sns
                .set_endpoint_attributes()
                .endpoint_arn(&arn)
                .attributes("Enabled", "false")
                .send()
                .await
                .expect("disable endpoint in moto");
        }
        arn
    }
}
