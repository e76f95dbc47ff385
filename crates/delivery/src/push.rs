//! Publishing a push to an SNS platform endpoint, with SNS's errors sorted
//! into transient and permanent. Shared by send-push, send-group-invitation
//! and schedule-comment-push.

use crate::SendFailure;
use std::future::Future;
use torium_aws::{AwsError, Sns};
use torium_store::UserEffect;

pub trait PushPublisher: Send + Sync {
    /// Publishes `message_json` (`MessageStructure=json`) to the endpoint;
    /// returns SNS's message id.
    fn publish(
        &self,
        endpoint_arn: &str,
        message_json: &str,
    ) -> impl Future<Output = Result<String, SendFailure>> + Send;
}

/// [`PushPublisher`] over SNS.
#[derive(Debug, Clone)]
pub struct SnsPushPublisher {
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

impl PushPublisher for SnsPushPublisher {
    async fn publish(&self, endpoint_arn: &str, message_json: &str) -> Result<String, SendFailure> {
        if !endpoint_arn.starts_with("arn:") {
            return Err(SendFailure::Permanent {
                error: "the receiver is not an endpoint ARN".into(),
                user_effect: None,
            });
        }
        self.sns.publish_push(endpoint_arn, message_json).await.map_err(|e| failure(e, endpoint_arn))
    }
}
