//! delivery-events: what the providers report after they accepted a
//! delivery. One Lambda event is either
//! - an SNS event (`Records[].Sns.Message`, `EventSource` `aws:sns`) from the
//!   SES event topic (Bounce, Complaint, Delivery, Reject, DeliveryDelay,
//!   Rendering Failure) or from the push platform application's event topics
//!   (EndpointUpdated, DeliveryFailure), or
//! - a CloudWatch Logs subscription event (`awslogs.data`, base64 of gzip)
//!   carrying SNS SMS delivery-status log records.
//!
//! Each record is parsed by `torium_domain` and applied by
//! `Store::apply_reports` (status forwards only, suppression, opt-out,
//! forgotten endpoints). A record that cannot be read is logged at ERROR and
//! skipped: retrying it would never help. A database failure, or the
//! deadline, is the invocation's error, so Lambda retries the event (SNS and
//! the logs subscription invoke asynchronously); every report is idempotent,
//! so a crash or a retry after a partial batch applies nothing twice.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use torium_domain::{Report, parse_sms_receipt, parse_sns_message};
use torium_runtime::aws_lambda_events::event::cloudwatch_logs::LogsEvent;
use torium_runtime::{Deadline, DeadlineReached, Measure, Metrics, metrics};
use torium_store::{ReportResult, Store, StoreError};

/// Why an invocation failed (Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryEventsError {
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error(transparent)]
    Deadline(#[from] DeadlineReached),
}

/// What one invocation did: a count per (kind, outcome). Kinds are `ses`,
/// `push`, `sms` (and `sns` / `event` for what could not be read at all);
/// outcomes are the store's (`applied`, `unchanged`, `unknown`, `ignored`)
/// and `malformed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub counts: BTreeMap<String, u32>,
}

impl Summary {
    fn add(&mut self, kind: &str, outcome: &str) {
        *self.counts.entry(format!("{kind}:{outcome}")).or_default() += 1;
    }

    /// How many reports of `kind` had `outcome`.
    pub fn count(&self, kind: &str, outcome: &str) -> u32 {
        self.counts.get(&format!("{kind}:{outcome}")).copied().unwrap_or(0)
    }

    /// How many reports had `outcome`, whatever their kind.
    pub fn total(&self, outcome: &str) -> u32 {
        self.counts.iter().filter(|(key, _)| key.ends_with(&format!(":{outcome}"))).map(|(_, n)| n).sum()
    }

    /// `DeliveryReports` by (Kind, Outcome) and by Outcome.
    pub fn report(&self, metrics: &Metrics) {
        for (key, count) in &self.counts {
            let (kind, outcome) = key.split_once(':').unwrap_or((key, ""));
            metrics.emit(
                &[("Kind", kind), ("Outcome", outcome)],
                &[&["Kind", "Outcome"], &["Outcome"]],
                &[Measure::count(metrics::DELIVERY_REPORTS, &[f64::from(*count)])],
            );
        }
    }
}

/// One record of the event as read at the edge.
enum Decoded {
    Report(Report),
    Malformed { kind: &'static str, error: String },
}

fn malformed(kind: &'static str, error: impl Into<String>) -> Decoded {
    Decoded::Malformed { kind, error: error.into() }
}

/// Handles one invocation's event: every readable report applied in order.
#[tracing::instrument(name = "delivery_events", skip_all)]
pub async fn handle_event(store: &Store, deadline: &Deadline, event: &Value) -> Result<Summary, DeliveryEventsError> {
    let mut summary = Summary::default();
    let mut reports = Vec::new();
    for decoded in decode(event) {
        match decoded {
            Decoded::Report(report) => reports.push(report),
            Decoded::Malformed { kind, error } => {
                tracing::error!(kind, error = %error, "unreadable provider record skipped (never retried)");
                summary.add(kind, "malformed");
            }
        }
    }
    let results = deadline.bound(store.apply_reports(&reports)).await??;
    for (report, result) in reports.iter().zip(results) {
        log_result(report, result);
        summary.add(report.source().as_str(), result.as_str());
    }
    tracing::info!(
        applied = summary.total("applied"),
        unchanged = summary.total("unchanged"),
        unknown = summary.total("unknown"),
        ignored = summary.total("ignored"),
        malformed = summary.total("malformed"),
        "provider reports handled"
    );
    Ok(summary)
}

fn log_result(report: &Report, result: ReportResult) {
    let kind = report.source().as_str();
    match (report, result) {
        (Report::Delivery(d), ReportResult::UnknownMessage) => {
            tracing::info!(kind, message_id = %d.message_id, "report for a message we never sent; acknowledged");
        }
        (Report::Ignored { what, .. }, _) => tracing::debug!(kind, what = %what, "report ignored"),
        (Report::Delivery(d), _) => {
            tracing::debug!(kind, message_id = %d.message_id, result = result.as_str(), "report handled");
        }
        (Report::EndpointDisabled { .. }, _) => {
            tracing::info!(kind, result = result.as_str(), "disabled push endpoint handled");
        }
    }
}

/// The event's records, by its shape.
fn decode(event: &Value) -> Vec<Decoded> {
    if event.get("awslogs").is_some() {
        return decode_logs(event);
    }
    match event.get("Records").and_then(Value::as_array) {
        Some(records) => records.iter().map(decode_sns_record).collect(),
        None => vec![malformed(
            "event",
            "neither an SNS event (Records) nor a CloudWatch Logs subscription event (awslogs)",
        )],
    }
}

fn decode_sns_record(record: &Value) -> Decoded {
    if record.get("EventSource").and_then(Value::as_str) != Some("aws:sns") {
        return malformed("sns", "record's EventSource is not aws:sns");
    }
    match record.pointer("/Sns/Message").and_then(Value::as_str) {
        None => malformed("sns", "record has no Sns.Message string"),
        Some(message) => match parse_sns_message(message) {
            Ok(report) => Decoded::Report(report),
            Err(e) => malformed("sns", e.to_string()),
        },
    }
}

/// The subscription's payload is decoded (base64, gzip, JSON) by
/// `aws_lambda_events`; each log event's message is one SMS receipt. The
/// control message CloudWatch Logs sends when the subscription is created
/// carries no receipts.
fn decode_logs(event: &Value) -> Vec<Decoded> {
    let logs = match LogsEvent::deserialize(event) {
        Ok(logs) => logs,
        // The decoder's message may quote the payload (numbers): not logged.
        Err(_) => {
            return vec![malformed("sms", "CloudWatch Logs payload is not base64 of gzip of the subscription JSON")];
        }
    };
    let data = &logs.aws_logs.data;
    if data.message_type != "DATA_MESSAGE" {
        return Vec::new();
    }
    data.log_events
        .iter()
        .map(|entry| match parse_sms_receipt(&entry.message) {
            Ok(report) => Decoded::Report(report),
            Err(e) => malformed("sms", e.to_string()),
        })
        .collect()
}
