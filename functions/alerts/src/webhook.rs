//! Posting to the team's chat webhook (Discord- or Slack-compatible) over
//! HTTPS (plain HTTP only for local receivers), with a timeout and one
//! polite retry when the server asks for a short pause (429 + Retry-After).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::time::Duration;

/// The longest Retry-After this run waits for before giving up (the next
/// scheduled run tries again anyway).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook URL is not valid")]
    BadUrl,
    #[error("the webhook did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the webhook is rate limited (retry after {retry_after:?} s)")]
    RateLimited { retry_after: Option<u64> },
    #[error("the webhook answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the webhook could not be reached: {0}")]
    Transport(String),
}

/// Where the alerts go.
pub trait Webhook: Send + Sync {
    fn post(&self, payload: &serde_json::Value) -> impl Future<Output = Result<(), WebhookError>> + Send;
}

pub struct HttpWebhook {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    timeout: Duration,
}

impl HttpWebhook {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, WebhookError> {
        let url: Uri = url.parse().map_err(|_| WebhookError::BadUrl)?;
        if url.host().is_none() || !matches!(url.scheme_str(), Some("https" | "http")) {
            return Err(WebhookError::BadUrl);
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| WebhookError::Transport(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpWebhook { client: Client::builder(TokioExecutor::new()).build(https), url, timeout })
    }

    /// The webhook's host, for logs (the path holds the webhook's secret).
    pub fn host(&self) -> &str {
        self.url.host().unwrap_or("?")
    }

    async fn post_once(&self, body: Bytes) -> Result<(), WebhookError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", "torium-alerts")
            .body(Full::new(body))
            .map_err(|e| WebhookError::Transport(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| WebhookError::Timeout(self.timeout))?
            .map_err(|e| WebhookError::Transport(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|seconds| seconds.ceil() as u64);
            return Err(WebhookError::RateLimited { retry_after });
        }
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).chars().take(200).collect())
            .unwrap_or_default();
        Err(WebhookError::Status { status: status.as_u16(), body })
    }
}

impl Webhook for HttpWebhook {
    async fn post(&self, payload: &serde_json::Value) -> Result<(), WebhookError> {
        let body = Bytes::from(payload.to_string());
        match self.post_once(body.clone()).await {
            Err(WebhookError::RateLimited { retry_after: Some(seconds) })
                if Duration::from_secs(seconds) <= MAX_RETRY_AFTER =>
            {
                tracing::warn!(retry_after = seconds, "webhook rate limited; retrying once");
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                self.post_once(body).await
            }
            other => other,
        }
    }
}

/// The webhook URL from the secret's string: the URL itself, or JSON with
/// a `url` or `webhook_url` field.
pub fn webhook_url_from_secret(secret: &str) -> Option<String> {
    let secret = secret.trim();
    if secret.starts_with("http") {
        return Some(secret.to_owned());
    }
    let json: serde_json::Value = serde_json::from_str(secret).ok()?;
    ["url", "webhook_url"].iter().find_map(|k| json.get(k).and_then(|v| v.as_str()).map(str::to_owned))
}
