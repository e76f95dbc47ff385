//! The delivery log of the three senders (`event_reminders_logs`): one
//! statement claims a whole batch, one records every outcome of it, so a
//! ten-message batch costs the same round trips as one.

use super::parse_column;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use torium_domain::{Channel, DeliveryStatus, ReminderId, UserId};

/// The (reminder, user) key of a delivery log row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryKey {
    pub reminder_id: ReminderId,
    pub user_id: UserId,
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent { provider_message_id: String, at: DateTime<Utc> },
    Failed { error: String, user_effect: Option<UserEffect> },
}

/// A provider's verdict about the user's address, kept on the user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEffect {
    /// The number opted out of SMS: flag it for the app.
    SmsOptedOut,
    /// The push endpoint is disabled or gone: forget it, so the next
    /// reminder falls back to email.
    PushEndpointGone { endpoint_arn: String },
}

impl Store {
    /// Claims the log rows of a batch: inserts a `pending` row for each new
    /// (reminder, user) and returns the status of every claimable key.
    /// Keys whose reminder or user does not exist are left out.
    pub async fn claim_deliveries(
        &self,
        claims: &[(DeliveryKey, Channel)],
    ) -> Result<Vec<(DeliveryKey, DeliveryStatus)>, StoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let reminders: Vec<i64> = claims.iter().map(|(k, _)| k.reminder_id.0).collect();
        let users: Vec<i64> = claims.iter().map(|(k, _)| k.user_id.0).collect();
        let channels: Vec<&str> = claims.iter().map(|(_, c)| c.as_str()).collect();
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "INSERT INTO event_reminders_logs (reminder_id, user_id, channel) \
                 SELECT DISTINCT ON (c.reminder_id, c.user_id) c.reminder_id, c.user_id, c.channel::delivery_channel \
                 FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS c(reminder_id, user_id, channel) \
                 JOIN event_reminders r ON r.id = c.reminder_id \
                 JOIN users u ON u.id = c.user_id \
                 ON CONFLICT (reminder_id, user_id) DO UPDATE SET status = event_reminders_logs.status \
                 RETURNING reminder_id, user_id, status::text",
                &[&reminders, &users, &channels],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let key = DeliveryKey { reminder_id: ReminderId(r.get(0)), user_id: UserId(r.get(1)) };
                Ok((key, parse_column(r.get(2))?))
            })
            .collect()
    }

    /// Records the outcome of every delivery of a batch, and what the
    /// providers said about users' addresses, in one statement.
    pub async fn record_delivery_outcomes(
        &self,
        outcomes: &[(DeliveryKey, DeliveryOutcome)],
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut reminders = Vec::new();
        let mut users = Vec::new();
        let mut statuses = Vec::new();
        let mut message_ids: Vec<Option<&str>> = Vec::new();
        let mut errors: Vec<Option<&str>> = Vec::new();
        let mut sent_at: Vec<Option<DateTime<Utc>>> = Vec::new();
        let mut opted_out: Vec<bool> = Vec::new();
        let mut gone_endpoints: Vec<Option<&str>> = Vec::new();
        for (key, outcome) in outcomes {
            reminders.push(key.reminder_id.0);
            users.push(key.user_id.0);
            match outcome {
                DeliveryOutcome::Sent { provider_message_id, at } => {
                    statuses.push(DeliveryStatus::Sent.as_str());
                    message_ids.push(Some(provider_message_id));
                    errors.push(None);
                    sent_at.push(Some(*at));
                    opted_out.push(false);
                    gone_endpoints.push(None);
                }
                DeliveryOutcome::Failed { error, user_effect } => {
                    statuses.push(DeliveryStatus::Failed.as_str());
                    message_ids.push(None);
                    errors.push(Some(error));
                    sent_at.push(None);
                    opted_out.push(matches!(user_effect, Some(UserEffect::SmsOptedOut)));
                    gone_endpoints.push(match user_effect {
                        Some(UserEffect::PushEndpointGone { endpoint_arn }) => Some(endpoint_arn),
                        _ => None,
                    });
                }
            }
        }
        let client = self.pool.get().await?;
        client
            .execute(
                "WITH outcome AS ( \
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                                          $6::timestamptz[], $7::boolean[], $8::text[]) \
                         AS o(reminder_id, user_id, status, message_id, error, sent_at, opted_out, gone_endpoint) \
                 ), logged AS ( \
                     UPDATE event_reminders_logs l SET \
                         status = o.status::delivery_status, \
                         provider_message_id = coalesce(o.message_id, l.provider_message_id), \
                         last_error = o.error, \
                         sent_at = coalesce(o.sent_at, l.sent_at), \
                         attempts = l.attempts + 1, \
                         updated_at = now() \
                     FROM outcome o \
                     WHERE l.reminder_id = o.reminder_id AND l.user_id = o.user_id AND l.status <> 'sent' \
                 ), opted_out AS ( \
                     UPDATE users SET sms_opted_out = true, sms_opted_out_at = now(), updated_at = now() \
                     WHERE id IN (SELECT user_id FROM outcome WHERE opted_out) AND NOT sms_opted_out \
                 ) \
                 UPDATE users u SET device_arn = NULL, updated_at = now() \
                 FROM outcome o WHERE u.id = o.user_id AND u.device_arn = o.gone_endpoint",
                &[&reminders, &users, &statuses, &message_ids, &errors, &sent_at, &opted_out, &gone_endpoints],
            )
            .await?;
        Ok(())
    }
}
