//! SNS: SMS to phone numbers and mobile pushes to platform endpoints.

use crate::error::{AwsError, classify};
use aws_sdk_sns::types::MessageAttributeValue;

/// SMS options from configuration (never from code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsOptions {
    /// `Transactional` (reminders) or `Promotional`.
    pub sms_type: String,
    /// Alphanumeric sender id where the destination country allows one.
    pub sender_id: Option<String>,
}

/// SMS and push publishing over one SNS client.
#[derive(Debug, Clone)]
pub struct Sns {
    client: aws_sdk_sns::Client,
}

fn string_attribute(operation: &'static str, value: &str) -> Result<MessageAttributeValue, AwsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AwsError::permanent(operation, e.to_string()))
}

impl Sns {
    /// A client from the SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Sns { client: aws_sdk_sns::Client::new(config) }
    }

    /// The SDK client, for calls this adapter does not wrap.
    pub fn client(&self) -> &aws_sdk_sns::Client {
        &self.client
    }

    /// Every number that opted out of SMS from this account
    /// (`ListPhoneNumbersOptedOut`, every page; at most 1,000 pages).
    pub async fn opted_out_numbers(&self) -> Result<std::collections::HashSet<String>, AwsError> {
        let mut numbers = std::collections::HashSet::new();
        let mut next_token: Option<String> = None;
        for _ in 0..1000 {
            let output = self
                .client
                .list_phone_numbers_opted_out()
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| classify("ListPhoneNumbersOptedOut", &e))?;
            numbers.extend(output.phone_numbers().iter().cloned());
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(numbers)
    }

    /// Publishes an SMS; returns SNS's message id.
    pub async fn publish_sms(&self, phone_number: &str, text: &str, options: &SmsOptions) -> Result<String, AwsError> {
        const OPERATION: &str = "Publish";
        let mut request = self
            .client
            .publish()
            .phone_number(phone_number)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute(OPERATION, &options.sms_type)?);
        if let Some(sender_id) = &options.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(OPERATION, sender_id)?);
        }
        let output = request.send().await.map_err(|e| classify(OPERATION, &e))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }

    /// Publishes a push (`MessageStructure=json`) to a platform endpoint.
    pub async fn publish_push(&self, endpoint_arn: &str, message_json: &str) -> Result<String, AwsError> {
        let output = self
            .client
            .publish()
            .target_arn(endpoint_arn)
            .message(message_json)
            .message_structure("json")
            .send()
            .await
            .map_err(|e| classify("Publish", &e))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
