//! The scheduler's statements: claim due events (index range scan, SKIP
//! LOCKED), advance them (or record why their schedule cannot be read),
//! record skipped firings and finished runs; and the
//! fan-out's: record a firing, record members without a usable channel.

use super::parse_column;
use crate::interval::PgInterval;
use crate::{Store, StoreError, TransactionError};
use chrono::{DateTime, Utc};
use std::future::Future;
use tokio_postgres::{Row, Transaction};
use torium_domain::{EventId, Firing, ReminderId, ReminderKind, SchedulePeriod, UserId};

/// A claimed event with what its schedule needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvent {
    /// `events.id`.
    pub id: EventId,
    /// The event's time (`events.event_timestamp`).
    pub event_at: DateTime<Utc>,
    /// `events.time_zone` as stored (the scheduler parses it).
    pub time_zone: String,
    /// One reminder, or one per period.
    pub reminder_kind: ReminderKind,
    /// The lead time or the period.
    pub schedule_period: SchedulePeriod,
    /// The firing that made it due.
    pub next_reminder_at: DateTime<Utc>,
    /// Set when the API changed the schedule since the last run: the
    /// firings to consider then start at this time.
    pub schedule_changed_at: Option<DateTime<Utc>>,
}

/// What the scheduler decided for one claimed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleAdvance {
    /// The claimed event.
    pub event_id: EventId,
    /// The next firing, `None` when nothing is left to fire.
    pub next_reminder_at: Option<DateTime<Utc>>,
    /// Firings not sent (too late, or superseded by a later one): recorded
    /// as skipped.
    pub skipped: Vec<DateTime<Utc>>,
    /// Why the schedule cannot be read (with `next_reminder_at` `None`):
    /// recorded on the event, which stays out of the due claim until its
    /// schedule changes, and the alerts function names it.
    pub schedule_error: Option<String>,
}

/// A firing as recorded, with how far its fan-out got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedFiring {
    /// `event_reminders.id`.
    pub id: ReminderId,
    /// The last member whose page was enqueued; `None` before the first page.
    pub fanned_out_through: Option<UserId>,
    /// Every page was enqueued.
    pub fanned_out: bool,
}

/// Counts of one scheduler run, recorded for the alerts' liveness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerRun {
    /// Due events claimed.
    pub claimed: i32,
    /// Firings enqueued.
    pub enqueued: i32,
    /// Firings recorded as skipped.
    pub skipped: i32,
}

impl Store {
    /// Claims up to `limit` events due at `now` (oldest first) for this
    /// transaction only, hands them to `work` (which enqueues their firings
    /// and decides how each advances), applies the advances and commits.
    /// If `work` fails, or the process dies before the commit, nothing is
    /// advanced and a later run claims the same events again. Overlapping
    /// runs never claim the same event (`FOR UPDATE SKIP LOCKED`). Returns
    /// how many events were claimed.
    pub async fn with_due_events<F, Fut, E>(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        work: F,
    ) -> Result<usize, TransactionError<E>>
    where
        F: FnOnce(Vec<DueEvent>) -> Fut,
        Fut: Future<Output = Result<Vec<ScheduleAdvance>, E>>,
    {
        self.in_transaction(async |tx| {
            let claimed = claim_due_events(tx, now, limit).await?;
            let count = claimed.len();
            if count == 0 {
                return Ok(0);
            }
            let advances = work(claimed).await.map_err(TransactionError::Step)?;
            apply_advances(tx, &advances).await?;
            record_skipped_firings(tx, &advances).await?;
            Ok(count)
        })
        .await
    }

    /// Records a finished scheduler run for the minute `scheduled_for`.
    pub async fn record_scheduler_run(
        &self,
        scheduled_for: DateTime<Utc>,
        started_at: DateTime<Utc>,
        run: SchedulerRun,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO scheduler_runs (scheduled_for, started_at, claimed, enqueued, skipped) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&scheduled_for, &started_at, &run.claimed, &run.enqueued, &run.skipped],
            )
            .await?;
        Ok(())
    }

    /// Records one firing of an event's reminder, keyed on (event, trigger
    /// time, source); a redelivered message gets the row recorded the first
    /// time, with how far its fan-out got. `NotFound` when the event is gone.
    pub async fn record_firing(&self, firing: &Firing) -> Result<RecordedFiring, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO event_reminders (event_id, trigger_timestamp, source) \
                 VALUES ($1, $2, $3::text::reminder_source) \
                 ON CONFLICT (event_id, trigger_timestamp, source) WHERE NOT adopted \
                 DO UPDATE SET outcome = event_reminders.outcome \
                 RETURNING id, fanned_out_through, fanned_out_at IS NOT NULL AS fanned_out",
                &[&firing.event_id.0, &firing.trigger_at, &firing.source.as_str()],
            )
            .await?;
        Ok(RecordedFiring {
            id: ReminderId(row.get("id")),
            fanned_out_through: row.get::<_, Option<i64>>("fanned_out_through").map(UserId),
            fanned_out: row.get("fanned_out"),
        })
    }

    /// Records that the fan-out enqueued every member up to `through`;
    /// `finished` when that was the last page.
    pub async fn record_fan_out_progress(
        &self,
        reminder_id: ReminderId,
        through: UserId,
        finished: bool,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE event_reminders SET fanned_out_through = greatest(fanned_out_through, $2), \
                     fanned_out_at = CASE WHEN $3 THEN coalesce(fanned_out_at, now()) ELSE fanned_out_at END \
                 WHERE id = $1",
                &[&reminder_id.0, &through.0, &finished],
            )
            .await?;
        Ok(())
    }

    /// Members of a firing who are not reminded (no usable channel, the
    /// event already started) get a `skipped` log row with the reason
    /// (visible in the app), once.
    pub async fn record_skipped_members(
        &self,
        reminder_id: ReminderId,
        skipped: &[(UserId, String)],
    ) -> Result<(), StoreError> {
        if skipped.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await?;
        let ids: Vec<i64> = skipped.iter().map(|(u, _)| u.0).collect();
        let reasons: Vec<&str> = skipped.iter().map(|(_, r)| r.as_str()).collect();
        client
            .execute(
                "INSERT INTO event_reminders_logs (event_reminders_id, user_id, status, last_error) \
                 SELECT DISTINCT ON (user_id) $1::bigint, user_id, 'skipped', reason \
                 FROM unnest($2::bigint[], $3::text[]) AS u(user_id, reason) \
                 ON CONFLICT (event_reminders_id, user_id) WHERE NOT adopted DO NOTHING",
                &[&reminder_id.0, &ids, &reasons],
            )
            .await?;
        Ok(())
    }
}

/// Step 1: up to `limit` due events, oldest first, locked for this
/// transaction (rows another run holds are skipped).
async fn claim_due_events(tx: &Transaction<'_>, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueEvent>, StoreError> {
    let rows = tx
        .query(
            "SELECT id, event_timestamp, time_zone, reminder::text AS reminder, schedule_period, next_reminder_at, \
                    schedule_changed_at \
             FROM events \
             WHERE next_reminder_at <= $1 \
             ORDER BY next_reminder_at \
             LIMIT $2 \
             FOR UPDATE SKIP LOCKED",
            &[&now, &limit],
        )
        .await?;
    rows.iter().map(due_event).collect()
}

fn due_event(row: &Row) -> Result<DueEvent, StoreError> {
    Ok(DueEvent {
        id: EventId(row.get("id")),
        event_at: row.get("event_timestamp"),
        time_zone: row.get("time_zone"),
        reminder_kind: parse_column(row.get("reminder"))?,
        schedule_period: row.get::<_, PgInterval>("schedule_period").0,
        next_reminder_at: row.get("next_reminder_at"),
        schedule_changed_at: row.get("schedule_changed_at"),
    })
}

/// Step 4a: each claimed event's next firing (or why its schedule cannot
/// be read); the schedule change is consumed.
async fn apply_advances(tx: &Transaction<'_>, advances: &[ScheduleAdvance]) -> Result<(), StoreError> {
    let ids: Vec<i64> = advances.iter().map(|a| a.event_id.0).collect();
    let next: Vec<Option<DateTime<Utc>>> = advances.iter().map(|a| a.next_reminder_at).collect();
    let errors: Vec<Option<&str>> = advances.iter().map(|a| a.schedule_error.as_deref()).collect();
    tx.execute(
        "UPDATE events SET next_reminder_at = advance.next, schedule_changed_at = NULL, \
             schedule_error = advance.error, \
             schedule_error_at = CASE WHEN advance.error IS NULL THEN NULL ELSE coalesce(schedule_error_at, now()) END \
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS advance(id, next, error) \
         WHERE events.id = advance.id",
        &[&ids, &next, &errors],
    )
    .await?;
    Ok(())
}

/// Step 4b: the firings not sent, as `skipped` firings (once each).
async fn record_skipped_firings(tx: &Transaction<'_>, advances: &[ScheduleAdvance]) -> Result<(), StoreError> {
    let (skipped_events, skipped_at): (Vec<i64>, Vec<DateTime<Utc>>) =
        advances.iter().flat_map(|a| a.skipped.iter().map(|&at| (a.event_id.0, at))).unzip();
    if skipped_events.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO event_reminders (event_id, trigger_timestamp, outcome) \
         SELECT id, at, 'skipped' FROM unnest($1::bigint[], $2::timestamptz[]) AS skipped(id, at) \
         ON CONFLICT (event_id, trigger_timestamp, source) WHERE NOT adopted DO NOTHING",
        &[&skipped_events, &skipped_at],
    )
    .await?;
    Ok(())
}
