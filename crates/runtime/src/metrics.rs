//! Metrics in CloudWatch Embedded Metric Format (EMF): each record is one
//! JSON line on stdout with an `_aws` key naming the namespace, the
//! dimension sets and the metrics with their units; CloudWatch Logs turns
//! it into metrics. No API call, no added latency, nothing lost but the
//! line itself if the process dies.
//!
//! Dimensions are low-cardinality only (function, channel, outcome): never
//! user, event or message ids. Every metric name is a constant here; the
//! template test checks that the dashboard and alarms name only these.

use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// The namespace unless `METRICS_NAMESPACE` says otherwise.
pub(crate) const DEFAULT_NAMESPACE: &str = "Torium";

/// Deliveries by channel and outcome (`sent`, `failed`, `already_sent`,
/// `skipped`, `unknown`, `set_aside`, `returned`).
pub const DELIVERIES: &str = "Deliveries";
/// Provider accept time minus the reminder's trigger time, per delivery.
pub const DELIVERY_LATENESS: &str = "DeliveryLateness";
/// Members one fan-out invocation enqueued.
pub const FAN_OUT_MEMBERS: &str = "FanOutMembers";
/// `SendMessageBatch` calls one fan-out invocation made.
pub const FAN_OUT_SQS_CALLS: &str = "FanOutSqsCalls";
/// Member pages one fan-out invocation read.
pub const FAN_OUT_PAGES: &str = "FanOutPages";
/// Messages a batch returned to SQS, and poison messages set aside.
pub(crate) const BATCH_ITEM_FAILURES: &str = "BatchItemFailures";
pub(crate) const POISON_MESSAGES: &str = "PoisonMessages";
/// Due events one scheduler run claimed.
pub const SCHEDULER_CLAIMED: &str = "SchedulerClaimed";
/// Firings one scheduler run enqueued.
pub const SCHEDULER_ENQUEUED: &str = "SchedulerEnqueued";
/// Firings one scheduler run recorded as skipped (not sent).
pub const SCHEDULER_SKIPPED: &str = "SchedulerSkipped";
/// How long one scheduler run's claiming took, in milliseconds.
pub const SCHEDULER_CLAIM_DURATION: &str = "SchedulerClaimDuration";
/// Scheduler runs finished (its liveness).
pub const SCHEDULER_RUNS: &str = "SchedulerRuns";
/// Notices the alerts function posted.
pub const ALERTS_POSTED: &str = "AlertsPosted";
/// Provider reports delivery-events handled, by kind (`ses`, `push`, `sms`)
/// and outcome (`applied`, `unchanged`, `unknown`, `ignored`, `malformed`).
pub const DELIVERY_REPORTS: &str = "DeliveryReports";
/// Cold starts and how long each took (process start to ready).
pub(crate) const COLD_STARTS: &str = "ColdStarts";
pub(crate) const COLD_START_DURATION: &str = "ColdStartDuration";

/// Every metric the code emits.
pub const ALL: &[&str] = &[
    DELIVERIES,
    DELIVERY_LATENESS,
    FAN_OUT_MEMBERS,
    FAN_OUT_SQS_CALLS,
    FAN_OUT_PAGES,
    BATCH_ITEM_FAILURES,
    POISON_MESSAGES,
    SCHEDULER_CLAIMED,
    SCHEDULER_ENQUEUED,
    SCHEDULER_SKIPPED,
    SCHEDULER_CLAIM_DURATION,
    SCHEDULER_RUNS,
    ALERTS_POSTED,
    DELIVERY_REPORTS,
    COLD_STARTS,
    COLD_START_DURATION,
];

/// An EMF unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Things counted.
    Count,
    /// Durations in milliseconds.
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric of a record: its name, unit and values (EMF takes up to 100
/// values of one metric in a record).
#[derive(Debug, Clone, PartialEq)]
pub struct Measure<'a> {
    /// The metric's name (one of this module's constants).
    pub name: &'static str,
    /// What the values count.
    pub unit: Unit,
    /// The values this record carries.
    pub values: &'a [f64],
}

impl<'a> Measure<'a> {
    /// Counts of `name`.
    pub fn count(name: &'static str, value: &'a [f64]) -> Self {
        Measure { name, unit: Unit::Count, values: value }
    }

    /// Durations of `name`, in milliseconds.
    pub fn millis(name: &'static str, values: &'a [f64]) -> Self {
        Measure { name, unit: Unit::Milliseconds, values }
    }
}

/// Where records go: stdout, or memory (tests).
#[derive(Debug, Clone)]
enum Sink {
    Stdout,
    Memory(Arc<Mutex<Vec<String>>>),
}

/// The emitter every function builds once: its namespace and function name.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    function: String,
    sink: Sink,
}

impl Metrics {
    /// Records to stdout under `namespace`, dimensioned by `function`.
    pub fn new(namespace: &str, function: &str) -> Self {
        Metrics { namespace: namespace.to_owned(), function: function.to_owned(), sink: Sink::Stdout }
    }

    /// Records kept in memory, for tests; returns the emitter and the lines.
    pub fn in_memory(function: &str) -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Metrics {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            function: function.to_owned(),
            sink: Sink::Memory(lines.clone()),
        };
        (metrics, lines)
    }

    /// One EMF record: every measure under each of `sets` (lists of
    /// dimension names among `Function` and `dimensions`; an empty list is
    /// the metric across the whole namespace, which alarms use).
    pub fn emit(&self, dimensions: &[(&str, &str)], sets: &[&[&str]], measures: &[Measure<'_>]) {
        let measures: Vec<&Measure> = measures.iter().filter(|m| !m.values.is_empty()).collect();
        if measures.is_empty() {
            return;
        }
        let line = self.record(chrono::Utc::now().timestamp_millis(), dimensions, sets, &measures);
        match &self.sink {
            Sink::Stdout => println!("{line}"),
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).push(line),
        }
    }

    fn record(
        &self,
        timestamp_ms: i64,
        dimensions: &[(&str, &str)],
        sets: &[&[&str]],
        measures: &[&Measure],
    ) -> String {
        let dimension_sets: Vec<&[&str]> = sets.to_vec();
        let definitions: Vec<Value> =
            measures.iter().map(|m| json!({ "Name": m.name, "Unit": m.unit.as_str() })).collect();
        let mut record = Map::new();
        record.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimension_sets,
                    "Metrics": definitions,
                }],
            }),
        );
        record.insert("Function".to_owned(), json!(self.function));
        for (name, value) in dimensions {
            record.insert((*name).to_owned(), json!(value));
        }
        for m in measures {
            let value = if m.values.len() == 1 {
                json!(m.values[0])
            } else {
                json!(m.values.iter().take(100).collect::<Vec<_>>())
            };
            record.insert(m.name.to_owned(), value);
        }
        Value::Object(record).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_follows_the_embedded_metric_format() {
        let (metrics, lines) = Metrics::in_memory("send-sms");
        metrics.emit(
            &[("Channel", "sms"), ("Outcome", "sent")],
            &[&["Function", "Channel", "Outcome"], &["Outcome"]],
            &[Measure::count(DELIVERIES, &[3.0]), Measure::millis(DELIVERY_LATENESS, &[120.0, 340.0, 90.0])],
        );
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        let record: Value = serde_json::from_str(&lines[0]).unwrap();
        let aws = &record["_aws"];
        assert!(aws["Timestamp"].as_i64().unwrap() > 1_700_000_000_000, "epoch milliseconds");
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Torium");
        assert_eq!(directive["Dimensions"], json!([["Function", "Channel", "Outcome"], ["Outcome"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Deliveries", "Unit": "Count"}, {"Name": "DeliveryLateness", "Unit": "Milliseconds"}])
        );
        // Every dimension named and every metric defined has its value at the top level.
        assert_eq!(record["Function"], "send-sms");
        assert_eq!(record["Channel"], "sms");
        assert_eq!(record["Outcome"], "sent");
        assert_eq!(record["Deliveries"], 3.0);
        assert_eq!(record["DeliveryLateness"], json!([120.0, 340.0, 90.0]));
    }

    #[test]
    fn nothing_to_measure_writes_nothing() {
        let (metrics, lines) = Metrics::in_memory("alerts");
        metrics.emit(&[], &[&[]], &[Measure::millis(DELIVERY_LATENESS, &[])]);
        assert!(lines.lock().unwrap().is_empty());
    }

    #[test]
    fn an_empty_dimension_set_is_the_metric_across_the_namespace() {
        let (metrics, lines) = Metrics::in_memory("schedule-events");
        metrics.emit(&[], &[&[]], &[Measure::count(SCHEDULER_RUNS, &[1.0])]);
        let record: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
        assert_eq!(record["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
    }
}
