//! Writing user attributes back to a Cognito user pool.

use crate::error::{AwsError, classify};
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use std::future::Future;

/// The custom attribute that carries the database user id in the app's tokens.
pub const USER_ID_ATTRIBUTE: &str = "custom:user_id";

/// Where the post-confirmation trigger writes the user id back.
pub trait UserAttributes: Send + Sync {
    /// Sets `custom:user_id` on the user (idempotent: the same value again is a no-op).
    fn set_user_id(
        &self,
        user_pool_id: &str,
        user_name: &str,
        user_id: i64,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`UserAttributes`] over `AdminUpdateUserAttributes`.
#[derive(Debug, Clone)]
pub struct CognitoUserAttributes {
    client: aws_sdk_cognitoidentityprovider::Client,
}

impl CognitoUserAttributes {
    /// A client from the SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        CognitoUserAttributes { client: aws_sdk_cognitoidentityprovider::Client::new(config) }
    }

    /// The SDK client, for calls this adapter does not wrap.
    pub fn client(&self) -> &aws_sdk_cognitoidentityprovider::Client {
        &self.client
    }
}

impl UserAttributes for CognitoUserAttributes {
    async fn set_user_id(&self, user_pool_id: &str, user_name: &str, user_id: i64) -> Result<(), AwsError> {
        let attribute = AttributeType::builder()
            .name(USER_ID_ATTRIBUTE)
            .value(user_id.to_string())
            .build()
            .map_err(|e| AwsError::permanent("AdminUpdateUserAttributes", e.to_string()))?;
        self.client
            .admin_update_user_attributes()
            .user_pool_id(user_pool_id)
            .username(user_name)
            .user_attributes(attribute)
            .send()
            .await
            .map_err(|e| classify("AdminUpdateUserAttributes", &e))?;
        Ok(())
    }
}
