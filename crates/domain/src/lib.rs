//! Torium's domain: the people, groups and events the suite reminds about,
//! and the vocabulary the rest of the suite shares. Pure: no I/O, so every
//! rule here is unit-tested without a database or AWS.

mod alerts;
mod contact;
mod delivery;
mod freshness;
mod messages;
mod model;
mod money;
mod planning;
mod push_wire;
mod quiet_hours;
mod reports;
mod routing;
mod schedule;
mod signup;
#[cfg(test)]
mod test_time;
mod texts;

pub use alerts::{
    AlertPlan, DeliveryRates, Finding, Notice, OpenCondition, RATE_MIN_SAMPLE, RATE_WINDOW, Severity,
    UnreadableSchedule, WebhookFormat, delivery_rate_findings, plan_alerts, unreadable_schedules_finding,
    webhook_payload,
};
pub use contact::{ContactError, E164Number, EmailAddress, EndpointArn};
pub use delivery::{DeliveryKey, DeliveryOutcome, UserEffect};
pub use freshness::{Freshness, Stale};
pub use messages::{
    Addressed, CommentPosted, Delivery, DeliveryContent, Firing, GroupInvitation, MessageError, NotifyNow, ReminderDue,
    ReminderRequest,
};
pub use model::*;
pub use money::{BadAmount, Pln};
pub use planning::plan_firings;
pub use push_wire::sns_push_message;
pub use quiet_hours::{QuietDecision, QuietHours, SendDecision, member_zone, send_decision};
pub use reports::{
    BounceType, DeliveryReport, Report, ReportError, ReportSource, ReportedOutcome, ReportedUserEffect,
    parse_sms_receipt, parse_sns_message,
};
pub use routing::{NoRoute, Receiver, Unusable, route};
pub use schedule::{ReminderSchedule, ScheduleError, known_time_zone_names};
pub use signup::{SignUp, SignUpError};
pub use texts::{
    EmailContent, PushNotification, comment_digest_push, comment_push, invitation_push, member_reminder, preview,
};
