//! What the alerts function reads (failed deliveries, skipped firings, the
//! scheduler's last run, unreadable schedules, provider-reported delivery
//! rates) and its own state (open conditions, its runs). Reads only, but
//! for the state, which a crash leaves as it was before the run.

use crate::{Store, StoreError, TransactionError};
use chrono::{DateTime, Utc};
use std::future::Future;
use tokio_postgres::Transaction;
use torium_domain::{DeliveryRates, Finding, OpenCondition, RATE_WINDOW, UnreadableSchedule};

/// Failed deliveries of one channel and kind of error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDeliveries {
    /// `reminders` or `comments`.
    pub log: String,
    /// `sms`, `email` or `push`.
    pub channel: String,
    /// The provider's error code, or the start of the error text.
    pub error_kind: String,
    /// How many failed in the window.
    pub count: i64,
}

/// How an alerts run changes its state, applied only with its post.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertStateUpdate {
    /// Every condition seen now (opened if new, kept open otherwise).
    pub seen: Vec<Finding>,
    /// Conditions whose notice this run posted.
    pub posted: Vec<String>,
    /// Conditions that cleared.
    pub resolved: Vec<String>,
}

impl Store {
    /// Failed delivery rows last touched in `(since, until]`, by log,
    /// channel and kind of error.
    pub async fn failed_deliveries(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FailedDeliveries>, StoreError> {
        let client = self.pool.get().await?;
        // Errors read "<Operation> failed (<Kind>, <Code>): …" when the
        // provider gave a code; otherwise the text up to its first colon.
        let rows = client
            .query(
                "WITH failed AS ( \
                     SELECT 'reminders' AS log, channel, last_error FROM event_reminders_logs \
                     WHERE status = 'failed' AND updated_at > $1 AND updated_at <= $2 \
                     UNION ALL \
                     SELECT 'comments', channel, last_error FROM events_comments_logs \
                     WHERE status = 'failed' AND updated_at > $1 AND updated_at <= $2 \
                 ) \
                 SELECT log, coalesce(channel::text, 'none') AS channel, \
                        coalesce(substring(last_error from '\\(\\w+, (\\w+)\\)'), left(split_part(coalesce(last_error, 'unknown'), ':', 1), 60)) AS kind, \
                        count(*) AS count \
                 FROM failed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                &[&since, &until],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| FailedDeliveries {
                log: r.get("log"),
                channel: r.get("channel"),
                error_kind: r.get("kind"),
                count: r.get("count"),
            })
            .collect())
    }

    /// Firings skipped for lateness, recorded in `(since, until]`.
    pub async fn skipped_firings(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) AS skipped FROM event_reminders \
                 WHERE outcome = 'skipped' AND \"timestamp\" > $1 AND \"timestamp\" <= $2",
                &[&since, &until],
            )
            .await?;
        Ok(row.get("skipped"))
    }

    /// Events whose schedule the scheduler could not read (oldest error
    /// first, at most `limit`), and how many there are.
    pub async fn unreadable_schedules(&self, limit: i64) -> Result<(Vec<UnreadableSchedule>, i64), StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, time_zone, schedule_error, count(*) OVER () AS total FROM events \
                 WHERE schedule_error IS NOT NULL ORDER BY schedule_error_at, id LIMIT $1",
                &[&limit],
            )
            .await?;
        let total = rows.first().map_or(0, |r| r.get("total"));
        let sample = rows
            .iter()
            .map(|r| UnreadableSchedule {
                event_id: r.get("id"),
                time_zone: r.get("time_zone"),
                error: r.get("schedule_error"),
            })
            .collect();
        Ok((sample, total))
    }

    /// Reminder deliveries' provider outcomes over the [`RATE_WINDOW`]
    /// before `until`: emails by their send time, SMS by their receipt's.
    pub async fn delivery_rates(&self, until: DateTime<Utc>) -> Result<DeliveryRates, StoreError> {
        let client = self.pool.get().await?;
        let since = until - RATE_WINDOW;
        let row = client
            .query_one(
                "SELECT \
                     count(*) FILTER (WHERE channel = 'email' AND sent_timestamp > $1 AND sent_timestamp <= $2 \
                         AND status IN ('sent', 'delivered', 'bounced', 'complained', 'rejected')) AS emails_sent, \
                     count(*) FILTER (WHERE channel = 'email' AND sent_timestamp > $1 AND sent_timestamp <= $2 \
                         AND status = 'bounced') AS emails_bounced, \
                     count(*) FILTER (WHERE channel = 'email' AND sent_timestamp > $1 AND sent_timestamp <= $2 \
                         AND status = 'complained') AS emails_complained, \
                     count(*) FILTER (WHERE channel = 'sms' AND reported_at > $1 AND reported_at <= $2 \
                         AND status IN ('delivered', 'failed')) AS sms_reported, \
                     count(*) FILTER (WHERE channel = 'sms' AND reported_at > $1 AND reported_at <= $2 \
                         AND status = 'failed') AS sms_failed \
                 FROM event_reminders_logs \
                 WHERE (sent_timestamp > $1 AND sent_timestamp <= $2) OR (reported_at > $1 AND reported_at <= $2)",
                &[&since, &until],
            )
            .await?;
        Ok(DeliveryRates {
            emails_sent: row.get("emails_sent"),
            emails_bounced: row.get("emails_bounced"),
            emails_complained: row.get("emails_complained"),
            sms_reported: row.get("sms_reported"),
            sms_failed: row.get("sms_failed"),
        })
    }

    /// When schedule-events last completed a run, `None` if it never did.
    pub async fn last_scheduler_run(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.pool.get().await?;
        let row = client.query_one("SELECT max(finished_at) AS last_run FROM scheduler_runs", &[]).await?;
        Ok(row.get("last_run"))
    }

    /// The scheduled time of the previous alerts run (the start of this
    /// run's window), `None` before the first.
    pub async fn previous_alerts_run(&self, before: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.pool.get().await?;
        let row =
            client.query_one("SELECT max(ran_at) AS previous FROM alerts_runs WHERE ran_at < $1", &[&before]).await?;
        Ok(row.get("previous"))
    }

    /// Runs `step` (which posts to the chat) on the open conditions, and
    /// applies its state update and records the run only if it succeeds: a
    /// failed post leaves the state as it was, so the next run tells again.
    /// Overlapping runs are serialised by a transaction-scoped lock.
    pub async fn with_alert_state<F, Fut, E>(&self, now: DateTime<Utc>, step: F) -> Result<usize, TransactionError<E>>
    where
        F: FnOnce(Vec<OpenCondition>) -> Fut,
        Fut: Future<Output = Result<AlertStateUpdate, E>>,
    {
        self.in_transaction(async |tx| {
            tx.execute("SELECT pg_advisory_xact_lock(5151)", &[]).await?;
            let open = open_conditions(tx).await?;
            let update = step(open).await.map_err(TransactionError::Step)?;
            apply_alert_update(tx, &update, now).await?;
            let posted = update.posted.len() + update.resolved.len();
            tx.execute("INSERT INTO alerts_runs (ran_at, posted) VALUES ($1, $2)", &[&now, &(posted as i32)]).await?;
            Ok(posted)
        })
        .await
    }
}

/// The conditions not resolved yet, by key.
async fn open_conditions(tx: &Transaction<'_>) -> Result<Vec<OpenCondition>, StoreError> {
    let rows = tx
        .query("SELECT key, title, last_posted_at FROM alert_conditions WHERE resolved_at IS NULL ORDER BY key", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| OpenCondition { key: r.get("key"), title: r.get("title"), last_posted_at: r.get("last_posted_at") })
        .collect())
}

/// Every condition seen now opened (or kept open), the posted ones
/// stamped, the cleared ones resolved.
async fn apply_alert_update(
    tx: &Transaction<'_>,
    update: &AlertStateUpdate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let keys: Vec<String> = update.seen.iter().map(Finding::key).collect();
    let kinds: Vec<&str> = update.seen.iter().map(|f| f.kind.as_str()).collect();
    let subjects: Vec<&str> = update.seen.iter().map(|f| f.subject.as_str()).collect();
    let titles: Vec<&str> = update.seen.iter().map(|f| f.title.as_str()).collect();
    tx.execute(
        "INSERT INTO alert_conditions (key, kind, subject, title, first_seen_at, last_seen_at, last_posted_at) \
         SELECT key, kind, subject, title, $5, $5, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
             AS s(key, kind, subject, title) \
         ON CONFLICT (key) DO UPDATE SET \
             title = EXCLUDED.title, last_seen_at = EXCLUDED.last_seen_at, \
             first_seen_at = CASE WHEN alert_conditions.resolved_at IS NULL THEN alert_conditions.first_seen_at ELSE EXCLUDED.first_seen_at END, \
             resolved_at = NULL",
        &[&keys, &kinds, &subjects, &titles, &now],
    )
    .await?;
    tx.execute("UPDATE alert_conditions SET last_posted_at = $2 WHERE key = ANY($1)", &[&update.posted, &now]).await?;
    tx.execute("UPDATE alert_conditions SET resolved_at = $2 WHERE key = ANY($1)", &[&update.resolved, &now]).await?;
    Ok(())
}
