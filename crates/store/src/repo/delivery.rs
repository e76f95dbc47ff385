//! The delivery logs: `event_reminders_logs` (one row per member reminded
//! of a firing) and `events_comments_logs` (one row per member pushed about
//! a comment), both unique on (item, user). One statement claims a whole
//! batch, one records every outcome of it, so ten deliveries cost the same
//! round trips as one. Each is one statement: a crash between the claim and
//! the outcome leaves the rows `pending`, and the redelivery claims them
//! again.

use super::parse_column;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use torium_domain::{
    Channel, DeliveryKey, DeliveryOutcome, DeliveryStatus, EndpointArn, QuietHours, UserEffect, UserId,
};

/// Which delivery log a statement works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryLog {
    /// `event_reminders_logs`, keyed by `event_reminders.id`.
    Reminders,
    /// `events_comments_logs`, keyed by `events_comments.id`.
    Comments,
}

impl DeliveryLog {
    /// (log table, its item column, the item's table): fixed names, never input.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            DeliveryLog::Reminders => ("event_reminders_logs", "event_reminders_id", "event_reminders"),
            DeliveryLog::Comments => ("events_comments_logs", "events_comments_id", "events_comments"),
        }
    }
}

impl Store {
    /// Claims the log rows of a batch: inserts a `pending` row for each new
    /// (reminder, user) and returns the status of every claimable key.
    /// Keys whose reminder or user does not exist are left out.
    pub async fn claim_deliveries(
        &self,
        log: DeliveryLog,
        claims: &[(DeliveryKey, Channel)],
    ) -> Result<Vec<(DeliveryKey, DeliveryStatus)>, StoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let (table, item, items) = log.names();
        let columns = ClaimColumns::of(claims);
        let client = self.pool.get().await?;
        let sql = format!(
            "INSERT INTO {table} ({item}, user_id, channel) \
             SELECT DISTINCT ON (c.item_id, c.user_id) c.item_id, c.user_id, c.channel::delivery_channel \
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS c(item_id, user_id, channel) \
             JOIN {items} i ON i.id = c.item_id \
             JOIN users u ON u.id = c.user_id \
             ON CONFLICT ({item}, user_id) WHERE NOT adopted DO UPDATE SET status = {table}.status \
             RETURNING {item} AS item_id, user_id, status::text AS status"
        );
        let rows = client.query(&sql, &[&columns.item_ids, &columns.users, &columns.channels]).await?;
        rows.iter().map(|r| Ok((key_of(r), parse_column(r.get("status"))?))).collect()
    }

    /// Records the outcome of every delivery of a batch, and what the
    /// providers said about users' addresses, in one statement.
    pub async fn record_delivery_outcomes(
        &self,
        log: DeliveryLog,
        outcomes: &[(DeliveryKey, DeliveryOutcome)],
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (table, item, _) = log.names();
        let mut columns = OutcomeColumns::default();
        for (key, outcome) in outcomes {
            columns.push(key, outcome);
        }
        // A row the provider accepted (and may have reported on since) is
        // never written back: the outcome of a copy changes nothing.
        let accepted: Vec<&str> = DeliveryStatus::ALL.iter().filter(|s| s.was_accepted()).map(|s| s.as_str()).collect();
        let OutcomeColumns { items, users, statuses, message_ids, errors, sent_at, opted_out, gone_endpoints } =
            &columns;
        let client = self.pool.get().await?;
        client
            .execute(
                &record_outcomes_sql(table, item),
                &[items, users, statuses, message_ids, errors, sent_at, opted_out, gone_endpoints, &accepted],
            )
            .await?;
        Ok(())
    }
}

/// The statement of [`Store::record_delivery_outcomes`] on `table` (keyed
/// by `item`): the log rows not yet accepted, the users opted out of SMS,
/// the push endpoints gone.
fn record_outcomes_sql(table: &str, item: &str) -> String {
    format!(
        "WITH outcome AS ( \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                                  $6::timestamptz[], $7::boolean[], $8::text[]) \
                 AS o(item_id, user_id, status, message_id, error, sent_at, opted_out, gone_endpoint) \
         ), logged AS ( \
             UPDATE {table} l SET \
                 status = o.status, \
                 provider_message_id = coalesce(o.message_id, l.provider_message_id), \
                 last_error = o.error, \
                 sent_timestamp = coalesce(o.sent_at, l.sent_timestamp), \
                 attempts = l.attempts + 1, \
                 updated_at = now() \
             FROM outcome o \
             WHERE l.{item} = o.item_id AND l.user_id = o.user_id AND NOT l.adopted \
               AND NOT l.status = ANY($9::text[]) \
         ), opted_out AS ( \
             UPDATE users SET sms_opted_out = true, sms_opted_out_at = now(), updated_at = now() \
             WHERE id IN (SELECT user_id FROM outcome WHERE opted_out) AND NOT sms_opted_out \
         ) \
         UPDATE users u SET device_arn = NULL, updated_at = now() \
         FROM outcome o WHERE u.id = o.user_id AND u.device_arn = o.gone_endpoint"
    )
}

/// A batch's outcomes as the statement's parallel arrays, one entry per
/// delivery in each.
#[derive(Default)]
struct OutcomeColumns<'a> {
    items: Vec<i64>,
    users: Vec<i64>,
    statuses: Vec<&'static str>,
    message_ids: Vec<Option<&'a str>>,
    errors: Vec<Option<&'a str>>,
    sent_at: Vec<Option<DateTime<Utc>>>,
    opted_out: Vec<bool>,
    gone_endpoints: Vec<Option<&'a str>>,
}

impl<'a> OutcomeColumns<'a> {
    fn push(&mut self, key: &DeliveryKey, outcome: &'a DeliveryOutcome) {
        self.items.push(key.item_id);
        self.users.push(key.user_id.0);
        match outcome {
            DeliveryOutcome::Sent { provider_message_id, at } => {
                self.statuses.push(DeliveryStatus::Sent.as_str());
                self.message_ids.push(Some(provider_message_id));
                self.errors.push(None);
                self.sent_at.push(Some(*at));
                self.opted_out.push(false);
                self.gone_endpoints.push(None);
            }
            DeliveryOutcome::Failed { error, user_effect } => {
                self.statuses.push(DeliveryStatus::Failed.as_str());
                self.message_ids.push(None);
                self.errors.push(Some(error));
                self.sent_at.push(None);
                self.opted_out.push(matches!(user_effect, Some(UserEffect::SmsOptedOut)));
                self.gone_endpoints.push(match user_effect {
                    Some(UserEffect::PushEndpointGone { endpoint_arn }) => Some(endpoint_arn.as_str()),
                    _ => None,
                });
            }
        }
    }
}

/// The claims of a batch as the claim statements' parallel arrays.
struct ClaimColumns<'a> {
    item_ids: Vec<i64>,
    users: Vec<i64>,
    channels: Vec<&'a str>,
}

impl ClaimColumns<'_> {
    fn of(claims: &[(DeliveryKey, Channel)]) -> Self {
        ClaimColumns {
            item_ids: claims.iter().map(|(k, _)| k.item_id).collect(),
            users: claims.iter().map(|(k, _)| k.user_id.0).collect(),
            channels: claims.iter().map(|(_, c)| c.as_str()).collect(),
        }
    }
}

/// The key of a claimed row (its `item_id` and `user_id` columns).
fn key_of(row: &Row) -> DeliveryKey {
    DeliveryKey { item_id: row.get("item_id"), user_id: UserId(row.get("user_id")) }
}

impl Store {
    /// Forgets a push endpoint SNS reported dead (only if the user still has
    /// that one), so later pushes are not sent to nowhere.
    pub async fn forget_push_endpoint(&self, user_id: UserId, endpoint_arn: &EndpointArn) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE users SET device_arn = NULL, updated_at = now() WHERE id = $1 AND device_arn = $2",
                &[&user_id.0, &endpoint_arn.as_str()],
            )
            .await?;
        Ok(())
    }
}

/// A claimed reminder delivery with what the send-time decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderClaim {
    /// The row's status as claimed (`pending` for a new one).
    pub status: DeliveryStatus,
    /// Released from a quiet-hours deferral (`released_at` is set): never
    /// held again, and the lateness bound no longer applies.
    pub released: bool,
    /// The member's quiet hours, `None` when they have none.
    pub quiet_hours: Option<QuietHours>,
    /// `users.time_zone` (NULL: the event's).
    pub user_time_zone: Option<String>,
    /// `events.time_zone` of the firing's event.
    pub event_time_zone: String,
    /// A `deferred` row's release time (`deferred_until`).
    pub deferred_until: Option<DateTime<Utc>>,
}

/// [`Store::claim_reminder_deliveries`]' statement: the claim of
/// [`Store::claim_deliveries`] on `event_reminders_logs`, joined to what the
/// send-time decision reads.
const CLAIM_REMINDERS: &str = "WITH claimed AS ( \
         INSERT INTO event_reminders_logs (event_reminders_id, user_id, channel) \
         SELECT DISTINCT ON (c.item_id, c.user_id) c.item_id, c.user_id, c.channel::delivery_channel \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS c(item_id, user_id, channel) \
         JOIN event_reminders i ON i.id = c.item_id \
         JOIN users u ON u.id = c.user_id \
         ON CONFLICT (event_reminders_id, user_id) WHERE NOT adopted \
             DO UPDATE SET status = event_reminders_logs.status \
         RETURNING event_reminders_id, user_id, status::text AS status, released_at, deferred_until \
     ) \
     SELECT c.event_reminders_id AS item_id, c.user_id, c.status, c.released_at IS NOT NULL AS released, \
            u.quiet_hours_start, u.quiet_hours_end, u.time_zone AS user_time_zone, \
            e.time_zone AS event_time_zone, c.deferred_until \
     FROM claimed c \
     JOIN users u ON u.id = c.user_id \
     JOIN event_reminders r ON r.id = c.event_reminders_id \
     JOIN events e ON e.id = r.event_id";

/// A row of [`CLAIM_REMINDERS`] as a [`ReminderClaim`].
fn reminder_claim_of(row: &Row) -> Result<ReminderClaim, StoreError> {
    Ok(ReminderClaim {
        status: parse_column(row.get("status"))?,
        released: row.get("released"),
        quiet_hours: QuietHours::new(row.get("quiet_hours_start"), row.get("quiet_hours_end")),
        user_time_zone: row.get("user_time_zone"),
        event_time_zone: row.get("event_time_zone"),
        deferred_until: row.get("deferred_until"),
    })
}

/// Why a claimed reminder was not sent (now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsent {
    /// `skipped` with the reason in `last_error` (as the fan-out records a
    /// member without a usable channel).
    Skipped {
        /// Why it is not sent (the stale reason).
        reason: String,
    },
    /// `deferred` until the end of the member's quiet hours, with the exact
    /// body to send then.
    Deferred {
        /// The end of the quiet hours: when the release sends it.
        until: DateTime<Utc>,
        /// The delivery's queue body, sent as it is then.
        body: String,
    },
}

impl Store {
    /// [`Store::claim_deliveries`] for reminders, with each row's release
    /// state, the member's quiet hours and both zones they may be read in.
    pub async fn claim_reminder_deliveries(
        &self,
        claims: &[(DeliveryKey, Channel)],
    ) -> Result<Vec<(DeliveryKey, ReminderClaim)>, StoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let columns = ClaimColumns::of(claims);
        let client = self.pool.get().await?;
        let rows = client.query(CLAIM_REMINDERS, &[&columns.item_ids, &columns.users, &columns.channels]).await?;
        rows.iter().map(|r| Ok((key_of(r), reminder_claim_of(r)?))).collect()
    }

    /// Records reminders not sent: skipped (stale) or deferred (quiet
    /// hours), in one statement. Only rows still to send change (`pending`
    /// or `failed`), and a released row is never deferred again, so a
    /// redelivery changes nothing twice.
    pub async fn record_unsent_reminders(&self, unsent: &[(DeliveryKey, Unsent)]) -> Result<(), StoreError> {
        if unsent.is_empty() {
            return Ok(());
        }
        let mut items = Vec::new();
        let mut users = Vec::new();
        let mut statuses = Vec::new();
        let mut reasons: Vec<Option<&str>> = Vec::new();
        let mut until: Vec<Option<DateTime<Utc>>> = Vec::new();
        let mut bodies: Vec<Option<&str>> = Vec::new();
        for (key, what) in unsent {
            items.push(key.item_id);
            users.push(key.user_id.0);
            match what {
                Unsent::Skipped { reason } => {
                    statuses.push(DeliveryStatus::Skipped.as_str());
                    reasons.push(Some(reason));
                    until.push(None);
                    bodies.push(None);
                }
                Unsent::Deferred { until: at, body } => {
                    statuses.push(DeliveryStatus::Deferred.as_str());
                    reasons.push(None);
                    until.push(Some(*at));
                    bodies.push(Some(body));
                }
            }
        }
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE event_reminders_logs l SET \
                     status = u.status, \
                     last_error = CASE WHEN u.status = 'skipped' THEN u.reason ELSE l.last_error END, \
                     deferred_until = coalesce(u.until, l.deferred_until), \
                     deferred_body = coalesce(u.body, l.deferred_body), \
                     updated_at = now() \
                 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) \
                     AS u(item_id, user_id, status, reason, until, body) \
                 WHERE l.event_reminders_id = u.item_id AND l.user_id = u.user_id AND NOT l.adopted \
                   AND l.status IN ('pending', 'failed') \
                   AND (u.status = 'skipped' OR l.released_at IS NULL)",
                &[&items, &users, &statuses, &reasons, &until, &bodies],
            )
            .await?;
        Ok(())
    }
}
