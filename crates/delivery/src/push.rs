//! Publishing a push to an SNS platform endpoint, with SNS's errors sorted
//! into transient and permanent. Shared by send-push, send-group-invitation
//! and schedule-comment-push.

use crate::SendFailure;
use std::future::Future;
use torium_aws::{AwsError, Sns};
use torium_domain::{EndpointArn, UserEffect};

/// Publishes a push to one SNS platform endpoint.
pub trait PushPublisher: Send + Sync {
    /// Publishes `message_json` (`MessageStructure=json`) to the endpoint;
    /// returns SNS's message id.
    fn publish(
        &self,
        endpoint: &EndpointArn,
        message_json: &str,
    ) -> impl Future<Output = Result<String, SendFailure>> + Send;

    /// [`PushPublisher::publish`] to an endpoint as a row stores it: one
    /// that is not an endpoint ARN is refused for good.
    fn publish_stored(
        &self,
        endpoint: &str,
        message_json: &str,
    ) -> impl Future<Output = Result<String, SendFailure>> + Send {
        let endpoint = EndpointArn::parse(endpoint);
        async move {
            match endpoint {
                Ok(endpoint) => self.publish(&endpoint, message_json).await,
                Err(error) => Err(SendFailure::permanent(error.to_string())),
            }
        }
    }
}

/// [`PushPublisher`] over SNS.
#[derive(Debug, Clone)]
pub struct SnsPushPublisher {
    /// The SNS adapter it publishes through.
    pub sns: Sns,
}

/// SNS's words for an endpoint that will never take a push again.
const ENDPOINT_GONE_CODES: &[&str] = &["EndpointDisabled", "NotFound"];

impl PushPublisher for SnsPushPublisher {
    async fn publish(&self, endpoint: &EndpointArn, message_json: &str) -> Result<String, SendFailure> {
        self.sns.publish_push(endpoint.as_str(), message_json).await.map_err(|error| {
            SendFailure::from_provider(error, &[], |error: &AwsError| {
                let gone = error.code.as_deref().is_some_and(|c| ENDPOINT_GONE_CODES.contains(&c));
                gone.then(|| UserEffect::PushEndpointGone { endpoint_arn: endpoint.clone() })
            })
        })
    }
}
