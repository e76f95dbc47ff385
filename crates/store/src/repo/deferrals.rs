//! Quiet-hours deferrals: reminder log rows a sender held (`deferred`, with
//! `deferred_until` and the exact body it would have sent) and their
//! release by schedule-events' minute run.
//!
//! A release claims due rows (`FOR UPDATE SKIP LOCKED`, so overlapping runs
//! take disjoint rows), lets the caller re-send each held body, and marks
//! what was sent `pending` with `released_at`, in one transaction. A crash
//! before the commit leaves the rows `deferred`: the next run sends them
//! again with the same deduplication ids (SQS drops the copy within five
//! minutes; after that the sender's claim finds the row `sent`).

use super::parse_column;
use crate::{Store, StoreError, TransactionError};
use chrono::{DateTime, Utc};
use std::future::Future;
use tokio_postgres::{Row, Transaction};
use torium_domain::{Channel, DeliveryKey, ReminderId, UserId};

/// A deferred delivery whose quiet hours are over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeferral {
    /// The held row (reminder firing and member).
    pub key: DeliveryKey,
    /// The channel it is sent on: which queue the release goes to.
    pub channel: Channel,
    /// The delivery body as the sender held it.
    pub body: String,
}

impl Store {
    /// Claims up to `limit` deferred rows due at `now` (oldest first) for
    /// this transaction, hands them to `work` (which re-sends them and
    /// returns the keys it sent), marks those `pending` with
    /// `released_at = now` and commits. If `work` fails, nothing changes.
    /// Returns the keys released.
    pub async fn with_due_deferrals<F, Fut, E>(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        work: F,
    ) -> Result<Vec<DeliveryKey>, TransactionError<E>>
    where
        F: FnOnce(Vec<DueDeferral>) -> Fut,
        Fut: Future<Output = Result<Vec<DeliveryKey>, E>>,
    {
        self.in_transaction(async |tx| {
            let due = claim_due_deferrals(tx, now, limit).await?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            let released = work(due).await.map_err(TransactionError::Step)?;
            mark_released(tx, &released, now).await?;
            Ok(released)
        })
        .await
    }
}

/// Up to `limit` deferred rows due at `now`, oldest first, locked for this
/// transaction (rows another run holds are skipped).
async fn claim_due_deferrals(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueDeferral>, StoreError> {
    let rows = tx
        .query(
            "SELECT event_reminders_id, user_id, channel::text AS channel, deferred_body \
             FROM event_reminders_logs \
             WHERE status = 'deferred' AND deferred_until <= $1 AND NOT adopted \
             ORDER BY deferred_until \
             LIMIT $2 \
             FOR UPDATE SKIP LOCKED",
            &[&now, &limit],
        )
        .await?;
    rows.iter().map(due_deferral).collect()
}

/// A held row; one without its channel or body breaks the schema's promise.
fn due_deferral(row: &Row) -> Result<DueDeferral, StoreError> {
    let key = DeliveryKey::reminder(ReminderId(row.get("event_reminders_id")), UserId(row.get("user_id")));
    let missing = |what: &str| StoreError::Invalid(format!("deferred row {key:?} has no {what}"));
    let channel: Option<&str> = row.get("channel");
    let body: Option<String> = row.get("deferred_body");
    Ok(DueDeferral {
        key,
        channel: parse_column(channel.ok_or_else(|| missing("channel"))?)?,
        body: body.ok_or_else(|| missing("body"))?,
    })
}

/// The rows re-sent go back to `pending`, with when they were released.
async fn mark_released(tx: &Transaction<'_>, released: &[DeliveryKey], now: DateTime<Utc>) -> Result<(), StoreError> {
    let items: Vec<i64> = released.iter().map(|k| k.item_id).collect();
    let users: Vec<i64> = released.iter().map(|k| k.user_id.0).collect();
    tx.execute(
        "UPDATE event_reminders_logs l SET status = 'pending', released_at = $3, updated_at = now() \
         FROM unnest($1::bigint[], $2::bigint[]) AS r(item_id, user_id) \
         WHERE l.event_reminders_id = r.item_id AND l.user_id = r.user_id AND l.status = 'deferred'",
        &[&items, &users, &now],
    )
    .await?;
    Ok(())
}
