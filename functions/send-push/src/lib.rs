//! send-push: reminder pushes through SNS `Publish` to the user's platform
//! endpoint (`MessageStructure=json`, the payload of the contracts page), on
//! the shared delivery flow of `torium-delivery`. A disabled or missing
//! endpoint is forgotten, so the next reminder falls back to email.

use torium_delivery::{ChannelSender, PushPublisher, SendFailure, SnsPushPublisher};
use torium_domain::{Addressed, Channel};

pub struct PushSender {
    pub publisher: SnsPushPublisher,
}

impl ChannelSender for PushSender {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    async fn send(&self, message: &Addressed<'_>) -> Result<String, SendFailure> {
        let Addressed::Push { to, message } = message else {
            return Err(SendFailure::permanent("not a push"));
        };
        self.publisher.publish(to, message).await
    }
}
