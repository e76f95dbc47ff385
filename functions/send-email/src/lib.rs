//! send-email: reminder emails through SES v2 `SendEmail` (simple content,
//! HTML and text parts, sender identity from configuration), on the shared
//! delivery flow of `torium-delivery`.

use torium_aws::{AwsError, EmailOptions, Ses};
use torium_delivery::{ChannelSender, SendFailure};
use torium_domain::{Channel, Delivery, DeliveryContent, is_plausible_email};
use torium_runtime::{ConfigError, Env};

pub fn email_options(env: &Env) -> Result<EmailOptions, ConfigError> {
    let from_address = env.required("SES_FROM_ADDRESS")?;
    if !is_plausible_email(from_address) {
        return Err(ConfigError::Invalid { name: "SES_FROM_ADDRESS", reason: "not an email address".into() });
    }
    Ok(EmailOptions {
        from_address: from_address.to_owned(),
        configuration_set: env.optional("SES_CONFIGURATION_SET").map(str::to_owned),
    })
}

pub struct EmailSender {
    pub ses: Ses,
    pub options: EmailOptions,
}

/// SES pauses sending for the whole account on these: every message would
/// fail alike, so they go back to the queue (and on to the DLQ and its
/// alarm) instead of being marked failed one by one.
const ACCOUNT_LEVEL_CODES: &[&str] = &["AccountSuspendedException", "SendingPausedException"];

fn failure(error: AwsError) -> SendFailure {
    if error.is_transient() || error.code.as_deref().is_some_and(|c| ACCOUNT_LEVEL_CODES.contains(&c)) {
        SendFailure::Transient(error.to_string())
    } else {
        SendFailure::Permanent { error: error.to_string(), user_effect: None }
    }
}

impl ChannelSender for EmailSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, delivery: &Delivery) -> Result<String, SendFailure> {
        let DeliveryContent::Email { subject, html, text } = &delivery.content else {
            return Err(SendFailure::Permanent { error: "not an email".into(), user_effect: None });
        };
        if !is_plausible_email(&delivery.receiver) {
            return Err(SendFailure::Permanent { error: "the email address is not valid".into(), user_effect: None });
        }
        self.ses.send_email(&delivery.receiver, subject, html, text, &self.options).await.map_err(failure)
    }
}
