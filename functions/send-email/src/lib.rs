//! send-email: reminder emails through SES v2 `SendEmail` (simple content,
//! HTML and text parts, sender identity from configuration), on the shared
//! delivery flow of `torium-delivery`.

use torium_aws::{EmailOptions, Ses};
use torium_delivery::{ChannelSender, SendFailure};
use torium_domain::{Addressed, Channel, EmailAddress, EmailContent};
use torium_runtime::{ConfigError, Env};

pub fn email_options(env: &Env) -> Result<EmailOptions, ConfigError> {
    let from_address = EmailAddress::parse(env.required("SES_FROM_ADDRESS")?)
        .map_err(|_| ConfigError::Invalid { name: "SES_FROM_ADDRESS", reason: "not an email address".into() })?;
    Ok(EmailOptions {
        from_address: from_address.as_str().to_owned(),
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

impl ChannelSender for EmailSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, message: &Addressed<'_>) -> Result<String, SendFailure> {
        let Addressed::Email { to, email } = message else {
            return Err(SendFailure::permanent("not an email"));
        };
        let EmailContent { subject, html, text } = email;
        self.ses
            .send_email(to.as_str(), subject, html, text, &self.options)
            .await
            .map_err(|error| SendFailure::from_provider(error, ACCOUNT_LEVEL_CODES, |_| None))
    }
}
