use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Whether retrying the same call later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, a 5xx, a timeout, a dropped connection: retry later.
    Transient,
    /// The request itself was refused (bad input, missing resource, denied).
    Permanent,
}

/// An AWS call that failed, with the service's error code when it gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind:?}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
pub struct AwsError {
    /// The SDK operation that failed (`Publish`, `SendMessageBatch`, …).
    pub operation: &'static str,
    /// Whether to retry.
    pub kind: FailureKind,
    /// The service's error code (`Throttling`, `InvalidParameter`, …);
    /// `None` when the failure never reached the service or it gave none.
    pub code: Option<String>,
    /// What went wrong, in the SDK's or the service's words.
    pub message: String,
}

impl AwsError {
    /// A failure of `kind`, without a service error code.
    pub fn new(operation: &'static str, kind: FailureKind, message: impl Into<String>) -> Self {
        AwsError { operation, kind, code: None, message: message.into() }
    }

    /// A call that may succeed if made again later (the service was busy,
    /// away or slow): retry it.
    pub fn transient(operation: &'static str, message: impl Into<String>) -> Self {
        Self::new(operation, FailureKind::Transient, message)
    }

    /// A call that can never succeed as made (a bad request built here, a
    /// refusal): do not retry it.
    pub fn permanent(operation: &'static str, message: impl Into<String>) -> Self {
        Self::new(operation, FailureKind::Permanent, message)
    }

    /// The same failure, with the error code the service gave.
    pub(crate) fn with_code(self, code: Option<String>) -> Self {
        AwsError { code, ..self }
    }

    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == FailureKind::Transient
    }
}

/// Error codes services use for "slow down" even when the status is 400.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "TooManyRequestsException",
    "LimitExceededException",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "KMSThrottlingException",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
];

/// Sorts any SDK error into transient or permanent.
pub fn classify<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, code, message) = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (FailureKind::Transient, None, DisplayErrorContext(err).to_string())
        }
        SdkError::ServiceError(service) => {
            let source = service.err();
            let code = source.code().map(str::to_owned);
            let server_side = service.raw().status().is_server_error();
            let throttled = code.as_deref().is_some_and(|c| THROTTLING_CODES.contains(&c));
            let kind = if server_side || throttled { FailureKind::Transient } else { FailureKind::Permanent };
            (kind, code, source.message().unwrap_or("no message").to_owned())
        }
        // Construction failures are bugs in the request we built.
        _ => (FailureKind::Permanent, None, DisplayErrorContext(err).to_string()),
    };
    AwsError::new(operation, kind, message).with_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(status: u16, code: &str) -> SdkError<ErrorMetadata, HttpResponse> {
        let error = ErrorMetadata::builder().code(code).message("the service said no").build();
        let response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(error, response)
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (status, code) in [
            (400, "Throttling"),
            (429, "TooManyRequestsException"),
            (400, "Throttled"),
            (503, "ServiceUnavailable"),
            (500, "Whatever"),
        ] {
            let error = classify("Publish", &service_error(status, code));
            assert_eq!(error.kind, FailureKind::Transient, "{status} {code}");
            assert_eq!(error.code.as_deref(), Some(code));
        }
    }

    #[test]
    fn refusals_are_permanent_and_say_what_and_why() {
        let error = classify("Publish", &service_error(400, "EndpointDisabled"));
        assert_eq!(error.kind, FailureKind::Permanent);
        assert!(!error.is_transient());
        assert_eq!(error.to_string(), "Publish failed (Permanent, EndpointDisabled): the service said no");
    }

    #[test]
    fn timeouts_are_transient() {
        let timeout: SdkError<ErrorMetadata, HttpResponse> = SdkError::timeout_error("read timed out");
        assert!(classify("SendEmail", &timeout).is_transient());
    }
}
