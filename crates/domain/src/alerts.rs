//! What the alerts function decides: which conditions to tell the team
//! about this run (started, still going after the repeat interval, cleared)
//! and the chat message that says so, in Discord's or Slack's format; and
//! the findings that are pure arithmetic on what the database counted
//! (provider-reported delivery rates, events whose schedule is unreadable).

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// How urgent a finding is; notices are ordered most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look while there is time to act (orange).
    Warning,
    /// Needs action now (red).
    Critical,
}

/// Something wrong found by this run's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `function_errors`, `dlq_messages`, `failed_deliveries`, `skipped_reminders`, `scheduler_stalled`,
    /// `unreadable_schedules`, `email_bounce_rate`, `email_complaint_rate`, `sms_failure_rate`.
    pub kind: String,
    /// The function, queue or channel it is about ("" when there is one of a kind).
    pub subject: String,
    /// How urgent it is.
    pub severity: Severity,
    /// The chat message's one-line heading.
    pub title: String,
    /// The details under it: counts, ids, what to do.
    pub description: String,
}

impl Finding {
    /// The condition this finding belongs to: same kind, same subject.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.subject)
    }
}

/// A condition told about before and not cleared yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCondition {
    /// The condition's [`Finding::key`].
    pub key: String,
    /// The title it was last told with (a resolved notice repeats it).
    pub title: String,
    /// When the chat was last told about it.
    pub last_posted_at: DateTime<Utc>,
}

/// One line of this run's chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A condition not open before.
    Started(Finding),
    /// An open condition, told again after the repeat interval.
    Ongoing(Finding),
    /// An open condition no check found this run.
    Resolved {
        /// The condition's key.
        key: String,
        /// The title it was told with.
        title: String,
    },
}

impl Notice {
    /// The condition the notice is about.
    pub fn key(&self) -> String {
        match self {
            Notice::Started(f) | Notice::Ongoing(f) => f.key(),
            Notice::Resolved { key, .. } => key.clone(),
        }
    }
}

/// This run's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertPlan {
    /// What the message tells, most severe first; empty: post nothing.
    pub notices: Vec<Notice>,
    /// Every current finding (its condition stays open).
    pub current: Vec<Finding>,
}

/// A new condition is told at once, a lasting one again once `repeat_every`
/// has passed since it was last told, a cleared one once.
pub fn plan_alerts(
    findings: Vec<Finding>,
    open: &[OpenCondition],
    now: DateTime<Utc>,
    repeat_every: TimeDelta,
) -> AlertPlan {
    let open_by_key: HashMap<&str, &OpenCondition> = open.iter().map(|c| (c.key.as_str(), c)).collect();
    let current_keys: HashSet<String> = findings.iter().map(Finding::key).collect();
    let mut notices = Vec::new();
    for finding in &findings {
        match open_by_key.get(finding.key().as_str()) {
            None => notices.push(Notice::Started(finding.clone())),
            Some(c) if now - c.last_posted_at >= repeat_every => notices.push(Notice::Ongoing(finding.clone())),
            Some(_) => {}
        }
    }
    for condition in open.iter().filter(|c| !current_keys.contains(&c.key)) {
        notices.push(Notice::Resolved { key: condition.key.clone(), title: condition.title.clone() });
    }
    notices.sort_by_key(|n| match n {
        Notice::Started(f) | Notice::Ongoing(f) => (std::cmp::Reverse(Some(f.severity)), n.key()),
        Notice::Resolved { .. } => (std::cmp::Reverse(None), n.key()),
    });
    AlertPlan { notices, current: findings }
}

/// Provider-reported outcomes of reminder deliveries over the last
/// [`RATE_WINDOW`], as counted in `event_reminders_logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryRates {
    /// Emails sent in the window (sent, delivered, bounced, complained, rejected).
    pub emails_sent: i64,
    /// Of those, the ones SES reported bounced.
    pub emails_bounced: i64,
    /// Of those, the ones whose receiver complained.
    pub emails_complained: i64,
    /// SMS with a delivery receipt in the window (delivered or failed).
    pub sms_reported: i64,
    /// Of those, the ones the receipt says failed.
    pub sms_failed: i64,
}

/// The window the delivery rates are counted over.
pub const RATE_WINDOW: TimeDelta = TimeDelta::hours(24);
/// Fewer sends than this in the window make no rate finding: two bounces
/// of ten emails say nothing about the account.
pub const RATE_MIN_SAMPLE: i64 = 20;

/// A rate told at two levels: a warning while there is time to act, and
/// critical where the provider acts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateRule {
    pub kind: &'static str,
    pub what: &'static str,
    pub warning: f64,
    pub critical: f64,
    pub why: &'static str,
}

/// SES reviews an account at a 5 % bounce rate: warned at half of it.
pub(crate) const EMAIL_BOUNCE_RULE: RateRule = RateRule {
    kind: "email_bounce_rate",
    what: "Email bounce rate",
    warning: 0.025,
    critical: 0.05,
    why: "SES puts the account under review at 5 % bounces (and may pause sending past 10 %).",
};
/// SES reviews an account at a 0.1 % complaint rate: warned at half of it.
pub(crate) const EMAIL_COMPLAINT_RULE: RateRule = RateRule {
    kind: "email_complaint_rate",
    what: "Email complaint rate",
    warning: 0.0005,
    critical: 0.001,
    why: "SES puts the account under review at 0.1 % complaints (and may pause sending past 0.5 %).",
};
/// SMS receipts that say failed: carriers filtering us, bad numbers, spend
/// limits. Warned at 10 %, critical at 25 % (a quarter of texts lost).
pub(crate) const SMS_FAILURE_RULE: RateRule = RateRule {
    kind: "sms_failure_rate",
    what: "SMS failure rate",
    warning: 0.10,
    critical: 0.25,
    why: "Delivery receipts report these texts as not delivered (carrier filtering, unreachable numbers, spend limit).",
};

/// One finding per level a rate reached (subject `warning` / `critical`),
/// so reaching the critical level is told at once even while the warning
/// is open; none under [`RATE_MIN_SAMPLE`].
pub(crate) fn rate_findings(rule: &RateRule, count: i64, total: i64) -> Vec<Finding> {
    if total < RATE_MIN_SAMPLE {
        return Vec::new();
    }
    let rate = count as f64 / total as f64;
    [(Severity::Warning, "warning", rule.warning), (Severity::Critical, "critical", rule.critical)]
        .into_iter()
        .filter(|&(_, _, threshold)| rate >= threshold)
        .map(|(severity, level, threshold)| Finding {
            kind: rule.kind.into(),
            subject: level.into(),
            severity,
            title: format!("{} {} over 24 h (≥ {})", rule.what, percent(rate), percent(threshold)),
            description: format!("{count} of {total} in the last 24 hours. {}", rule.why),
        })
        .collect()
}

/// Every rate finding of the window's counts.
pub fn delivery_rate_findings(rates: &DeliveryRates) -> Vec<Finding> {
    let mut findings = rate_findings(&EMAIL_BOUNCE_RULE, rates.emails_bounced, rates.emails_sent);
    findings.extend(rate_findings(&EMAIL_COMPLAINT_RULE, rates.emails_complained, rates.emails_sent));
    findings.extend(rate_findings(&SMS_FAILURE_RULE, rates.sms_failed, rates.sms_reported));
    findings
}

fn percent(rate: f64) -> String {
    let text = format!("{:.2}", rate * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} %")
}

/// An event the scheduler could not read the schedule of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableSchedule {
    /// `events.id`.
    pub event_id: i64,
    /// `events.time_zone` as stored.
    pub time_zone: String,
    /// Why it cannot be read (`events.schedule_error`).
    pub error: String,
}

/// One condition for every event whose schedule is unreadable (its
/// reminders are not sent until the schedule is fixed): `total` of them,
/// `sample` the first few by id.
pub fn unreadable_schedules_finding(sample: &[UnreadableSchedule], total: i64) -> Option<Finding> {
    if total == 0 {
        return None;
    }
    let ids: Vec<String> = sample.iter().map(|e| e.event_id.to_string()).collect();
    let lines: Vec<String> =
        sample.iter().map(|e| format!("• event {} (time zone {:?}): {}", e.event_id, e.time_zone, e.error)).collect();
    let more = if total > sample.len() as i64 {
        format!("\n…and {} more", total - sample.len() as i64)
    } else {
        String::new()
    };
    Some(Finding {
        kind: "unreadable_schedules".into(),
        subject: String::new(),
        severity: Severity::Critical,
        title: format!("Unreadable time zone or schedule: {total} event(s) not reminded ({})", ids.join(", ")),
        description: format!(
            "The scheduler cannot read these events' schedules, so their members get no reminder. \
             Fixing the event's time_zone or schedule makes it fire again.\n{}{more}",
            lines.join("\n")
        ),
    })
}

/// The chat webhook's payload shape (`ALERTS_WEBHOOK_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Discord: `embeds`, at most ten.
    Discord,
    /// Slack: `attachments`.
    Slack,
}

impl std::str::FromStr for WebhookFormat {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "discord" => Ok(WebhookFormat::Discord),
            "slack" => Ok(WebhookFormat::Slack),
            other => Err(format!("{other:?} is not discord or slack")),
        }
    }
}

const RED: u32 = 0xE7_4C_3C;
const ORANGE: u32 = 0xE6_7E_22;
const GREEN: u32 = 0x2E_CC_71;
/// Discord takes at most ten embeds per message.
const MAX_EMBEDS: usize = 10;
const MAX_DESCRIPTION_CHARS: usize = 1500;

/// (title, description, colour) of one notice.
fn render(notice: &Notice) -> (String, String, u32) {
    let colour = |f: &Finding| if f.severity == Severity::Critical { RED } else { ORANGE };
    match notice {
        Notice::Started(f) => (format!("🔴 {}", f.title), f.description.clone(), colour(f)),
        Notice::Ongoing(f) => (format!("🔁 Still: {}", f.title), f.description.clone(), colour(f)),
        Notice::Resolved { title, .. } => {
            (format!("✅ Resolved: {title}"), "Not seen in this check.".to_owned(), GREEN)
        }
    }
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_DESCRIPTION_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The webhook body for this run's notices (never called with none).
pub fn webhook_payload(notices: &[Notice], format: WebhookFormat, now: DateTime<Utc>) -> Value {
    let mut rendered: Vec<(String, String, u32)> = notices.iter().map(render).collect();
    if rendered.len() > MAX_EMBEDS {
        let rest = rendered.split_off(MAX_EMBEDS - 1);
        let titles: Vec<String> = rest.iter().map(|(t, _, _)| t.clone()).collect();
        rendered.push((format!("…and {} more", rest.len()), titles.join("\n"), ORANGE));
    }
    let summary = format!("Torium alerts: {} notice(s) at {}", notices.len(), now.format("%Y-%m-%d %H:%M UTC"));
    match format {
        WebhookFormat::Discord => json!({
            "username": "Torium alerts",
            "content": summary,
            "embeds": rendered.iter().map(|(title, description, colour)| json!({
                "title": title,
                "description": clip(description),
                "color": colour,
                "timestamp": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            })).collect::<Vec<_>>(),
        }),
        WebhookFormat::Slack => json!({
            "text": summary,
            "attachments": rendered.iter().map(|(title, description, colour)| json!({
                "color": format!("#{colour:06x}"),
                "title": title,
                "text": clip(description),
                "ts": now.timestamp(),
            })).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;

    fn finding(kind: &str, subject: &str, severity: Severity) -> Finding {
        Finding {
            kind: kind.into(),
            subject: subject.into(),
            severity,
            title: format!("{kind} {subject}"),
            description: "details".into(),
        }
    }

    fn open(key: &str, last_posted_at: &str) -> OpenCondition {
        OpenCondition { key: key.into(), title: format!("title of {key}"), last_posted_at: utc(last_posted_at) }
    }

    const HOUR: TimeDelta = TimeDelta::hours(1);

    #[test]
    fn new_conditions_start_and_lasting_ones_repeat_hourly_and_cleared_ones_resolve() {
        let now = utc("2026-11-24T12:00:00Z");
        let findings = vec![
            finding("dlq_messages", "send-sms-dlq.fifo", Severity::Critical),
            finding("function_errors", "send-email", Severity::Warning),
            finding("failed_deliveries", "push:EndpointDisabled", Severity::Warning),
        ];
        let open_conditions = [
            open("function_errors:send-email", "2026-11-24T11:30:00Z"),
            open("failed_deliveries:push:EndpointDisabled", "2026-11-24T11:00:00Z"),
            open("scheduler_stalled:", "2026-11-24T11:55:00Z"),
        ];
        let plan = plan_alerts(findings.clone(), &open_conditions, now, HOUR);
        let keys: Vec<(String, &str)> = plan
            .notices
            .iter()
            .map(|n| {
                let what = match n {
                    Notice::Started(_) => "started",
                    Notice::Ongoing(_) => "ongoing",
                    Notice::Resolved { .. } => "resolved",
                };
                (n.key(), what)
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("dlq_messages:send-sms-dlq.fifo".into(), "started"),
                ("failed_deliveries:push:EndpointDisabled".into(), "ongoing"),
                ("scheduler_stalled:".into(), "resolved"),
            ]
        );
        assert_eq!(plan.current, findings);
    }

    #[test]
    fn nothing_new_nothing_to_say() {
        let now = utc("2026-11-24T12:00:00Z");
        let plan = plan_alerts(
            vec![finding("function_errors", "send-email", Severity::Warning)],
            &[open("function_errors:send-email", "2026-11-24T11:05:00Z")],
            now,
            HOUR,
        );
        assert!(plan.notices.is_empty());
        assert!(plan_alerts(Vec::new(), &[], now, HOUR).notices.is_empty());
    }

    #[test]
    fn discord_payload_has_embeds_with_colours_and_slack_attachments() {
        let now = utc("2026-11-24T12:00:00Z");
        let notices = vec![
            Notice::Started(finding("dlq_messages", "q", Severity::Critical)),
            Notice::Resolved { key: "scheduler_stalled:".into(), title: "Scheduler stalled".into() },
        ];
        let discord = webhook_payload(&notices, WebhookFormat::Discord, now);
        assert_eq!(discord["embeds"][0]["title"], "🔴 dlq_messages q");
        assert_eq!(discord["embeds"][0]["color"], RED);
        assert_eq!(discord["embeds"][1]["title"], "✅ Resolved: Scheduler stalled");
        assert_eq!(discord["embeds"][1]["color"], GREEN);
        assert_eq!(discord["embeds"][1]["timestamp"], "2026-11-24T12:00:00Z");
        let slack = webhook_payload(&notices, WebhookFormat::Slack, now);
        assert_eq!(slack["attachments"][0]["color"], "#e74c3c");
        assert!(slack["text"].as_str().unwrap().starts_with("Torium alerts: 2 notice(s)"));
    }

    #[test]
    fn rates_warn_at_half_the_ses_thresholds_and_are_critical_at_them() {
        let levels =
            |rates: DeliveryRates| -> Vec<String> { delivery_rate_findings(&rates).iter().map(Finding::key).collect() };
        let emails = |sent, bounced, complained| DeliveryRates {
            emails_sent: sent,
            emails_bounced: bounced,
            emails_complained: complained,
            ..Default::default()
        };
        assert!(levels(emails(1000, 24, 0)).is_empty());
        assert_eq!(levels(emails(1000, 25, 0)), ["email_bounce_rate:warning"]);
        assert_eq!(levels(emails(1000, 50, 0)), ["email_bounce_rate:warning", "email_bounce_rate:critical"]);
        assert!(levels(emails(10_000, 0, 4)).is_empty());
        assert_eq!(levels(emails(10_000, 0, 5)), ["email_complaint_rate:warning"]);
        assert_eq!(levels(emails(10_000, 0, 10)), ["email_complaint_rate:warning", "email_complaint_rate:critical"]);
        let sms = |reported, failed| DeliveryRates { sms_reported: reported, sms_failed: failed, ..Default::default() };
        assert!(levels(sms(100, 9)).is_empty());
        assert_eq!(levels(sms(100, 10)), ["sms_failure_rate:warning"]);
        assert_eq!(levels(sms(100, 25)), ["sms_failure_rate:warning", "sms_failure_rate:critical"]);
    }

    #[test]
    fn small_samples_make_no_rate_finding() {
        let rates = DeliveryRates {
            emails_sent: 19,
            emails_bounced: 19,
            sms_reported: 19,
            sms_failed: 19,
            ..Default::default()
        };
        assert!(delivery_rate_findings(&rates).is_empty());
        let rates = DeliveryRates { emails_sent: 20, emails_bounced: 1, ..Default::default() };
        let findings = delivery_rate_findings(&rates);
        assert_eq!(findings[0].title, "Email bounce rate 5 % over 24 h (≥ 2.5 %)");
        assert_eq!(findings[1].severity, Severity::Critical);
        assert!(findings[1].description.starts_with("1 of 20 in the last 24 hours."));
    }

    #[test]
    fn unreadable_schedules_are_one_condition_naming_the_events() {
        assert_eq!(unreadable_schedules_finding(&[], 0), None);
        let sample = [UnreadableSchedule {
            event_id: 42,
            time_zone: "europe/warsaw".into(),
            error: "\"europe/warsaw\" is not a known IANA time zone".into(),
        }];
        let finding = unreadable_schedules_finding(&sample, 3).unwrap();
        assert_eq!(finding.key(), "unreadable_schedules:");
        assert_eq!(finding.severity, Severity::Critical);
        assert!(finding.title.starts_with("Unreadable time zone or schedule: 3 event(s)"), "{}", finding.title);
        assert!(finding.title.contains("(42)"));
        assert!(finding.description.contains("event 42 (time zone \"europe/warsaw\")"));
        assert!(finding.description.ends_with("…and 2 more"));
    }

    #[test]
    fn more_than_ten_notices_fold_into_the_last_embed() {
        let notices: Vec<Notice> =
            (0..14).map(|i| Notice::Started(finding("dlq_messages", &format!("q{i}"), Severity::Critical))).collect();
        let discord = webhook_payload(&notices, WebhookFormat::Discord, utc("2026-11-24T12:00:00Z"));
        let embeds = discord["embeds"].as_array().unwrap();
        assert_eq!(embeds.len(), 10);
        assert_eq!(embeds[9]["title"], "…and 5 more");
    }
}
