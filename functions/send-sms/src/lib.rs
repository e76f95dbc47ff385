//! send-sms: reminder SMS through SNS `Publish` (SMS type and sender id from
//! configuration), on the shared delivery flow of `torium-delivery`.
//!
//! One provider call per message: opted-out numbers come from
//! `ListPhoneNumbersOptedOut`, loaded at the cold start and reloaded when
//! older than `SMS_OPT_OUT_REFRESH_SECONDS` (default 300), instead of a
//! `CheckIfPhoneNumberIsOptedOut` per message (that call has a low
//! account-wide TPS quota). A number that opted out since the last load is
//! caught by SNS's own refusal (`OptedOut`). Either way it is a permanent
//! failure and flags the user.

use std::collections::HashSet;
use std::time::{Duration, Instant};
use torium_aws::{AwsError, SmsOptions, Sns};
use torium_delivery::{ChannelSender, SendFailure};
use torium_domain::{Addressed, Channel, UserEffect};
use torium_runtime::{ConfigError, Env};

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
    pub opt_outs: OptOuts,
}

/// The account's opted-out numbers, reloaded when stale.
#[derive(Debug)]
pub struct OptOuts {
    refresh_every: Duration,
    state: tokio::sync::Mutex<OptOutState>,
}

#[derive(Debug, Default)]
struct OptOutState {
    numbers: HashSet<String>,
    loaded_at: Option<Instant>,
}

impl OptOuts {
    /// Loads the list once (the cold start); a failure is logged and the
    /// next message tries again after `refresh_every`.
    pub async fn load(sns: &Sns, refresh_every: Duration) -> Self {
        let opt_outs = OptOuts { refresh_every, state: tokio::sync::Mutex::new(OptOutState::default()) };
        opt_outs.refresh(sns, &mut *opt_outs.state.lock().await).await;
        opt_outs
    }

    /// Whether the number is on the list (reloaded first when stale).
    pub async fn contains(&self, sns: &Sns, number: &str) -> bool {
        let mut state = self.state.lock().await;
        if state.loaded_at.is_none_or(|at| at.elapsed() >= self.refresh_every) {
            self.refresh(sns, &mut state).await;
        }
        state.numbers.contains(number)
    }

    async fn refresh(&self, sns: &Sns, state: &mut OptOutState) {
        match sns.opted_out_numbers().await {
            Ok(numbers) => {
                tracing::info!(count = numbers.len(), "opted-out numbers loaded");
                state.numbers = numbers;
            }
            Err(error) => tracing::warn!(%error, "loading the opted-out numbers failed; SNS's refusal still applies"),
        }
        state.loaded_at = Some(Instant::now());
    }
}

/// `SMS_OPT_OUT_REFRESH_SECONDS` (default 300).
pub fn opt_out_refresh(env: &Env) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(env.parsed_or("SMS_OPT_OUT_REFRESH_SECONDS", 300)?))
}

/// SNS's refusal for a number that opted out, in its code or its words.
fn opted_out(error: &AwsError) -> Option<UserEffect> {
    let opted_out = matches!(error.code.as_deref(), Some("OptedOut" | "OptedOutException"))
        || error.message.to_lowercase().contains("opted out");
    opted_out.then_some(UserEffect::SmsOptedOut)
}

impl ChannelSender for SmsSender {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, message: &Addressed<'_>) -> Result<String, SendFailure> {
        let Addressed::Sms { to, text } = message else {
            return Err(SendFailure::permanent("not an SMS"));
        };
        if self.opt_outs.contains(&self.sns, to.as_str()).await {
            return Err(SendFailure::Permanent {
                error: "the number opted out of SMS".into(),
                user_effect: Some(UserEffect::SmsOptedOut),
            });
        }
        self.sns
            .publish_sms(to.as_str(), text, &self.options)
            .await
            .map_err(|error| SendFailure::from_provider(error, &[], opted_out))
    }
}
