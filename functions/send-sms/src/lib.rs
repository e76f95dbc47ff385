//! send-sms: reminder SMS through SNS `Publish` (SMS type and sender id from
//! configuration), on the shared delivery flow of `torium-delivery`.

use torium_aws::{AwsError, SmsOptions, Sns};
use torium_delivery::{ChannelSender, SendFailure};
use torium_domain::{Channel, Delivery, DeliveryContent, is_e164};
use torium_runtime::{ConfigError, Env};
use torium_store::UserEffect;

pub fn sms_options(env: &Env) -> Result<SmsOptions, ConfigError> {
    let sms_type = env.optional("SMS_TYPE").unwrap_or("Transactional");
    if !matches!(sms_type, "Transactional" | "Promotional") {
        return Err(ConfigError::Invalid {
            name: "SMS_TYPE",
            reason: format!("{sms_type:?} is not Transactional or Promotional"),
        });
    }
    Ok(SmsOptions { sms_type: sms_type.to_owned(), sender_id: env.optional("SMS_SENDER_ID").map(str::to_owned) })
}

pub struct SmsSender {
    pub sns: Sns,
    pub options: SmsOptions,
}

fn failure(error: AwsError) -> SendFailure {
    if error.is_transient() {
        SendFailure::Transient(error.to_string())
    } else {
        let opted_out = error.code.as_deref() == Some("OptedOut") || error.message.to_lowercase().contains("opted out");
        SendFailure::Permanent { error: error.to_string(), user_effect: opted_out.then_some(UserEffect::SmsOptedOut) }
    }
}

impl ChannelSender for SmsSender {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, delivery: &Delivery) -> Result<String, SendFailure> {
        let DeliveryContent::Sms { text } = &delivery.content else {
            return Err(SendFailure::Permanent { error: "not an SMS".into(), user_effect: None });
        };
        let number = delivery.receiver.as_str();
        if !is_e164(number) {
            return Err(SendFailure::Permanent {
                error: "the phone number is not in E.164 form".into(),
                user_effect: None,
            });
        }
        // Publish does not fail for an opted-out number; SNS says so here.
        if self.sns.is_opted_out(number).await.map_err(failure)? {
            return Err(SendFailure::Permanent {
                error: "the number opted out of SMS".into(),
                user_effect: Some(UserEffect::SmsOptedOut),
            });
        }
        self.sns.publish_sms(number, text, &self.options).await.map_err(failure)
    }
}
