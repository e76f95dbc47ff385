//! Queue message bodies.
//!
//! The existing HTTP API writes bodies in the SQS message-attribute style
//! (contracts section 2): every field is `{"DataType": "String", "StringValue":
//! "..."}`, numbers included. Messages the suite writes itself use a typed
//! JSON body with a `"type"` tag. Consumers accept both forms; a body is typed
//! when its `type` field is a plain JSON string.

use crate::{
    Channel, CommentId, ContactError, E164Number, EmailAddress, EmailContent, EndpointArn, EventId, Freshness, GroupId,
    InvitationId, ReminderId, ReminderSource, UserId,
};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Why a message body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The body is not JSON (the parser's message).
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("message body is not a JSON object")]
    NotAnObject,
    /// A field the message needs is absent (its name).
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field is there but unreadable: its name and why.
    #[error("field `{field}` invalid: {reason}")]
    InvalidField {
        /// The field's name.
        field: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The `type` tag names another message than the one expected.
    #[error("unknown message type {found:?}, expected {expected:?}")]
    UnknownType {
        /// The body's `type`.
        found: String,
        /// The `type` the reader wanted.
        expected: &'static str,
    },
}

fn invalid(field: &str, reason: impl Into<String>) -> MessageError {
    MessageError::InvalidField { field: field.to_owned(), reason: reason.into() }
}

fn json_object(body: &str) -> Result<Map<String, Value>, MessageError> {
    match serde_json::from_str(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(MessageError::NotAnObject),
        Err(error) => Err(MessageError::NotJson(error.to_string())),
    }
}

fn attribute_fields(fields: Map<String, Value>) -> Result<BTreeMap<String, String>, MessageError> {
    fields
        .into_iter()
        .map(|(name, attribute)| {
            let value = attribute_value(&attribute).map_err(|reason| invalid(&name, reason))?;
            Ok((name, value))
        })
        .collect()
}

/// The `StringValue` of one `{"DataType": ..., "StringValue": ...}` field.
fn attribute_value(attribute: &Value) -> Result<String, String> {
    let data_type = attribute.get("DataType").and_then(Value::as_str);
    let value = attribute.get("StringValue").and_then(Value::as_str);
    match (data_type, value) {
        // SQS allows custom suffixes such as `Number.int`.
        (Some(data_type), Some(value)) if data_type.starts_with("String") || data_type.starts_with("Number") => {
            Ok(value.to_owned())
        }
        (Some(data_type), Some(_)) => Err(format!("unsupported DataType {data_type:?}")),
        _ => Err(format!("expected {{\"DataType\": \"String\", \"StringValue\": \"...\"}}, got {attribute}")),
    }
}

/// A body's fields, in whichever form it came.
enum Fields {
    Legacy(BTreeMap<String, String>),
    Typed(Map<String, Value>),
}

impl Fields {
    /// Reads a typed body tagged `message_type`, or, when `legacy` allows
    /// it, an attribute-style one.
    fn parse(body: &str, message_type: &'static str, legacy: bool) -> Result<Self, MessageError> {
        let fields = json_object(body)?;
        match fields.get("type") {
            Some(Value::String(found)) if found == message_type => Ok(Fields::Typed(fields)),
            Some(Value::String(found)) => {
                Err(MessageError::UnknownType { found: found.clone(), expected: message_type })
            }
            _ if legacy => Ok(Fields::Legacy(attribute_fields(fields)?)),
            None => Err(MessageError::MissingField("type".to_owned())),
            Some(_) => Err(invalid("type", "expected a string")),
        }
    }

    fn text(&self, name: &str) -> Result<String, MessageError> {
        let missing = || MessageError::MissingField(name.to_owned());
        match self {
            Fields::Legacy(fields) => fields.get(name).cloned().ok_or_else(missing),
            Fields::Typed(fields) => match fields.get(name).ok_or_else(missing)? {
                Value::String(text) => Ok(text.clone()),
                other => Err(invalid(name, format!("expected a string, got {other}"))),
            },
        }
    }

    /// A database id: a positive integer (a string of digits in legacy bodies).
    fn id(&self, name: &str) -> Result<i64, MessageError> {
        let id = match self {
            Fields::Legacy(_) => self.text(name)?.trim().parse().ok(),
            Fields::Typed(fields) => {
                fields.get(name).ok_or_else(|| MessageError::MissingField(name.to_owned()))?.as_i64()
            }
        };
        id.filter(|&id| id > 0).ok_or_else(|| {
            let got = match self {
                Fields::Legacy(fields) => format!("{:?}", fields.get(name).map_or("", String::as_str)),
                Fields::Typed(fields) => fields.get(name).map_or_else(String::new, Value::to_string),
            };
            invalid(name, format!("expected a positive integer, got {got}"))
        })
    }

    /// An instant that may be absent (`null` counts as absent).
    fn optional_instant(&self, name: &str) -> Result<Option<DateTime<Utc>>, MessageError> {
        match self {
            Fields::Typed(fields) if fields.get(name).is_none_or(Value::is_null) => Ok(None),
            Fields::Legacy(fields) if !fields.contains_key(name) => Ok(None),
            _ => self.instant(name).map(Some),
        }
    }

    /// An instant: `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC in legacy bodies,
    /// RFC 3339 in typed ones.
    fn instant(&self, name: &str) -> Result<DateTime<Utc>, MessageError> {
        let text = self.text(name)?;
        match self {
            Fields::Legacy(_) => parse_legacy_timestamp(&text).ok_or_else(|| {
                invalid(name, format!("expected a UTC time as YYYY-MM-DD HH:MM:SS[.ffffff], got {text:?}"))
            }),
            Fields::Typed(_) => DateTime::parse_from_rfc3339(&text)
                .map(|instant| instant.with_timezone(&Utc))
                .map_err(|error| invalid(name, format!("expected an RFC 3339 time, got {text:?}: {error}"))),
        }
    }
}

/// `2026-12-24 18:00:00[.ffffff]` as UTC; an explicit offset is honoured too.
fn parse_legacy_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map(|naive| naive.and_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(text).map(|instant| instant.with_timezone(&Utc)))
        .ok()
}

/// Typed bodies write instants as RFC 3339 in UTC, to the microsecond when needed.
fn typed_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What a `schedule-notifications` message asks for: the scheduler's typed
/// body (a firing is due) or the HTTP API's legacy body ("notify now").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderRequest {
    /// A scheduled firing is due (schedule-events' typed body).
    Due(ReminderDue),
    /// The API's "notify now" (its legacy body).
    NotifyNow(NotifyNow),
    /// A fan-out that stopped before its last page (its time ran out) goes
    /// on: the firing, whose progress is recorded with it.
    Continue(Firing),
}

impl ReminderRequest {
    /// Reads the typed bodies (`type: reminder_due`, `fan_out_continues`) or
    /// the legacy one (`event_id`, `event_timestamp`).
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        if matches!(json_object(body)?.get("type"), Some(Value::String(t)) if t == Firing::CONTINUE_TYPE) {
            return Firing::parse_continuation(body).map(ReminderRequest::Continue);
        }
        let fields = Fields::parse(body, ReminderDue::TYPE, true)?;
        match fields {
            Fields::Legacy(_) => Ok(ReminderRequest::NotifyNow(NotifyNow {
                event_id: EventId(fields.id("event_id")?),
                event_at: fields.instant("event_timestamp")?,
            })),
            Fields::Typed(_) => Ok(ReminderRequest::Due(ReminderDue {
                event_id: EventId(fields.id("event_id")?),
                trigger_at: fields.instant("trigger_at")?,
            })),
        }
    }

    /// The firing this message is. `sent_at` is when SQS first accepted the
    /// message (its `SentTimestamp`, the same on every redelivery): a
    /// "notify now" is keyed on it, so a redelivery is the same firing and
    /// the API's "once in 24 hours" rule reads when it was asked for.
    pub fn firing(&self, sent_at: DateTime<Utc>) -> Firing {
        match *self {
            ReminderRequest::Due(due) => due.into(),
            ReminderRequest::Continue(firing) => firing,
            ReminderRequest::NotifyNow(now) => Firing {
                event_id: now.event_id,
                trigger_at: sent_at,
                source: ReminderSource::NotifyNow,
                occurrence_at: Some(now.event_at),
            },
        }
    }
}

/// The API's "notify now": remind every member of the event now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyNow {
    /// The event to remind every member of.
    pub event_id: EventId,
    /// The event's own time as the API read it (`events.event_timestamp`):
    /// the occurrence the texts show.
    pub event_at: DateTime<Utc>,
}

/// One firing of an event's reminder, as the fan-out records and sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    /// The event whose reminder fires.
    pub event_id: EventId,
    /// The firing's key with `source`: the trigger time of a scheduled
    /// firing, the request time of a "notify now".
    pub trigger_at: DateTime<Utc>,
    /// Who asked for it: the schedule or a "notify now".
    pub source: ReminderSource,
    /// The occurrence the texts show, when the message names it; otherwise
    /// the event's occurrence for `trigger_at`.
    pub occurrence_at: Option<DateTime<Utc>>,
}

impl Firing {
    const CONTINUE_TYPE: &'static str = "fan_out_continues";

    /// The body of the message that goes on with this firing's fan-out.
    pub fn continuation_body(&self) -> String {
        let mut body = json!({
            "type": Self::CONTINUE_TYPE,
            "event_id": self.event_id,
            "trigger_at": typed_instant(self.trigger_at),
            "source": self.source.as_str(),
        });
        if let Some(occurrence_at) = self.occurrence_at {
            body["occurrence_at"] = json!(typed_instant(occurrence_at));
        }
        body.to_string()
    }

    /// One continuation per page reached: a resent one is dropped by SQS.
    pub fn continuation_deduplication_id(&self, after: UserId) -> String {
        format!("{}-{}-{}-after-{}", self.event_id, self.trigger_at.timestamp_millis(), self.source, after)
    }

    /// The event's firings are handled in order.
    pub fn group_id(&self) -> String {
        format!("event-{}", self.event_id)
    }

    fn parse_continuation(body: &str) -> Result<Self, MessageError> {
        let fields = Fields::parse(body, Self::CONTINUE_TYPE, false)?;
        let source =
            fields.text("source")?.parse().map_err(|e: crate::UnknownVariant| invalid("source", e.to_string()))?;
        let occurrence_at = match fields.text("occurrence_at") {
            Ok(_) => Some(fields.instant("occurrence_at")?),
            Err(MessageError::MissingField(_)) => None,
            Err(other) => return Err(other),
        };
        Ok(Firing {
            event_id: EventId(fields.id("event_id")?),
            trigger_at: fields.instant("trigger_at")?,
            source,
            occurrence_at,
        })
    }
}

impl From<ReminderDue> for Firing {
    fn from(due: ReminderDue) -> Self {
        Firing {
            event_id: due.event_id,
            trigger_at: due.trigger_at,
            source: ReminderSource::Scheduled,
            occurrence_at: None,
        }
    }
}

/// One scheduled firing of an event's reminder is due (queue
/// `schedule-notifications`, written by schedule-events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderDue {
    /// The event whose reminder is due.
    pub event_id: EventId,
    /// The scheduled firing time.
    pub trigger_at: DateTime<Utc>,
}

impl ReminderDue {
    const TYPE: &'static str = "reminder_due";

    /// Reads the typed body only.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        match ReminderRequest::parse(body)? {
            ReminderRequest::Due(due) => Ok(due),
            ReminderRequest::NotifyNow(_) | ReminderRequest::Continue(_) => {
                Err(MessageError::MissingField("type".to_owned()))
            }
        }
    }

    /// The typed body (`type: reminder_due`).
    pub fn to_body(&self) -> String {
        json!({ "type": Self::TYPE, "event_id": self.event_id, "trigger_at": typed_instant(self.trigger_at) })
            .to_string()
    }

    /// One firing is one message, however often it is sent.
    pub fn deduplication_id(&self) -> String {
        format!("{}-{}", self.event_id, self.trigger_at.timestamp())
    }

    /// An event's firings are handled in order.
    pub fn group_id(&self) -> String {
        format!("event-{}", self.event_id)
    }
}

/// What a delivery sends, per channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryContent {
    /// A text message.
    Sms {
        /// The SMS text as sent.
        text: String,
    },
    /// Its body fields are `subject`, `html` and `text`.
    Email(EmailContent),
    /// `message` is the SNS `MessageStructure=json` message.
    Push {
        /// The SNS `MessageStructure=json` message.
        message: String,
    },
}

/// A delivery's content with its receiver parsed for the channel: what a
/// sender hands its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressed<'a> {
    /// A text message.
    Sms {
        /// The member's number.
        to: E164Number,
        /// The SMS text.
        text: &'a str,
    },
    /// An email.
    Email {
        /// The member's address.
        to: EmailAddress,
        /// Subject and bodies.
        email: &'a EmailContent,
    },
    /// A mobile push.
    Push {
        /// The member's app endpoint.
        to: EndpointArn,
        /// The SNS `MessageStructure=json` message.
        message: &'a str,
    },
}

impl Addressed<'_> {
    /// The receiver as logs may carry it.
    pub fn redacted_receiver(&self) -> String {
        match self {
            Addressed::Sms { to, .. } => to.redacted(),
            Addressed::Email { to, .. } => to.redacted(),
            Addressed::Push { to, .. } => to.redacted(),
        }
    }
}

/// One member to remind of one firing (queues `send-sms`, `send-email`,
/// `send-push`). Only the suite writes these, so there is no legacy form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The firing (`event_reminders.id`) this delivery is part of.
    pub reminder_id: ReminderId,
    /// The event reminded of.
    pub event_id: EventId,
    /// The member reminded.
    pub user_id: UserId,
    /// The firing's trigger time.
    pub trigger_at: DateTime<Utc>,
    /// Phone number, email address or SNS endpoint ARN, per channel.
    pub receiver: String,
    /// What is sent, which also says the channel.
    pub content: DeliveryContent,
    /// A `once` reminder's event start: not sent from then on. Absent in
    /// older bodies (never stale).
    pub event_starts_at: Option<DateTime<Utc>>,
    /// A periodical firing's trigger time plus the lateness bound: not sent
    /// after it, unless released from quiet hours. Absent in older bodies.
    pub late_after: Option<DateTime<Utc>>,
}

impl Delivery {
    const TYPE: &'static str = "delivery";

    /// Reads the typed body (`type: delivery`).
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let fields = Fields::parse(body, Self::TYPE, false)?;
        let channel: Channel =
            fields.text("channel")?.parse().map_err(|error| invalid("channel", format!("{error}")))?;
        let content = match channel {
            Channel::Sms => DeliveryContent::Sms { text: fields.text("text")? },
            Channel::Email => DeliveryContent::Email(EmailContent {
                subject: fields.text("subject")?,
                html: fields.text("html")?,
                text: fields.text("text")?,
            }),
            Channel::Push => DeliveryContent::Push { message: fields.text("message")? },
        };
        Ok(Delivery {
            reminder_id: ReminderId(fields.id("reminder_id")?),
            event_id: EventId(fields.id("event_id")?),
            user_id: UserId(fields.id("user_id")?),
            trigger_at: fields.instant("trigger_at")?,
            receiver: fields.text("receiver")?,
            content,
            event_starts_at: fields.optional_instant("event_starts_at")?,
            late_after: fields.optional_instant("late_after")?,
        })
    }

    /// The limits this delivery is sent within.
    pub fn freshness(&self) -> Freshness {
        Freshness { event_starts_at: self.event_starts_at, late_after: self.late_after }
    }

    /// The typed body (`type: delivery`), the content's fields inline.
    pub fn to_body(&self) -> String {
        let mut body = json!({
            "type": Self::TYPE,
            "channel": self.channel(),
            "reminder_id": self.reminder_id,
            "event_id": self.event_id,
            "user_id": self.user_id,
            "trigger_at": typed_instant(self.trigger_at),
            "receiver": self.receiver,
        });
        let content = match &self.content {
            DeliveryContent::Sms { text } => json!({ "text": text }),
            DeliveryContent::Email(EmailContent { subject, html, text }) => {
                json!({ "subject": subject, "html": html, "text": text })
            }
            DeliveryContent::Push { message } => json!({ "message": message }),
        };
        if let (Value::Object(body), Value::Object(content)) = (&mut body, content) {
            body.extend(content);
        }
        for (name, instant) in [("event_starts_at", self.event_starts_at), ("late_after", self.late_after)] {
            if let Some(instant) = instant {
                body[name] = json!(typed_instant(instant));
            }
        }
        body.to_string()
    }

    /// The channel its content is for.
    pub fn channel(&self) -> Channel {
        match self.content {
            DeliveryContent::Sms { .. } => Channel::Sms,
            DeliveryContent::Email(_) => Channel::Email,
            DeliveryContent::Push { .. } => Channel::Push,
        }
    }

    /// The content with the body's receiver parsed for its channel (the
    /// fan-out wrote a parsed one; an older or hand-written body may not
    /// have).
    pub fn addressed(&self) -> Result<Addressed<'_>, ContactError> {
        Ok(match &self.content {
            DeliveryContent::Sms { text } => Addressed::Sms { to: E164Number::parse(&self.receiver)?, text },
            DeliveryContent::Email(email) => Addressed::Email { to: EmailAddress::parse(&self.receiver)?, email },
            DeliveryContent::Push { message } => Addressed::Push { to: EndpointArn::parse(&self.receiver)?, message },
        })
    }

    /// A member is reminded of a firing once.
    pub fn deduplication_id(&self) -> String {
        format!("{}-{}", self.reminder_id, self.user_id)
    }

    /// One member's deliveries are sent in order; members in parallel.
    pub fn group_id(&self) -> String {
        format!("user-{}", self.user_id)
    }

    /// The held delivery re-sent when its quiet hours end: one release per
    /// delivery, distinct from the original send.
    pub fn released_deduplication_id(&self) -> String {
        format!("{}-released", self.deduplication_id())
    }
}

/// A user was invited to a group (queue `group-invitation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInvitation {
    /// The invitation (`group_invitation_logs.id`).
    pub invitation_id: InvitationId,
    /// The invited user.
    pub user_id: UserId,
    /// The group they are invited to.
    pub group_id: GroupId,
}

impl GroupInvitation {
    const TYPE: &'static str = "group_invitation";

    /// Reads the legacy body (`group_invitation_logs_id`, `user_id`,
    /// `group_id`) or the typed one.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let fields = Fields::parse(body, Self::TYPE, true)?;
        let invitation_id = match fields {
            Fields::Legacy(_) => "group_invitation_logs_id",
            Fields::Typed(_) => "invitation_id",
        };
        Ok(GroupInvitation {
            invitation_id: InvitationId(fields.id(invitation_id)?),
            user_id: UserId(fields.id("user_id")?),
            group_id: GroupId(fields.id("group_id")?),
        })
    }

    /// The typed body (`type: group_invitation`).
    pub fn to_body(&self) -> String {
        json!({
            "type": Self::TYPE,
            "invitation_id": self.invitation_id,
            "user_id": self.user_id,
            "group_id": self.group_id,
        })
        .to_string()
    }
}

/// A member commented on an event (queue `comment-push`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentPosted {
    /// The comment (`events_comments.id`).
    pub comment_id: CommentId,
    /// The event commented on.
    pub event_id: EventId,
    /// When it was posted.
    pub commented_at: DateTime<Utc>,
    /// Who wrote it (not pushed to).
    pub author_id: UserId,
    /// The comment's text, previewed in the push.
    pub comment: String,
}

impl CommentPosted {
    const TYPE: &'static str = "comment_posted";

    /// Reads the legacy body (`events_comments_id`, `event_id`,
    /// `event_timestamp`, `user_id`, `comment`) or the typed one.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let fields = Fields::parse(body, Self::TYPE, true)?;
        let (comment_id, commented_at, author_id) = match fields {
            Fields::Legacy(_) => ("events_comments_id", "event_timestamp", "user_id"),
            Fields::Typed(_) => ("comment_id", "commented_at", "author_id"),
        };
        Ok(CommentPosted {
            comment_id: CommentId(fields.id(comment_id)?),
            event_id: EventId(fields.id("event_id")?),
            commented_at: fields.instant(commented_at)?,
            author_id: UserId(fields.id(author_id)?),
            comment: fields.text("comment")?,
        })
    }

    /// The typed body (`type: comment_posted`).
    pub fn to_body(&self) -> String {
        json!({
            "type": Self::TYPE,
            "comment_id": self.comment_id,
            "event_id": self.event_id,
            "commented_at": typed_instant(self.commented_at),
            "author_id": self.author_id,
            "comment": self.comment,
        })
        .to_string()
    }
}

/// The fields of an attribute-style body, by name.
///
/// Only the tests read a whole attribute body; the messages read fields.
#[cfg(test)]
fn parse_attribute_body(body: &str) -> Result<BTreeMap<String, String>, MessageError> {
    attribute_fields(json_object(body)?)
}

/// Only the tests write the API's body.
#[cfg(test)]
impl NotifyNow {
    /// The body exactly as the API writes it: attribute-style fields, the
    /// time as Python's `str()` of a naive UTC datetime.
    fn to_legacy_body(self) -> String {
        let time = self.event_at.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string();
        json!({
            "event_id": {"DataType": "String", "StringValue": self.event_id.to_string()},
            "event_timestamp": {"DataType": "String", "StringValue": time},
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;

    /// A legacy attribute-style body of string fields.
    fn legacy(fields: &[(&str, &str)]) -> String {
        let fields: Map<String, Value> = fields
            .iter()
            .map(|(name, value)| (name.to_string(), json!({ "DataType": "String", "StringValue": value })))
            .collect();
        Value::Object(fields).to_string()
    }

    fn json_of(body: &str) -> Value {
        serde_json::from_str(body).expect("body is JSON")
    }

    fn error_text<T: std::fmt::Debug>(result: Result<T, MessageError>) -> String {
        result.expect_err("should be refused").to_string()
    }

    #[test]
    fn the_contracts_example_parses() {
        let body = r#"{"event_id": {"DataType": "String", "StringValue": "42"},
 "event_timestamp": {"DataType": "String", "StringValue": "2026-12-24 18:00:00"}}"#;
        let notify_now = NotifyNow { event_id: EventId(42), event_at: utc("2026-12-24T18:00:00Z") };
        assert_eq!(ReminderRequest::parse(body), Ok(ReminderRequest::NotifyNow(notify_now)));
        assert_eq!(ReminderRequest::parse(&notify_now.to_legacy_body()), Ok(ReminderRequest::NotifyNow(notify_now)));
        assert_eq!(
            parse_attribute_body(body),
            Ok(BTreeMap::from([
                ("event_id".to_owned(), "42".to_owned()),
                ("event_timestamp".to_owned(), "2026-12-24 18:00:00".to_owned()),
            ]))
        );
    }

    #[test]
    fn legacy_numbers_and_fractional_seconds() {
        let body = r#"{"event_id": {"DataType": "Number", "StringValue": "7"},
 "event_timestamp": {"DataType": "String", "StringValue": "2026-12-24 18:00:00.123456"}}"#;
        let notify_now = NotifyNow { event_id: EventId(7), event_at: utc("2026-12-24T18:00:00.123456Z") };
        assert_eq!(ReminderRequest::parse(body), Ok(ReminderRequest::NotifyNow(notify_now)));
        assert_eq!(ReminderRequest::parse(&notify_now.to_legacy_body()), Ok(ReminderRequest::NotifyNow(notify_now)));
        let with_offset = legacy(&[("event_id", "7"), ("event_timestamp", "2026-12-24T19:00:00+01:00")]);
        let Ok(ReminderRequest::NotifyNow(parsed)) = ReminderRequest::parse(&with_offset) else {
            panic!("a notify-now body")
        };
        assert_eq!(parsed.event_at, utc("2026-12-24T18:00:00Z"));
    }

    #[test]
    fn notify_now_is_keyed_on_when_it_was_sent_and_shows_the_events_time() {
        let request =
            ReminderRequest::NotifyNow(NotifyNow { event_id: EventId(7), event_at: utc("2026-12-24T18:00:00Z") });
        let sent = utc("2026-12-20T09:30:15.250Z");
        assert_eq!(
            request.firing(sent),
            Firing {
                event_id: EventId(7),
                trigger_at: sent,
                source: ReminderSource::NotifyNow,
                occurrence_at: Some(utc("2026-12-24T18:00:00Z")),
            }
        );
        let continued = request.firing(sent);
        assert_eq!(ReminderRequest::parse(&continued.continuation_body()), Ok(ReminderRequest::Continue(continued)));
        let due = ReminderRequest::Due(ReminderDue { event_id: EventId(7), trigger_at: utc("2026-12-23T18:00:00Z") });
        let scheduled = due.firing(sent);
        assert_eq!(ReminderRequest::parse(&scheduled.continuation_body()), Ok(ReminderRequest::Continue(scheduled)));
        assert_eq!(due.firing(sent).trigger_at, utc("2026-12-23T18:00:00Z"));
        assert_eq!(due.firing(sent).source, ReminderSource::Scheduled);
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert_eq!(
            error_text(ReminderRequest::parse(&legacy(&[("event_timestamp", "2026-12-24 18:00:00")]))),
            "missing field `event_id`"
        );
        assert_eq!(
            error_text(ReminderRequest::parse(&legacy(&[
                ("event_id", "abc"),
                ("event_timestamp", "2026-12-24 18:00:00")
            ]))),
            "field `event_id` invalid: expected a positive integer, got \"abc\""
        );
        assert_eq!(
            error_text(ReminderRequest::parse(&legacy(&[
                ("event_id", "-3"),
                ("event_timestamp", "2026-12-24 18:00:00")
            ]))),
            "field `event_id` invalid: expected a positive integer, got \"-3\""
        );
        assert_eq!(
            error_text(ReminderRequest::parse(&legacy(&[("event_id", "42"), ("event_timestamp", "24.12.2026 18:00")]))),
            "field `event_timestamp` invalid: expected a UTC time as YYYY-MM-DD HH:MM:SS[.ffffff], got \"24.12.2026 18:00\""
        );
        assert!(error_text(ReminderRequest::parse("garbage")).starts_with("message body is not JSON: "));
        assert!(error_text(ReminderRequest::parse("")).starts_with("message body is not JSON: "));
        assert_eq!(error_text(ReminderRequest::parse("[1, 2]")), "message body is not a JSON object");
        assert_eq!(
            error_text(ReminderRequest::parse(r#"{"event_id": 42}"#)),
            "field `event_id` invalid: expected {\"DataType\": \"String\", \"StringValue\": \"...\"}, got 42"
        );
        assert_eq!(
            error_text(parse_attribute_body(r#"{"x": {"DataType": "Binary", "StringValue": "AA=="}}"#)),
            "field `x` invalid: unsupported DataType \"Binary\""
        );
        assert_eq!(
            error_text(ReminderRequest::parse(r#"{"type": "delivery"}"#)),
            "unknown message type \"delivery\", expected \"reminder_due\""
        );
        assert_eq!(
            error_text(ReminderRequest::parse(
                r#"{"type": "reminder_due", "event_id": "42", "trigger_at": "2026-12-24T18:00:00Z"}"#
            )),
            "field `event_id` invalid: expected a positive integer, got \"42\""
        );
        assert_eq!(
            error_text(ReminderRequest::parse(
                r#"{"type": "reminder_due", "event_id": 42, "trigger_at": "2026-12-24 18:00"}"#
            )),
            "field `trigger_at` invalid: expected an RFC 3339 time, got \"2026-12-24 18:00\": premature end of input"
        );
    }

    #[test]
    fn reminder_due_typed_round_trip() {
        let due = ReminderDue { event_id: EventId(42), trigger_at: utc("2026-12-24T18:00:00Z") };
        assert_eq!(
            json_of(&due.to_body()),
            json!({ "type": "reminder_due", "event_id": 42, "trigger_at": "2026-12-24T18:00:00Z" })
        );
        assert_eq!(ReminderDue::parse(&due.to_body()), Ok(due));
        assert_eq!(
            ReminderDue::parse(r#"{"type":"reminder_due","event_id":42,"trigger_at":"2026-12-24T18:00:00Z"}"#),
            Ok(due)
        );
        let precise = ReminderDue { trigger_at: utc("2026-12-24T18:00:00.000250Z"), ..due };
        assert_eq!(ReminderDue::parse(&precise.to_body()), Ok(precise));

        assert_eq!(due.deduplication_id(), "42-1798135200");
        assert_eq!(due.group_id(), "event-42");
    }

    fn deliveries() -> Vec<Delivery> {
        let base = |content| Delivery {
            reminder_id: ReminderId(9),
            event_id: EventId(42),
            user_id: UserId(5),
            trigger_at: utc("2026-12-24T18:00:00Z"),
            receiver: "+48500100200".to_owned(),
            content,
            event_starts_at: None,
            late_after: None,
        };
        vec![
            base(DeliveryContent::Sms { text: "Torium reminder!\nParty".to_owned() }),
            base(DeliveryContent::Email(EmailContent {
                subject: "Torium reminder".to_owned(),
                html: "<h1>Torium reminder!</h1>".to_owned(),
                text: "Torium reminder!".to_owned(),
            })),
            base(DeliveryContent::Push { message: r#"{"default":"x","GCM":"{}"}"#.to_owned() }),
        ]
    }

    #[test]
    fn delivery_typed_round_trip() {
        let channels: Vec<Channel> = deliveries().iter().map(Delivery::channel).collect();
        assert_eq!(channels, [Channel::Sms, Channel::Email, Channel::Push]);
        for delivery in deliveries() {
            let body = delivery.to_body();
            let json = json_of(&body);
            assert_eq!(json["type"], "delivery");
            assert_eq!(json["channel"], delivery.channel().as_str());
            assert_eq!(Delivery::parse(&body), Ok(delivery.clone()));
            assert_eq!(delivery.deduplication_id(), "9-5");
            assert_eq!(delivery.group_id(), "user-5");
            assert_eq!(delivery.released_deduplication_id(), "9-5-released");
        }
        let sms = &deliveries()[0];
        assert_eq!(
            json_of(&sms.to_body()),
            json!({
                "type": "delivery",
                "channel": "sms",
                "reminder_id": 9,
                "event_id": 42,
                "user_id": 5,
                "trigger_at": "2026-12-24T18:00:00Z",
                "receiver": "+48500100200",
                "text": "Torium reminder!\nParty",
            })
        );
    }

    #[test]
    fn delivery_limits_round_trip_and_older_bodies_have_none() {
        let once = Delivery { event_starts_at: Some(utc("2026-12-24T18:00:00Z")), ..deliveries()[0].clone() };
        assert_eq!(json_of(&once.to_body())["event_starts_at"], "2026-12-24T18:00:00Z");
        assert_eq!(json_of(&once.to_body()).get("late_after"), None);
        assert_eq!(Delivery::parse(&once.to_body()), Ok(once.clone()));
        assert_eq!(once.freshness().event_starts_at, once.event_starts_at);
        let periodical = Delivery { late_after: Some(utc("2026-12-24T19:00:00.5Z")), ..deliveries()[2].clone() };
        assert_eq!(Delivery::parse(&periodical.to_body()), Ok(periodical.clone()));
        assert_eq!(periodical.freshness().late_after, periodical.late_after);

        // A body written before the limits existed, or with explicit nulls.
        let older = r#"{"type":"delivery","channel":"sms","reminder_id":9,"event_id":42,"user_id":5,
            "trigger_at":"2026-12-24T18:00:00Z","receiver":"+48500100200","text":"hi"}"#;
        let parsed = Delivery::parse(older).expect("an older body");
        assert_eq!((parsed.event_starts_at, parsed.late_after), (None, None));
        assert_eq!(parsed.freshness(), Freshness::default());
        let nulls = older.replace("\"text\"", "\"event_starts_at\":null,\"late_after\":null,\"text\"");
        assert_eq!(Delivery::parse(&nulls), Ok(parsed));
        assert_eq!(
            error_text(Delivery::parse(&older.replace("\"text\"", "\"late_after\":\"soon\",\"text\""))),
            "field `late_after` invalid: expected an RFC 3339 time, got \"soon\": premature end of input"
        );
    }

    #[test]
    fn delivery_refuses_other_bodies() {
        let sms = deliveries()[0].to_body();
        assert_eq!(
            error_text(Delivery::parse(&sms.replace("\"sms\"", "\"fax\""))),
            "field `channel` invalid: \"fax\" is not a valid channel"
        );
        assert_eq!(error_text(Delivery::parse(&sms.replace("\"text\"", "\"body\""))), "missing field `text`");
        assert_eq!(error_text(Delivery::parse(&legacy(&[("user_id", "5")]))), "missing field `type`");
        assert_eq!(
            error_text(Delivery::parse(
                &ReminderDue { event_id: EventId(1), trigger_at: utc("2026-01-01T00:00:00Z") }.to_body()
            )),
            "unknown message type \"reminder_due\", expected \"delivery\""
        );
        assert_eq!(error_text(Delivery::parse(r#"{"type": 3}"#)), "field `type` invalid: expected a string");
        assert!(error_text(Delivery::parse("")).starts_with("message body is not JSON"));
    }

    #[test]
    fn group_invitation_both_forms() {
        let expected = GroupInvitation { invitation_id: InvitationId(3), user_id: UserId(5), group_id: GroupId(8) };
        let body = legacy(&[("group_invitation_logs_id", "3"), ("user_id", "5"), ("group_id", "8")]);
        assert_eq!(GroupInvitation::parse(&body), Ok(expected.clone()));
        assert_eq!(GroupInvitation::parse(&expected.to_body()), Ok(expected.clone()));
        assert_eq!(
            error_text(GroupInvitation::parse(&legacy(&[("user_id", "5"), ("group_id", "8")]))),
            "missing field `group_invitation_logs_id`"
        );
    }

    #[test]
    fn comment_posted_both_forms() {
        let expected = CommentPosted {
            comment_id: CommentId(11),
            event_id: EventId(42),
            commented_at: utc("2026-12-20T10:15:30.5Z"),
            author_id: UserId(5),
            comment: "Zażółć gęślą jaźń 🎉 \"quoted\"".to_owned(),
        };
        let body = legacy(&[
            ("events_comments_id", "11"),
            ("event_id", "42"),
            ("event_timestamp", "2026-12-20 10:15:30.5"),
            ("user_id", "5"),
            ("comment", "Zażółć gęślą jaźń 🎉 \"quoted\""),
        ]);
        assert_eq!(CommentPosted::parse(&body), Ok(expected.clone()));
        assert_eq!(CommentPosted::parse(&expected.to_body()), Ok(expected.clone()));
        let empty_comment = legacy(&[
            ("events_comments_id", "11"),
            ("event_id", "42"),
            ("event_timestamp", "2026-12-20 10:15:30"),
            ("user_id", "5"),
            ("comment", ""),
        ]);
        assert_eq!(CommentPosted::parse(&empty_comment).map(|posted| posted.comment), Ok(String::new()));
    }
}
