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
mod texts;

pub use alerts::{
    AlertPlan, DeliveryRates, EMAIL_BOUNCE_RULE, EMAIL_COMPLAINT_RULE, Finding, Notice, OpenCondition, RATE_MIN_SAMPLE,
    RATE_WINDOW, RateRule, SMS_FAILURE_RULE, Severity, UnreadableSchedule, WebhookFormat, delivery_rate_findings,
    plan_alerts, rate_findings, unreadable_schedules_finding, webhook_payload,
};
pub use contact::{ContactError, E164Number, EmailAddress, EndpointArn};
pub use delivery::{DeliveryKey, DeliveryOutcome, UserEffect};
pub use freshness::{Freshness, Stale};
pub use messages::{
    Addressed, CommentPosted, Delivery, DeliveryContent, Firing, GroupInvitation, MessageError, NotifyNow, ReminderDue,
    ReminderRequest, parse_attribute_body,
};
pub use model::*;
pub use money::{BadAmount, Pln};
pub use planning::{FiringPlan, MAX_RECORDED_SKIPS, plan_firings};
pub use push_wire::{APNS_TOPIC, sns_push_message};
pub use quiet_hours::{QuietDecision, QuietHours, SendDecision, member_zone, send_decision};
pub use reports::{
    BounceType, DeliveryReport, Report, ReportError, ReportSource, ReportedOutcome, ReportedUserEffect,
    parse_push_event, parse_ses_event, parse_sms_receipt, parse_sns_message,
};
pub use routing::{FALLBACK_ORDER, NoRoute, Receiver, Unusable, route};
pub use schedule::{MIN_PERIODICAL_PERIOD, ReminderSchedule, ScheduleError, is_too_late, known_time_zone_names};
pub use signup::{SignUp, SignUpError};
pub use texts::{
    COMMENT_PREVIEW_CHARS, EMAIL_DESCRIPTION_CHARS, EmailContent, FCM_PAYLOAD_BYTES, PushNotification, REMINDER_TITLE,
    ReminderContent, SMS_DESCRIPTION_CHARS, SMS_NAME_CHARS, comment_digest_push, comment_push, escape_html,
    invitation_push, member_reminder, preview, reminder_email, reminder_email_within_limits, reminder_push,
    reminder_push_message, reminder_sms, reminder_text, share_of,
};
