use crate::error::AwsError;
use std::future::Future;

/// Reads secrets (the database credentials, the alerts webhook URL). Called
/// once per cold start, never per invocation.
pub trait SecretStore: Send + Sync {
    /// The secret's `SecretString`.
    fn secret_string(&self, secret_id: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// [`SecretStore`] over AWS Secrets Manager.
#[cfg(feature = "secrets")]
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

#[cfg(feature = "secrets")]
impl SecretsManager {
    /// A client from the SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SecretsManager { client: aws_sdk_secretsmanager::Client::new(config) }
    }
}

#[cfg(feature = "secrets")]
impl SecretStore for SecretsManager {
    async fn secret_string(&self, secret_id: &str) -> Result<String, AwsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| crate::classify("GetSecretValue", &e))?;
        output
            .secret_string()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::permanent("GetSecretValue", format!("secret {secret_id} holds no string")))
    }
}

/// For processes configured without any secret (a `DATABASE_URL` is set):
/// building no SDK client at all avoids the SDK's region and credential
/// probing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl SecretStore for NoSecrets {
    async fn secret_string(&self, secret_id: &str) -> Result<String, AwsError> {
        Err(AwsError::permanent(
            "GetSecretValue",
            format!("no secret store is configured, so secret {secret_id} cannot be read"),
        ))
    }
}
