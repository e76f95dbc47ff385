//! Reading events and their members: what a fan-out and a comment push
//! need, in a constant number of statements whatever the member count.
//! Reads only: a crash leaves nothing behind.

use super::{parse_column, parse_optional_column};
use crate::interval::PgInterval;
use crate::{Store, StoreError};
use torium_domain::{E164Number, EmailAddress, EndpointArn, Event, EventId, GroupId, Member, Pln, UserId};

impl Store {
    /// An event with the number of its members (budget shares divide by it).
    pub async fn event_with_member_count(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT e.id, e.group_id, e.name, coalesce(e.description, '') AS description, e.event_timestamp, \
                        e.time_zone, e.reminder::text AS reminder, e.schedule_period, \
                        CASE WHEN e.is_budget THEN round(e.budget::float8::numeric, 2)::text END AS budget, \
                        e.next_reminder_at, \
                        (SELECT count(DISTINCT eu.user_id) FROM events_users eu WHERE eu.event_id = e.id) \
                            AS member_count \
                 FROM events e WHERE e.id = $1",
                &[&id.0],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let budget = r
            .get::<_, Option<&str>>("budget")
            .map(|text| Pln::from_decimal_str(text).map_err(|e| StoreError::Invalid(format!("stored budget: {e}"))))
            .transpose()?;
        Ok(Some(Event {
            id: EventId(r.get("id")),
            group_id: GroupId(r.get("group_id")),
            name: r.get("name"),
            description: r.get("description"),
            event_at: r.get("event_timestamp"),
            time_zone: r.get("time_zone"),
            reminder_kind: parse_column(r.get("reminder"))?,
            schedule_period: r.get::<_, PgInterval>("schedule_period").0,
            budget,
            next_reminder_at: r.get("next_reminder_at"),
            member_count: r.get("member_count"),
        }))
    }

    /// Every member of an event with what a delivery needs: contact data and
    /// the payment URL of their bank. One round trip whatever the count. For
    /// tests: the fan-out reads [`Store::event_members_page`].
    #[cfg(any(test, feature = "test-support"))]
    pub async fn event_members(&self, id: EventId) -> Result<Vec<Member>, StoreError> {
        self.event_members_page(id, UserId(0), i64::MAX).await
    }

    /// The next `limit` members of an event after the member `after` (by
    /// user id; each person once, however often the API wrote the
    /// membership): one keyset page, read from the (event, user) index.
    pub async fn event_members_page(&self, id: EventId, after: UserId, limit: i64) -> Result<Vec<Member>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                // The page's ids first (the (event, user) index), then those
                // users by primary key: never a scan of every user.
                "SELECT u.id, u.email, u.mobile_number, u.reminder_preferences::text AS reminder_preferences, \
                        u.device_arn, o.url AS payment_url, u.sms_opted_out, \
                        u.email_suppressed_at IS NOT NULL AS email_suppressed \
                 FROM users u \
                 LEFT JOIN organizations o ON o.id = u.organization_id \
                 WHERE u.id = ANY(ARRAY( \
                     SELECT DISTINCT eu.user_id FROM events_users eu \
                     WHERE eu.event_id = $1 AND eu.user_id > $2 ORDER BY eu.user_id LIMIT $3)) \
                 ORDER BY u.id",
                &[&id.0, &after.0, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                // Contact data that are not well formed read as missing.
                Ok(Member {
                    user_id: UserId(r.get("id")),
                    email: EmailAddress::parse(r.get("email")).ok(),
                    mobile_number: r.get::<_, Option<&str>>("mobile_number").and_then(|n| E164Number::parse(n).ok()),
                    reminder_preference: parse_optional_column(r.get("reminder_preferences"))?,
                    device_arn: r.get::<_, Option<&str>>("device_arn").and_then(|a| EndpointArn::parse(a).ok()),
                    organization_payment_url: r.get("payment_url"),
                    sms_opted_out: r.get("sms_opted_out"),
                    email_suppressed: r.get("email_suppressed"),
                })
            })
            .collect()
    }
}

/// What pushing one comment needs: the event's name, the author's address
/// and every other member with a push endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentAudience {
    /// The event's name, as the push names it.
    pub event_name: String,
    /// The comment author's address, `None` when the author is gone.
    pub author_email: Option<String>,
    /// (member, endpoint ARN), the author excluded.
    pub receivers: Vec<(UserId, String)>,
}

impl Store {
    /// `None` when the event is gone. Two statements whatever the member count.
    pub async fn comment_audience(
        &self,
        event_id: EventId,
        author_id: UserId,
    ) -> Result<Option<CommentAudience>, StoreError> {
        let client = self.pool.get().await?;
        let Some(event) = client
            .query_opt(
                "SELECT e.name, (SELECT email FROM users WHERE id = $2) AS author_email FROM events e WHERE e.id = $1",
                &[&event_id.0, &author_id.0],
            )
            .await?
        else {
            return Ok(None);
        };
        let receivers = client
            .query(
                "SELECT u.id, u.device_arn FROM users u \
                 WHERE u.id IN (SELECT eu.user_id FROM events_users eu WHERE eu.event_id = $1) \
                   AND u.id <> $2 AND u.device_arn IS NOT NULL AND u.device_arn <> '' \
                 ORDER BY u.id",
                &[&event_id.0, &author_id.0],
            )
            .await?
            .iter()
            .map(|r| (UserId(r.get("id")), r.get("device_arn")))
            .collect();
        Ok(Some(CommentAudience { event_name: event.get("name"), author_email: event.get("author_email"), receivers }))
    }
}
