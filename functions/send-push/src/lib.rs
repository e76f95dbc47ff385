//! send-push: reminder pushes through SNS `Publish` to the user's platform
//! endpoint (`MessageStructure=json`, the payload of the contracts page), on
//! the shared delivery flow of `torium-delivery`. A disabled or missing
//! endpoint is forgotten, so the next reminder falls back to email.

use torium_aws::{AwsError, Sns};
use torium_delivery::{ChannelSender, SendFailure};
use torium_domain::{Channel, Delivery, DeliveryContent};
use torium_store::UserEffect;

pub struct PushSender {
    pub sns: Sns,
}

/// SNS's words for an endpoint that will never take a push again.
const ENDPOINT_GONE_CODES: &[&str] = &["EndpointDisabled", "NotFound"];

fn failure(error: AwsError, endpoint_arn: &str) -> SendFailure {
    if error.is_transient() {
        return SendFailure::Transient(error.to_string());
    }
    let gone = error.code.as_deref().is_some_and(|c| ENDPOINT_GONE_CODES.contains(&c));
    SendFailure::Permanent {
        error: error.to_string(),
        user_effect: gone.then(|| UserEffect::PushEndpointGone { endpoint_arn: endpoint_arn.to_owned() }),
    }
}

impl ChannelSender for PushSender {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    async fn send(&self, delivery: &Delivery) -> Result<String, SendFailure> {
        let DeliveryContent::Push { message } = &delivery.content else {
            return Err(SendFailure::Permanent { error: "not a push".into(), user_effect: None });
        };
        let endpoint = delivery.receiver.as_str();
        if !endpoint.starts_with("arn:") {
            return Err(SendFailure::Permanent {
                error: "the receiver is not an endpoint ARN".into(),
                user_effect: None,
            });
        }
        self.sns.publish_push(endpoint, message).await.map_err(|e| failure(e, endpoint))
    }
}
