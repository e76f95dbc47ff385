//! What the alerts function decides: which conditions to tell the team
//! about this run (started, still going after the repeat interval, cleared)
//! and the chat message that says so, in Discord's or Slack's format.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

/// Something wrong found by this run's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `function_errors`, `dlq_messages`, `failed_deliveries`, `skipped_reminders`, `scheduler_stalled`.
    pub kind: String,
    /// The function, queue or channel it is about ("" when there is one of a kind).
    pub subject: String,
    pub severity: Severity,
    pub title: String,
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
    pub key: String,
    pub title: String,
    pub last_posted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Started(Finding),
    Ongoing(Finding),
    Resolved { key: String, title: String },
}

impl Notice {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Discord,
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

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

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
        OpenCondition { key: key.into(), title: format!("title of {key}"), last_posted_at: at(last_posted_at) }
    }

    const HOUR: TimeDelta = TimeDelta::hours(1);

    #[test]
    fn new_conditions_start_and_lasting_ones_repeat_hourly_and_cleared_ones_resolve() {
        let now = at("2026-11-24T12:00:00Z");
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
        let now = at("2026-11-24T12:00:00Z");
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
        let now = at("2026-11-24T12:00:00Z");
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
    fn more_than_ten_notices_fold_into_the_last_embed() {
        let notices: Vec<Notice> =
            (0..14).map(|i| Notice::Started(finding("dlq_messages", &format!("q{i}"), Severity::Critical))).collect();
        let discord = webhook_payload(&notices, WebhookFormat::Discord, at("2026-11-24T12:00:00Z"));
        let embeds = discord["embeds"].as_array().unwrap();
        assert_eq!(embeds.len(), 10);
        assert_eq!(embeds[9]["title"], "…and 5 more");
    }
}
