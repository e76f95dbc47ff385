//! SES v2: sending an email with simple content.

use crate::error::{AwsError, classify};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

/// Sender identity and options from configuration (never from code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailOptions {
    /// A verified SES identity.
    pub from_address: String,
    /// The SES configuration set whose event destination reports back
    /// (`SES_CONFIGURATION_SET`); `None` sends without one (no reports).
    pub configuration_set: Option<String>,
}

/// Sends email through SES v2 `SendEmail`.
#[derive(Debug, Clone)]
pub struct Ses {
    client: aws_sdk_sesv2::Client,
}

fn utf8(operation: &'static str, data: &str) -> Result<Content, AwsError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| AwsError::permanent(operation, e.to_string()))
}

impl Ses {
    /// A client from the SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Ses { client: aws_sdk_sesv2::Client::new(config) }
    }

    /// The SDK client, for calls this adapter does not wrap.
    pub fn client(&self) -> &aws_sdk_sesv2::Client {
        &self.client
    }

    /// Sends one email with an HTML and a text part; returns SES's message id.
    pub async fn send_email(
        &self,
        to: &str,
        subject: &str,
        html: &str,
        text: &str,
        options: &EmailOptions,
    ) -> Result<String, AwsError> {
        const OPERATION: &str = "SendEmail";
        let message = Message::builder()
            .subject(utf8(OPERATION, subject)?)
            .body(Body::builder().html(utf8(OPERATION, html)?).text(utf8(OPERATION, text)?).build())
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(&options.from_address)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(options.configuration_set.clone())
            .send()
            .await
            .map_err(|e| classify(OPERATION, &e))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
