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
    /// The enum's name in words (`"channel"`, `"delivery status"`).
    pub kind: &'static str,
    /// The text that was read.
    pub value: String,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal {
        $($(#[$variant_doc:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(
                $(#[$variant_doc])*
                #[doc = concat!("Spelled `", $text, "` in Postgres and on the wire.")]
                #[serde(rename = $text)]
                $variant
            ),+
        }

        impl $name {
            /// Every variant, in declaration order.
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
        /// Recorded, not sent yet (the column's default).
        Pending => "pending",
        /// The provider accepted it (`provider_message_id` is its id).
        Sent => "sent",
        /// The send failed, or a provider reported a failure (the reason is in
        /// `last_error`).
        Failed => "failed",
        /// Not sent, on purpose: no usable channel, stale, or a duplicate
        /// (the row's reason says which).
        Skipped => "skipped",
        // What the providers reported after they accepted it (delivery-events).
        /// The provider reported it delivered.
        Delivered => "delivered",
        /// SES reported a bounce.
        Bounced => "bounced",
        /// The receiver marked the email as spam.
        Complained => "complained",
        /// SES took the email but would not send it on (a Reject event).
        Rejected => "rejected",
        /// Held in the member's quiet hours until `deferred_until` (V8).
        Deferred => "deferred"
    }
);

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `users.id`.
    pub id: UserId,
    /// The Cognito user's `sub` (`users.cognito_user_id`, unique).
    pub cognito_user_id: String,
    /// `users.email` as stored, not checked (the API writes it too).
    pub email: String,
    /// `users.username`; `None` when the sign-up gave none.
    pub username: Option<String>,
    /// `users.mobile_number` as stored; `None` when there is none.
    pub mobile_number: Option<String>,
    /// The channel the user chose; `None` when they never chose.
    pub reminder_preference: Option<ReminderPreference>,
    /// The bank the user pays through; `None` when not set.
    pub organization_id: Option<OrganizationId>,
    /// The SNS endpoint of the user's phone app; `None` without one.
    pub device_arn: Option<String>,
    /// Cognito confirmed the sign-up (`users.is_confirmed`).
    pub confirmed: bool,
    /// When the row was made (`users.timestamp`).
    pub signed_up_at: DateTime<Utc>,
    /// When the sign-up was confirmed; `None` until then.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A group together with the admin whose address invitations come from
/// (what the tests read; the invitation push reads the store's own row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWithAdmin {
    /// `groups.id`.
    pub id: GroupId,
    /// `groups.name`.
    pub name: String,
    /// `groups.admin_id`; `None` only if that user row is gone.
    pub admin: Option<GroupAdmin>,
}

/// The admin of a group: the user invitations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAdmin {
    /// The admin's `users.id`.
    pub user_id: UserId,
    /// The admin's `users.email`.
    pub email: String,
}

/// A row of `events`, with how many members take part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `events.id`.
    pub id: EventId,
    /// The group whose members the event reminds.
    pub group_id: GroupId,
    /// `events.name`, shown in every reminder.
    pub name: String,
    /// `events.description`, shown in the email and, cut, in the SMS.
    pub description: String,
    /// When the event (its first occurrence, for `periodical`) takes place.
    pub event_at: DateTime<Utc>,
    /// IANA zone name, e.g. `Europe/Warsaw`.
    pub time_zone: String,
    /// One reminder, or one per period.
    pub reminder_kind: ReminderKind,
    /// How long before the event a `once` reminder fires, or the period between
    /// `periodical` ones.
    pub schedule_period: SchedulePeriod,
    /// The event's whole budget, shared among its members; `None` for none.
    pub budget: Option<Pln>,
    /// When the scheduler next fires it; `None` when nothing is left to fire
    /// (or its schedule cannot be read).
    pub next_reminder_at: Option<DateTime<Utc>>,
    /// How many people take part (distinct users of `events_users`).
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
    /// Whole calendar months.
    pub months: i32,
    /// Whole calendar days (23 or 25 hours across a DST change).
    pub days: i32,
    /// The rest, as elapsed time.
    pub microseconds: i64,
}

/// An event member as a delivery needs them: how to reach them, and where
/// they pay their share. Contact data are parsed when the row is read: a
/// value on file that is not well formed is `None`, as if missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's `users.id`.
    pub user_id: UserId,
    /// Their address; `None` when missing or not well formed.
    pub email: Option<EmailAddress>,
    /// Their number; `None` when missing or not E.164.
    pub mobile_number: Option<E164Number>,
    /// The channel they chose; `None` when they never chose.
    pub reminder_preference: Option<ReminderPreference>,
    /// The SNS endpoint of their phone app; `None` without one.
    pub device_arn: Option<EndpointArn>,
    /// Where they pay their share (their bank's `organizations.url`); `None`
    /// without a bank.
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
