//! alerts: run every five minutes by EventBridge. Over the window since its
//! previous run (the scheduled event's time is "now") it looks for:
//! - ERROR-level JSON log lines in each configured log group (count and up
//!   to three sample messages per function);
//! - messages waiting in the suite's dead-letter queues;
//! - failed delivery-log rows per channel and kind of error, and firings
//!   skipped for lateness;
//! - a scheduler that has not finished a run (`scheduler_runs`) for more than
//!   three minutes;
//! - events whose schedule the scheduler cannot read ("unreadable time zone
//!   or schedule", naming the event ids): not reminded until fixed;
//! - the last 24 hours' email bounce and complaint rates (warning at half
//!   SES's review thresholds, 2.5 % / 0.05 %, critical at them, 5 % / 0.1 %)
//!   and SMS failure rate from delivery receipts (warning 10 %, critical
//!   25 %), each only from 20 sends on (`torium_domain::RATE_MIN_SAMPLE`).
//!
//! Nothing is ever invoked with a fake payload.
//!
//! A condition (kind + function/queue/channel) is posted when it starts,
//! again at most once an hour while it lasts, and once when it clears; the
//! state lives in `alert_conditions`. The state and the run's window are
//! committed only after the webhook accepted the post: a failed post is the
//! function's error (so its own alarm fires) and the next run tells again.

pub mod webhook;

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use torium_aws::{AwsError, CloudWatchLogs, SqsQueue};
use torium_domain::{
    Finding, Notice, Severity, WebhookFormat, delivery_rate_findings, plan_alerts, unreadable_schedules_finding,
    webhook_payload,
};
use torium_runtime::{ConfigError, Env};
use torium_store::{AlertStateUpdate, Store, StoreError, TransactionError};
pub use webhook::{HttpWebhook, Webhook, WebhookError, webhook_url_from_secret};

/// Configuration from the environment the template sets.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// `ALERTS_WEBHOOK_SECRET_ARN`: the secret holding the webhook URL.
    pub webhook_secret_arn: String,
    /// `ALERTS_LOG_GROUPS`: comma-separated log group names.
    pub log_groups: Vec<String>,
    /// `ALERTS_DLQ_URLS`: comma-separated dead-letter queue URLs.
    pub dlq_urls: Vec<String>,
    /// `ALERTS_WEBHOOK_FORMAT`: `discord` (default) or `slack`.
    pub format: WebhookFormat,
    /// A lasting condition is told again after this long (one hour).
    pub repeat_every: TimeDelta,
    /// The scheduler is stalled when its last run finished longer ago (three minutes).
    pub scheduler_stall_after: TimeDelta,
    /// The window of the very first run (five minutes, the schedule's period).
    pub first_window: TimeDelta,
}

fn list(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

impl AlertsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(AlertsConfig {
            webhook_secret_arn: env.required("ALERTS_WEBHOOK_SECRET_ARN")?.to_owned(),
            log_groups: list(env.optional("ALERTS_LOG_GROUPS")),
            dlq_urls: list(env.optional("ALERTS_DLQ_URLS")),
            format: env.parsed_or("ALERTS_WEBHOOK_FORMAT", WebhookFormat::Discord)?,
            repeat_every: TimeDelta::hours(1),
            scheduler_stall_after: TimeDelta::minutes(3),
            first_window: TimeDelta::minutes(5),
        })
    }
}

/// The services the checks read.
pub struct Sources<'a> {
    pub store: &'a Store,
    pub logs: &'a CloudWatchLogs,
    pub sqs: &'a SqsQueue,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error("posting the alerts failed; the next run posts them again: {0}")]
    Webhook(#[from] WebhookError),
}

/// What one run found and told.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertsSummary {
    pub findings: usize,
    pub notices: Vec<Notice>,
}

/// Runs every check for the window ending at `now` and posts what is new.
#[tracing::instrument(skip_all, fields(window_end = %now, window_start = tracing::field::Empty))]
pub async fn run_alerts(
    sources: &Sources<'_>,
    webhook: &impl Webhook,
    config: &AlertsConfig,
    now: DateTime<Utc>,
) -> Result<AlertsSummary, AlertsError> {
    let since = sources.store.previous_alerts_run(now).await?.unwrap_or(now - config.first_window);
    tracing::Span::current().record("window_start", tracing::field::display(since));
    let mut findings = Vec::new();
    findings.extend(function_errors(sources.logs, &config.log_groups, since, now).await);
    findings.extend(dead_letters(sources.sqs, &config.dlq_urls).await);
    findings.extend(delivery_problems(sources.store, since, now).await?);
    findings.extend(scheduler_liveness(sources.store, now, config.scheduler_stall_after).await?);
    findings.extend(schedule_and_rate_problems(sources.store, now).await?);
    let found = findings.len();

    let mut notices = Vec::new();
    sources
        .store
        .with_alert_state(now, |open| {
            let plan = plan_alerts(findings, &open, now, config.repeat_every);
            notices = plan.notices.clone();
            async move {
                if !plan.notices.is_empty() {
                    webhook.post(&webhook_payload(&plan.notices, config.format, now)).await?;
                }
                let mut update = AlertStateUpdate { seen: plan.current, ..Default::default() };
                for notice in &plan.notices {
                    match notice {
                        Notice::Started(f) | Notice::Ongoing(f) => update.posted.push(f.key()),
                        Notice::Resolved { key, .. } => update.resolved.push(key.clone()),
                    }
                }
                Ok::<_, WebhookError>(update)
            }
        })
        .await
        .map_err(|e| match e {
            TransactionError::Store(e) => AlertsError::Database(e),
            TransactionError::Step(e) => AlertsError::Webhook(e),
        })?;
    tracing::info!(findings = found, notices = notices.len(), "alerts run finished");
    Ok(AlertsSummary { findings: found, notices })
}

/// A check that could not run is itself worth telling.
fn check_failed(check: &str, subject: &str, error: &AwsError) -> Finding {
    Finding {
        kind: "check_failed".into(),
        subject: format!("{check}:{subject}"),
        severity: Severity::Warning,
        title: format!("Alerts could not check {check} of {subject}"),
        description: error.to_string(),
    }
}

/// The `message` of a JSON log line whose level is ERROR.
fn error_message(line: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let level = json.get("level").and_then(|l| l.as_str())?;
    if !level.eq_ignore_ascii_case("error") {
        return None;
    }
    let message = ["message", "errorMessage", "msg"].iter().find_map(|k| json.get(k).and_then(|m| m.as_str()));
    Some(message.unwrap_or("(no message)").chars().take(200).collect())
}

async fn function_errors(
    logs: &CloudWatchLogs,
    log_groups: &[String],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for group in log_groups {
        // "ERROR" narrows on the server; the JSON level decides here.
        let lines =
            match logs.matching_lines(group, "ERROR", since.timestamp_millis(), until.timestamp_millis(), 20).await {
                Ok(lines) => lines,
                Err(error) => {
                    tracing::error!(log_group = %group, %error, "reading the log group failed");
                    findings.push(check_failed("logs", group, &error));
                    continue;
                }
            };
        let messages: Vec<String> = lines.iter().filter_map(|l| error_message(&l.message)).collect();
        if messages.is_empty() {
            continue;
        }
        let function = group.rsplit('/').next().unwrap_or(group);
        let samples: Vec<String> = messages.iter().take(3).map(|m| format!("• {m}")).collect();
        findings.push(Finding {
            kind: "function_errors".into(),
            subject: function.to_owned(),
            severity: Severity::Warning,
            title: format!("{function}: {} error(s) logged", messages.len()),
            description: format!("Since {}:\n{}", since.format("%H:%M UTC"), samples.join("\n")),
        });
    }
    findings
}

async fn dead_letters(sqs: &SqsQueue, dlq_urls: &[String]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for url in dlq_urls {
        let queue = url.rsplit('/').next().unwrap_or(url);
        match sqs.depth(url).await {
            Ok(0) => {}
            Ok(count) => findings.push(Finding {
                kind: "dlq_messages".into(),
                subject: queue.to_owned(),
                severity: Severity::Critical,
                title: format!("{queue}: {count} message(s) in the dead-letter queue"),
                description: "Messages that failed every retry are waiting to be inspected and redriven.".into(),
            }),
            Err(error) => {
                tracing::error!(%queue, %error, "reading the queue depth failed");
                findings.push(check_failed("dlq", queue, &error));
            }
        }
    }
    findings
}

async fn delivery_problems(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Finding>, StoreError> {
    let mut per_channel_kind: BTreeMap<(String, String), i64> = BTreeMap::new();
    for row in store.failed_deliveries(since, until).await? {
        *per_channel_kind.entry((row.channel, row.error_kind)).or_default() += row.count;
    }
    let mut findings: Vec<Finding> = per_channel_kind
        .into_iter()
        .map(|((channel, kind), count)| Finding {
            kind: "failed_deliveries".into(),
            subject: format!("{channel}:{kind}"),
            severity: Severity::Warning,
            title: format!("{count} failed {channel} deliveries ({kind})"),
            description: format!("Delivery-log rows marked failed since {}.", since.format("%H:%M UTC")),
        })
        .collect();
    let skipped = store.skipped_firings(since, until).await?;
    if skipped > 0 {
        findings.push(Finding {
            kind: "skipped_reminders".into(),
            subject: String::new(),
            severity: Severity::Warning,
            title: format!("{skipped} reminder firing(s) skipped for lateness"),
            description: "The scheduler reached them later than the lateness bound.".into(),
        });
    }
    Ok(findings)
}

async fn scheduler_liveness(
    store: &Store,
    now: DateTime<Utc>,
    stall_after: TimeDelta,
) -> Result<Option<Finding>, StoreError> {
    let last = store.last_scheduler_run().await?;
    let stalled = last.is_none_or(|finished| now - finished > stall_after);
    Ok(stalled.then(|| Finding {
        kind: "scheduler_stalled".into(),
        subject: String::new(),
        severity: Severity::Critical,
        title: "The scheduler has stopped".into(),
        description: match last {
            Some(finished) => {
                format!("schedule-events last finished a run at {}.", finished.format("%Y-%m-%d %H:%M:%S UTC"))
            }
            None => "schedule-events has never finished a run.".into(),
        },
    }))
}

/// Events whose schedule is unreadable (at most 20 named), and the
/// provider-reported delivery rates of the last 24 hours.
async fn schedule_and_rate_problems(store: &Store, now: DateTime<Utc>) -> Result<Vec<Finding>, StoreError> {
    let (sample, total) = store.unreadable_schedules(20).await?;
    let mut findings: Vec<Finding> = unreadable_schedules_finding(&sample, total).into_iter().collect();
    findings.extend(delivery_rate_findings(&store.delivery_rates(now).await?));
    Ok(findings)
}
