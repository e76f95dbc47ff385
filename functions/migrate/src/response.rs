//! Answering CloudFormation: an HTTP PUT of the JSON response to the
//! request's pre-signed `ResponseURL` (S3, https on AWS; plain http only
//! for local receivers), with an empty `Content-Type` (the URL is signed
//! without one). Every attempt is bounded in time and a few are made.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Attempts, per-attempt time and the pause before the second attempt
/// (doubled before each later one) on AWS.
pub(crate) const ATTEMPTS: u32 = 3;
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const FIRST_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the response URL is not an http(s) URL")]
    BadUrl,
    #[error("the response URL did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the response URL answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the response URL could not be reached: {0}")]
    Transport(String),
}

impl ResponseError {
    /// Whether another attempt may do better: not for a URL that is wrong
    /// or refused (4xx: expired or not signed for this request).
    fn is_retryable(&self) -> bool {
        match self {
            ResponseError::BadUrl => false,
            ResponseError::Status { status, .. } => *status >= 500 || *status == 429,
            ResponseError::Timeout(_) | ResponseError::Transport(_) => true,
        }
    }
}

/// The HTTP client that answers CloudFormation, built once per cold start.
pub struct ResponseClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    attempts: u32,
    attempt_timeout: Duration,
    first_pause: Duration,
}

impl ResponseClient {
    /// [`ATTEMPTS`] attempts of at most [`ATTEMPT_TIMEOUT`] each.
    pub fn new() -> Result<Self, ResponseError> {
        Self::with_limits(ATTEMPTS, ATTEMPT_TIMEOUT, FIRST_PAUSE)
    }

    /// Other limits (tests).
    pub fn with_limits(attempts: u32, attempt_timeout: Duration, first_pause: Duration) -> Result<Self, ResponseError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| ResponseError::Transport(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(ResponseClient {
            client: Client::builder(TokioExecutor::new()).build(https),
            attempts: attempts.max(1),
            attempt_timeout,
            first_pause,
        })
    }

    /// The longest [`ResponseClient::put`] can take: kept back from the
    /// migration's time so that the answer always goes out.
    pub fn worst_case(&self) -> Duration {
        let pauses: Duration = (0..self.attempts - 1).map(|n| self.first_pause * 2u32.pow(n)).sum();
        self.attempt_timeout * self.attempts + pauses
    }

    /// PUTs `body` to `url`; the attempts it took, or the last error.
    pub async fn put(&self, url: &str, body: &serde_json::Value) -> Result<u32, ResponseError> {
        let uri: Uri = url.parse().map_err(|_| ResponseError::BadUrl)?;
        if uri.host().is_none() || !matches!(uri.scheme_str(), Some("https" | "http")) {
            return Err(ResponseError::BadUrl);
        }
        let body = Bytes::from(body.to_string());
        let mut pause = self.first_pause;
        let mut attempt = 1;
        loop {
            match self.put_once(&uri, body.clone()).await {
                Ok(()) => return Ok(attempt),
                Err(error) if error.is_retryable() && attempt < self.attempts => {
                    tracing::warn!(%error, attempt, "answering CloudFormation failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn put_once(&self, uri: &Uri, body: Bytes) -> Result<(), ResponseError> {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(uri.clone())
            // The pre-signed URL is signed without a content type: send an empty one.
            .header("content-type", "")
            .header("content-length", body.len())
            .header("user-agent", "torium-migrate")
            .body(Full::new(body))
            .map_err(|e| ResponseError::Transport(e.to_string()))?;
        let response = tokio::time::timeout(self.attempt_timeout, self.client.request(request))
            .await
            .map_err(|_| ResponseError::Timeout(self.attempt_timeout))?
            .map_err(|e| ResponseError::Transport(with_sources(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // S3 says why (an expired or mismatched signature) in a short XML body.
        let body = tokio::time::timeout(self.attempt_timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).chars().take(300).collect())
            .unwrap_or_default();
        Err(ResponseError::Status { status: status.as_u16(), body })
    }
}

fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
