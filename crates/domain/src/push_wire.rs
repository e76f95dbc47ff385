//! The mobile push wire format: the SNS `MessageStructure=json` message
//! whose `GCM` key carries the FCM v1 message (with the APNs headers the
//! Flutter app's iOS build needs). What the push says is `texts`'.

use crate::PushNotification;
use serde_json::json;

/// The APNs topic of the app's Firebase messaging plugin.
pub(crate) const APNS_TOPIC: &str = "io.flutter.plugins.firebase.messaging";

/// The SNS `MessageStructure=json` message for a mobile push: a `GCM` key
/// holding the FCM v1 message as a JSON string, and the `default` SNS
/// requires.
pub fn sns_push_message(push: &PushNotification) -> String {
    json!({ "default": push.body, "GCM": fcm_message(push) }).to_string()
}

/// The FCM v1 message of a push, as the `GCM` key carries it.
pub(crate) fn fcm_message(push: &PushNotification) -> String {
    json!({
        "fcmV1Message": {
            "message": {
                "notification": { "title": push.title, "body": push.body },
                "android": { "priority": "high", "notification": { "sound": "default" } },
                "apns": {
                    "headers": {
                        "apns-priority": "5",
                        "apns-push-type": "background",
                        "apns-topic": APNS_TOPIC,
                    },
                    "payload": { "aps": { "content-available": 1, "sound": "default" } },
                },
                "data": push.data,
            }
        }
    })
    .to_string()
}
