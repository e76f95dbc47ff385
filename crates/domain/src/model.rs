//! The data model of `../shared/torium-contracts.md` section 5, as typed
//! values. The enums mirror the Postgres enums of `migrations/` one to one:
//! `as_str` is the database spelling and `FromStr` its inverse.

use crate::{E164Number, EmailAddress, EndpointArn, Pln};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// `users.id`: the database user id (Cognito's `custom:user_id`).
    UserId
);
id_type!(
    /// `groups.id`.
    GroupId
);
id_type!(
    /// `events.id`.
    EventId
);
id_type!(
    /// `event_reminders.id`: one firing of an event's reminder.
    ReminderId
);
id_type!(
    /// `organizations.id`: a bank members pay their share through.
    OrganizationId
);
id_type!(
    /// `group_invitation_logs.id`.
    InvitationId
);
id_type!(
    /// `events_comments.id`.
    CommentId
);

/// A value that is not one of an enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in Postgres and on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { kind: $kind, value: value.to_owned() }),
                }
            }
        }
    };
}

string_enum!(
    /// How a user wants to be reminded (`users.reminder_preference`).
    ReminderPreference, "reminder preference" { Sms => "SMS", Push => "PUSH", Email => "EMAIL" }
);
string_enum!(
    /// `events.reminder_kind`: a single reminder, or one every period.
    ReminderKind, "reminder kind" { Once => "once", Periodical => "periodical" }
);
string_enum!(
    /// `users_groups.role`.
    MemberRole, "member role" { Standard => "standard", Admin => "admin", Moderator => "moderator" }
);
string_enum!(
    /// `group_invitation_logs.status`.
    InvitationStatus, "invitation status" {
        Pending => "pending", Sent => "sent", Confirmed => "confirmed", Rejected => "rejected"
    }
);
string_enum!(
    /// The way a delivery reaches a person.
    Channel, "channel" { Sms => "sms", Email => "email", Push => "push" }
);
string_enum!(
    /// `event_reminders.source`: who asked for a firing.
    ReminderSource, "reminder source" { Scheduled => "scheduled", NotifyNow => "notify_now" }
);
string_enum!(
    /// A delivery log row's state.
    DeliveryStatus, "delivery status" {
        Pending => "pending", Sent => "sent", Failed => "failed", Skipped => "skipped",
        // What the providers reported after they accepted it (delivery-events).
        Delivered => "delivered", Bounced => "bounced", Complained => "complained", Rejected => "rejected",
        // Held in the member's quiet hours until `deferred_until` (V8).
        Deferred => "deferred"
    }
);

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub cognito_user_id: String,
    pub email: String,
    pub username: Option<String>,
    pub mobile_number: Option<String>,
    pub reminder_preference: Option<ReminderPreference>,
    pub organization_id: Option<OrganizationId>,
    pub device_arn: Option<String>,
    pub confirmed: bool,
    pub signed_up_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A group together with the admin whose address invitations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWithAdmin {
    pub id: GroupId,
    pub name: String,
    /// `groups.admin_id`; `None` only if that user row is gone.
    pub admin: Option<GroupAdmin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAdmin {
    pub user_id: UserId,
    pub email: String,
}

/// A row of `events`, with how many members take part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub group_id: GroupId,
    pub name: String,
    pub description: String,
    pub event_at: DateTime<Utc>,
    /// IANA zone name, e.g. `Europe/Warsaw`.
    pub time_zone: String,
    pub reminder_kind: ReminderKind,
    pub schedule_period: SchedulePeriod,
    pub budget: Option<Pln>,
    pub next_reminder_at: Option<DateTime<Utc>>,
    pub member_count: i64,
}

impl Event {
    /// The occurrence a firing reminds of: the event itself for `once`; for
    /// `periodical` the occurrence the firing falls on (periodical firings
    /// are the occurrences themselves).
    pub fn occurrence_at(&self, trigger_at: DateTime<Utc>) -> DateTime<Utc> {
        match self.reminder_kind {
            ReminderKind::Once => self.event_at,
            ReminderKind::Periodical => trigger_at,
        }
    }
}

/// A Postgres `interval`, kept in its three independent parts: a month is
/// not a fixed number of days, nor (across DST) a day a fixed number of
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchedulePeriod {
    pub months: i32,
    pub days: i32,
    pub microseconds: i64,
}

/// An event member as a delivery needs them: how to reach them, and where
/// they pay their share. Contact data are parsed when the row is read: a
/// value on file that is not well formed is `None`, as if missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub email: Option<EmailAddress>,
    pub mobile_number: Option<E164Number>,
    pub reminder_preference: Option<ReminderPreference>,
    pub device_arn: Option<EndpointArn>,
    pub organization_payment_url: Option<String>,
    /// The number opted out of SMS (`users.sms_opted_out`).
    pub sms_opted_out: bool,
    /// The address bounced permanently or complained
    /// (`users.email_suppressed_at` is set).
    pub email_suppressed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_database_spelling() {
        for p in ReminderPreference::ALL {
            assert_eq!(p.as_str().parse::<ReminderPreference>(), Ok(*p));
        }
        for k in ReminderKind::ALL {
            assert_eq!(k.as_str().parse::<ReminderKind>(), Ok(*k));
        }
        for r in MemberRole::ALL {
            assert_eq!(r.as_str().parse::<MemberRole>(), Ok(*r));
        }
        for s in InvitationStatus::ALL {
            assert_eq!(s.as_str().parse::<InvitationStatus>(), Ok(*s));
        }
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(*c));
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>(), Ok(*s));
        }
    }

    #[test]
    fn unknown_spelling_is_a_clear_error() {
        let err = "sms".parse::<ReminderPreference>().unwrap_err();
        assert_eq!(err.to_string(), "\"sms\" is not a valid reminder preference");
    }

    #[test]
    fn serde_uses_the_database_spelling() {
        assert_eq!(serde_json::to_string(&ReminderPreference::Push).unwrap(), "\"PUSH\"");
        assert_eq!(serde_json::from_str::<Channel>("\"email\"").unwrap(), Channel::Email);
    }
}
