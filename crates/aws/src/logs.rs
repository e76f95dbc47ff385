//! Reading the suite's CloudWatch log groups (the alerts' error check).

use crate::error::{AwsError, classify};

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When it was logged, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The line as the function wrote it.
    pub message: String,
}

/// Reads log events through `FilterLogEvents`.
#[derive(Debug, Clone)]
pub struct CloudWatchLogs {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl CloudWatchLogs {
    /// A client from the SDK configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        CloudWatchLogs { client: aws_sdk_cloudwatchlogs::Client::new(config) }
    }

    /// The SDK client, for calls this adapter does not wrap.
    pub fn client(&self) -> &aws_sdk_cloudwatchlogs::Client {
        &self.client
    }

    /// Events of `log_group` in `[start_ms, end_ms)` matching
    /// `filter_pattern`, following pagination for at most `max_pages`
    /// pages. A log group that does not exist yet (a function that never
    /// ran) has no events.
    pub async fn matching_lines(
        &self,
        log_group: &str,
        filter_pattern: &str,
        start_ms: i64,
        end_ms: i64,
        max_pages: usize,
    ) -> Result<Vec<LogLine>, AwsError> {
        let mut lines = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..max_pages {
            let result = self
                .client
                .filter_log_events()
                .log_group_name(log_group)
                .filter_pattern(filter_pattern)
                .start_time(start_ms)
                .end_time(end_ms)
                .set_next_token(next_token.take())
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(error) => {
                    let error = classify("FilterLogEvents", &error);
                    if error.code.as_deref() == Some("ResourceNotFoundException") {
                        return Ok(lines);
                    }
                    return Err(error);
                }
            };
            lines.extend(output.events().iter().map(|e| LogLine {
                timestamp_ms: e.timestamp().unwrap_or_default(),
                message: e.message().unwrap_or_default().to_owned(),
            }));
            match output.next_token() {
                Some(token) if !token.is_empty() && !output.events().is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(lines)
    }
}
