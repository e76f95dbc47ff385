//! Provider reports applied to the delivery logs and the users: a row of
//! `event_reminders_logs` or `events_comments_logs` is found by the
//! provider's message id and moves forwards only (the domain's
//! [`DeliveryStatus::rank`], written into the statement from the domain so
//! the two cannot disagree); a permanent bounce or a complaint suppresses
//! the user's address if it is still the one that bounced; an opted-out SMS
//! receipt flags the number; a disabled push endpoint is forgotten.
//!
//! One statement per report, each idempotent: applying a report again (a
//! retried invocation, SNS delivering twice) changes nothing, so a crash
//! half-way through a batch leaves the reports before it applied and the
//! retry applies the rest.

use crate::{Store, StoreError};
use std::sync::LazyLock;
use tokio_postgres::Client;
use torium_domain::{DeliveryReport, DeliveryStatus, Report, ReportedUserEffect};

/// What one report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportResult {
    /// A row or a user changed.
    Applied,
    /// Found, but already at or past what it says: nothing changed.
    Unchanged,
    /// No delivery row has that provider message id.
    UnknownMessage,
    /// The report says nothing to apply (an SES `Send`, a push endpoint created).
    Ignored,
}

impl ReportResult {
    /// Its spelling in log lines and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportResult::Applied => "applied",
            ReportResult::Unchanged => "unchanged",
            ReportResult::UnknownMessage => "unknown",
            ReportResult::Ignored => "ignored",
        }
    }
}

/// `CASE <column> WHEN 'pending' THEN 0 … END`: the domain's rank of every
/// status; NULL for a value the domain does not know (an adopted row's).
fn rank_of(column: &str) -> String {
    let arms: String =
        DeliveryStatus::ALL.iter().map(|s| format!(" WHEN '{}' THEN {}", s.as_str(), s.rank())).collect();
    format!("(CASE {column}{arms} END)")
}

/// The log row update of one delivery report, for `table`.
fn log_update(table: &str) -> String {
    format!(
        "UPDATE {table} l SET status = $2::text, last_error = coalesce($4::text, l.last_error), \
             reported_at = now(), updated_at = now() \
         WHERE l.provider_message_id = $1 AND NOT l.adopted AND {} < $3::int \
         RETURNING 1",
        rank_of("l.status")
    )
}

/// $1 message id, $2 new status (NULL: none), $3 its rank, $4 last error,
/// $5 suppression reason (NULL: none), $6 lowercased recipients whose
/// address is suppressed, $7 the number opted out.
static DELIVERY_REPORT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH found AS ( \
             SELECT user_id FROM event_reminders_logs WHERE provider_message_id = $1 \
             UNION ALL \
             SELECT user_id FROM events_comments_logs WHERE provider_message_id = $1 \
         ), reminders AS ({}), comments AS ({}), \
         suppressed AS ( \
             UPDATE users u SET email_suppressed_at = now(), email_suppression_reason = $5::text, updated_at = now() \
             WHERE u.id IN (SELECT user_id FROM found) AND $5::text IS NOT NULL AND u.email_suppressed_at IS NULL \
               AND lower(u.email) = ANY($6::text[]) \
             RETURNING 1 \
         ), opted_out AS ( \
             UPDATE users u SET sms_opted_out = true, sms_opted_out_at = now(), updated_at = now() \
             WHERE u.id IN (SELECT user_id FROM found) AND $7::boolean AND NOT u.sms_opted_out \
             RETURNING 1 \
         ) \
         SELECT (SELECT count(*) FROM found) AS found, \
                (SELECT count(*) FROM reminders) + (SELECT count(*) FROM comments) \
                + (SELECT count(*) FROM suppressed) + (SELECT count(*) FROM opted_out) AS changed",
        log_update("event_reminders_logs"),
        log_update("events_comments_logs")
    )
});

impl Store {
    /// Applies each report in order (a later report about the same message
    /// sees the earlier one's effect) and says what each did.
    pub async fn apply_reports(&self, reports: &[Report]) -> Result<Vec<ReportResult>, StoreError> {
        let client = self.pool.get().await?;
        let mut results = Vec::with_capacity(reports.len());
        for report in reports {
            results.push(match report {
                Report::Delivery(delivery) => apply_delivery_report(&client, delivery).await?,
                Report::EndpointDisabled { endpoint_arn } => forget_endpoint(&client, endpoint_arn).await?,
                Report::Ignored { .. } => ReportResult::Ignored,
            });
        }
        Ok(results)
    }
}

async fn apply_delivery_report(client: &Client, report: &DeliveryReport) -> Result<ReportResult, StoreError> {
    let status = report.outcome.status();
    let rank = status.map(|s| i32::from(s.rank()));
    let (reason, recipients, opted_out) = match report.outcome.user_effect() {
        Some(ReportedUserEffect::SuppressEmail { recipients, reason }) => (Some(reason), recipients, false),
        Some(ReportedUserEffect::SmsOptedOut) => (None, Vec::new(), true),
        None => (None, Vec::new(), false),
    };
    let row = client
        .query_one(
            DELIVERY_REPORT_SQL.as_str(),
            &[
                &report.message_id,
                &status.map(DeliveryStatus::as_str),
                &rank,
                &report.outcome.last_error(),
                &reason,
                &recipients,
                &opted_out,
            ],
        )
        .await?;
    let (found, changed): (i64, i64) = (row.get("found"), row.get("changed"));
    Ok(match (found, changed) {
        (0, _) => ReportResult::UnknownMessage,
        (_, 0) => ReportResult::Unchanged,
        _ => ReportResult::Applied,
    })
}

/// SNS disabled the endpoint: whoever still has it loses it (the next
/// reminder falls back to another channel). Keyed by the endpoint, not by a
/// message.
async fn forget_endpoint(client: &Client, endpoint_arn: &str) -> Result<ReportResult, StoreError> {
    let forgotten = client
        .execute("UPDATE users SET device_arn = NULL, updated_at = now() WHERE device_arn = $1", &[&endpoint_arn])
        .await?;
    Ok(if forgotten > 0 { ReportResult::Applied } else { ReportResult::Unchanged })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rank_in_sql_is_the_domains() {
        let case = rank_of("l.status");
        for s in DeliveryStatus::ALL {
            assert!(case.contains(&format!("WHEN '{}' THEN {}", s.as_str(), s.rank())), "{case}");
        }
    }
}
