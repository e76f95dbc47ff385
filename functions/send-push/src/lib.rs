//! send-push: reminder pushes through SNS `Publish` to the user's platform
//! endpoint (`MessageStructure=json`, the payload of the contracts page), on
//! the shared delivery flow of `torium-delivery`. A disabled or missing
//! endpoint is forgotten, so the next reminder falls back to email.

use torium_delivery::{ChannelSender, PushPublisher, SendFailure, SnsPushPublisher};
use torium_domain::{Channel, Delivery, DeliveryContent};

pub struct PushSender {
    pub publisher: SnsPushPublisher,
}

impl ChannelSender for PushSender {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    async fn send(&self, delivery: &Delivery) -> Result<String, SendFailure> {
        let DeliveryContent::Push { message } = &delivery.content else {
            return Err(SendFailure::Permanent { error: "not a push".into(), user_effect: None });
        };
        self.publisher.publish(&delivery.receiver, message).await
    }
}
