//! The texts people see (contracts section 4): reminders per channel within
//! each channel's limits, invitation and comment pushes. The wire format
//! those pushes travel in is `push_wire`'s.

use crate::push_wire::{fcm_message, sns_push_message};
use crate::{Channel, DeliveryContent, Event, EventId, Member, Pln};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// Title of reminder pushes and subject of reminder emails.
pub(crate) const REMINDER_TITLE: &str = "Torium reminder";
/// How much of a comment a comment push shows.
pub(crate) const COMMENT_PREVIEW_CHARS: usize = 100;
/// `forward_link` when there is nothing to pay: the app opens any other value.
const NO_FORWARD_LINK: &str = "None";

/// The longest event name and description a reminder SMS carries. An SMS is
/// sent in segments: 160 characters in GSM-7, or 70 in UCS-2 once any
/// character outside GSM-7 appears (Polish letters, emoji); a longer message
/// is split into parts of 153 (GSM-7) or 67 (UCS-2) characters, each charged
/// as one SMS. With these limits a reminder is at most about 420 characters:
/// 3 GSM-7 parts, or 7 UCS-2 parts at worst (a typical one is 2–4).
pub(crate) const SMS_NAME_CHARS: usize = 60;
pub(crate) const SMS_DESCRIPTION_CHARS: usize = 160;
/// The longest description a reminder email carries (SES takes 40 MB; the
/// API's own column holds 500 characters).
pub(crate) const EMAIL_DESCRIPTION_CHARS: usize = 10_000;
/// FCM refuses a message whose payload is over 4 KB; a reminder push's
/// description is shortened until the whole FCM message fits.
pub(crate) const FCM_PAYLOAD_BYTES: usize = 4096;

/// The reminder of `event`'s occurrence at `occurrence_at` as this member
/// receives it on this channel: their share of the budget, their bank's
/// pay link, each channel's text within its limits (an oversized
/// description is shortened with `...`, never an error that loses the
/// reminder).
pub fn member_reminder(
    event: &Event,
    occurrence_at: DateTime<Utc>,
    member: &Member,
    channel: Channel,
) -> DeliveryContent {
    let content = ReminderContent {
        event_name: &event.name,
        description: &event.description,
        event_at: occurrence_at,
        time_zone: &event.time_zone,
        budget: event.budget,
        member_count: event.member_count,
        payment_url: member.organization_payment_url.as_deref(),
    };
    match channel {
        Channel::Sms => DeliveryContent::Sms { text: reminder_sms(&content) },
        Channel::Email => DeliveryContent::Email(reminder_email_within_limits(&content)),
        Channel::Push => DeliveryContent::Push { message: reminder_push_message(&content) },
    }
}

/// The reminder SMS: name and description shortened (with `...`) to the
/// SMS limits above, never refused for its length.
pub(crate) fn reminder_sms(content: &ReminderContent) -> String {
    let name = preview(content.event_name, SMS_NAME_CHARS);
    let description = preview(content.description, SMS_DESCRIPTION_CHARS);
    reminder_text(&ReminderContent { event_name: &name, description: &description, ..content.clone() })
}

/// The reminder email, its description shortened past
/// [`EMAIL_DESCRIPTION_CHARS`].
pub(crate) fn reminder_email_within_limits(content: &ReminderContent) -> EmailContent {
    let description = preview(content.description, EMAIL_DESCRIPTION_CHARS);
    reminder_email(&ReminderContent { description: &description, ..content.clone() })
}

/// The SNS message of the reminder push, its description shortened (with
/// `...`) until the FCM message fits in [`FCM_PAYLOAD_BYTES`].
pub(crate) fn reminder_push_message(content: &ReminderContent) -> String {
    let mut limit = content.description.chars().count();
    loop {
        let description = preview(content.description, limit);
        let name = if limit == 0 { preview(content.event_name, 100) } else { content.event_name.to_owned() };
        let shortened = ReminderContent { event_name: &name, description: &description, ..content.clone() };
        let push = reminder_push(&shortened);
        if fcm_message(&push).len() <= FCM_PAYLOAD_BYTES || limit == 0 {
            return sns_push_message(&push);
        }
        limit /= 2;
    }
}

/// What a reminder tells one member about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReminderContent<'a> {
    pub event_name: &'a str,
    pub description: &'a str,
    pub event_at: DateTime<Utc>,
    /// IANA zone the time is shown in; an unknown zone shows UTC.
    pub time_zone: &'a str,
    pub budget: Option<Pln>,
    pub member_count: i64,
    /// Where this member pays their share (their bank's URL).
    pub payment_url: Option<&'a str>,
}

impl ReminderContent<'_> {
    /// The member's share and where to pay it, when there is one to pay.
    fn payment(&self) -> Option<(Pln, &str)> {
        let url = self.payment_url.filter(|url| !url.trim().is_empty())?;
        Some((share_of(self.budget?, self.member_count)?, url))
    }
}

/// `budget` split between `member_count` people, rounded half away from zero
/// to the grosz; `None` for no people.
pub(crate) fn share_of(budget: Pln, member_count: i64) -> Option<Pln> {
    if member_count <= 0 {
        return None;
    }
    // Exact on grosze: round(g / n) = (2g + n) / 2n for g >= 0.
    let grosze = i128::from(budget.grosze.unsigned_abs());
    let members = i128::from(member_count);
    let share = i64::try_from((2 * grosze + members) / (2 * members)).ok()?;
    Some(Pln::from_grosze(if budget.grosze < 0 { -share } else { share }))
}

/// The reminder as plain text: the SMS, the push body and the email's text part.
pub(crate) fn reminder_text(content: &ReminderContent) -> String {
    let mut lines = vec![format!("{REMINDER_TITLE}!"), content.event_name.to_owned()];
    if !content.description.trim().is_empty() {
        lines.push(content.description.to_owned());
    }
    lines.push(format_event_time(content.event_at, content.time_zone));
    if let Some(budget) = content.budget {
        lines.push(format!("Budget: {budget} PLN"));
    }
    if let Some((share, url)) = content.payment() {
        lines.push(format!("Your share: {share} PLN, pay at {url}"));
    }
    lines.join("\n")
}

/// `24 Dec 2026, 18:00:00` on the event's local clock.
fn format_event_time(event_at: DateTime<Utc>, time_zone: &str) -> String {
    const FORMAT: &str = "%d %b %Y, %H:%M:%S";
    match time_zone.parse::<Tz>() {
        Ok(zone) => event_at.with_timezone(&zone).format(FORMAT).to_string(),
        Err(_) => event_at.format(FORMAT).to_string(),
    }
}

/// An email's subject and its two bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    /// The subject line.
    pub subject: String,
    /// The HTML body (everything from people escaped).
    pub html: String,
    /// The plain-text body.
    pub text: String,
}

/// The reminder email: the text's first line as a heading, the rest as one
/// paragraph with its line breaks kept, everything HTML-escaped.
pub(crate) fn reminder_email(content: &ReminderContent) -> EmailContent {
    let text = reminder_text(content);
    let mut lines = text.lines().map(escape_html);
    let heading = lines.next().unwrap_or_default();
    let body = lines.collect::<Vec<_>>().join("<br>");
    EmailContent { subject: REMINDER_TITLE.to_owned(), html: format!("<h1>{heading}</h1>\n<p>{body}</p>"), text }
}

/// `text` safe to put in HTML element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// A push as the app shows it, plus the data fields it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotification {
    /// The notification's title.
    pub title: String,
    /// The text under it.
    pub body: String,
    /// The data fields the app reads: `title`, `message` (the body) and the
    /// push kind's own (a link, ids).
    pub data: BTreeMap<String, String>,
}

impl PushNotification {
    /// A push whose data carries its `title` and `message` (the body), as
    /// every push of the app does, plus `extra` fields.
    fn with_data<const N: usize>(title: String, body: String, extra: [(&str, String); N]) -> Self {
        let mut data = BTreeMap::from([("title".to_owned(), title.clone()), ("message".to_owned(), body.clone())]);
        data.extend(extra.into_iter().map(|(key, value)| (key.to_owned(), value)));
        PushNotification { title, body, data }
    }
}

/// The push reminding a member of an event.
pub(crate) fn reminder_push(content: &ReminderContent) -> PushNotification {
    let forward_link = content.payment().map_or(NO_FORWARD_LINK, |(_, url)| url).to_owned();
    PushNotification::with_data(REMINDER_TITLE.to_owned(), reminder_text(content), [("forward_link", forward_link)])
}

/// The push inviting a user to a group.
pub fn invitation_push(group_name: &str, admin_email: &str) -> PushNotification {
    PushNotification::with_data(
        format!("{group_name} - Group invitation"),
        format!("From {admin_email}"),
        [("event", "group_invitation".to_owned())],
    )
}

/// The push telling the other members of an event about a new comment.
pub fn comment_push(event_id: EventId, event_name: &str, author_email: &str, comment: &str) -> PushNotification {
    PushNotification::with_data(
        format!("New comment: {event_name}"),
        format!("{author_email}: {}", preview(comment, COMMENT_PREVIEW_CHARS)),
        [("event_id", event_id.to_string())],
    )
}

/// The push telling a member about `count` comments on an event that reach
/// them at once (a comment digest), `latest` being the newest of them: one
/// comment is the plain [`comment_push`]; several are `<count> new comments
/// on <event>` with the latest comment's preview as the body. The data keys
/// are the comment push's own (`title`, `message`, `event_id`): the app
/// reads no other keys for a comment, and `event_id` opens the event.
pub fn comment_digest_push(
    event_id: EventId,
    event_name: &str,
    count: usize,
    latest_author_email: &str,
    latest_comment: &str,
) -> PushNotification {
    if count <= 1 {
        return comment_push(event_id, event_name, latest_author_email, latest_comment);
    }
    PushNotification::with_data(
        format!("{count} new comments on {event_name}"),
        format!("{latest_author_email}: {}", preview(latest_comment, COMMENT_PREVIEW_CHARS)),
        [("event_id", event_id.to_string())],
    )
}

/// The first `max_chars` characters of `text`, with `...` when it was cut.
/// Counts chars, so a cut never splits a UTF-8 sequence.
pub fn preview(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;
    use serde_json::{Value, json};

    fn christmas_party() -> ReminderContent<'static> {
        ReminderContent {
            event_name: "Christmas party",
            description: "Bring a gift",
            event_at: utc("2026-12-24T17:00:00Z"),
            time_zone: "Europe/Warsaw",
            budget: Some(Pln::from_grosze(30_050)),
            member_count: 3,
            payment_url: Some("https://pay.example/pko"),
        }
    }

    #[test]
    fn reminder_text_with_budget_and_payment_url() {
        assert_eq!(
            reminder_text(&christmas_party()),
            "Torium reminder!\nChristmas party\nBring a gift\n24 Dec 2026, 18:00:00\n\
             Budget: 300.50 PLN\nYour share: 100.17 PLN, pay at https://pay.example/pko"
        );
    }

    #[test]
    fn reminder_text_without_what_is_missing() {
        let no_budget = ReminderContent { budget: None, ..christmas_party() };
        assert_eq!(reminder_text(&no_budget), "Torium reminder!\nChristmas party\nBring a gift\n24 Dec 2026, 18:00:00");

        let no_url = ReminderContent { payment_url: None, ..christmas_party() };
        assert_eq!(
            reminder_text(&no_url),
            "Torium reminder!\nChristmas party\nBring a gift\n24 Dec 2026, 18:00:00\nBudget: 300.50 PLN"
        );

        let no_members = ReminderContent { member_count: 0, ..christmas_party() };
        assert_eq!(reminder_text(&no_members), reminder_text(&no_url));

        let no_description = ReminderContent { description: "", budget: None, ..christmas_party() };
        assert_eq!(reminder_text(&no_description), "Torium reminder!\nChristmas party\n24 Dec 2026, 18:00:00");
    }

    #[test]
    fn shares_round_half_up_to_the_grosz() {
        let share = |grosze, members| share_of(Pln::from_grosze(grosze), members).map(|share| share.to_string());
        assert_eq!(share(10_000, 3).as_deref(), Some("33.33"));
        assert_eq!(share(5, 2).as_deref(), Some("0.03"));
        assert_eq!(share(30_050, 3).as_deref(), Some("100.17"));
        assert_eq!(share(20_000, 3).as_deref(), Some("66.67"));
        assert_eq!(share(15_000, 1).as_deref(), Some("150.00"));
        assert_eq!(share(-5, 2).as_deref(), Some("-0.03"));
        assert_eq!(share(i64::MAX, 2), share_of(Pln::from_grosze(i64::MAX / 2 + 1), 1).map(|s| s.to_string()));
        assert_eq!(share(10_000, 0), None);

        let content = ReminderContent { budget: Some(Pln::from_grosze(10_000)), ..christmas_party() };
        assert!(reminder_text(&content).ends_with("Your share: 33.33 PLN, pay at https://pay.example/pko"));
    }

    #[test]
    fn the_time_is_shown_on_the_event_clock() {
        let at = |event_at, time_zone| {
            let content = ReminderContent { event_at: utc(event_at), time_zone, ..christmas_party() };
            reminder_text(&content).lines().nth(3).map(str::to_owned)
        };
        assert_eq!(at("2026-01-15T17:00:00Z", "Europe/Warsaw").as_deref(), Some("15 Jan 2026, 18:00:00"));
        assert_eq!(at("2026-07-15T16:00:00Z", "Europe/Warsaw").as_deref(), Some("15 Jul 2026, 18:00:00"));
        assert_eq!(at("2026-07-15T16:00:00Z", "Mars/Olympus_Mons").as_deref(), Some("15 Jul 2026, 16:00:00"));
        assert_eq!(at("2026-07-05T06:07:08Z", "UTC").as_deref(), Some("05 Jul 2026, 06:07:08"));
    }

    #[test]
    fn email_escapes_what_people_wrote() {
        let content = ReminderContent {
            event_name: "<script>alert(1)</script>",
            description: "Tom & Jerry's \"party\"\nsecond line",
            payment_url: Some("https://pay.example/?a=1&b=<2>"),
            ..christmas_party()
        };
        let email = reminder_email(&content);
        assert_eq!(email.subject, "Torium reminder");
        assert_eq!(email.text, reminder_text(&content));
        assert_eq!(
            email.html,
            "<h1>Torium reminder!</h1>\n<p>&lt;script&gt;alert(1)&lt;/script&gt;<br>\
             Tom &amp; Jerry&#39;s &quot;party&quot;<br>second line<br>24 Dec 2026, 18:00:00<br>\
             Budget: 300.50 PLN<br>Your share: 100.17 PLN, pay at https://pay.example/?a=1&amp;b=&lt;2&gt;</p>"
        );
        let scripted = ReminderContent { description: "<script>alert(1)</script>", ..content };
        assert!(!reminder_email(&scripted).html.contains("<script>"));
    }

    /// The `GCM` value of an SNS message, parsed back.
    fn gcm_message(push: &PushNotification) -> Value {
        let outer: Value = serde_json::from_str(&sns_push_message(push)).expect("SNS message is JSON");
        assert_eq!(outer["default"], Value::String(push.body.clone()));
        let gcm = outer["GCM"].as_str().expect("GCM is a JSON string");
        let inner: Value = serde_json::from_str(gcm).expect("GCM string is JSON");
        inner["fcmV1Message"]["message"].clone()
    }

    #[test]
    fn reminder_push_in_the_shape_the_app_reads() {
        let push = reminder_push(&christmas_party());
        assert_eq!(push.title, "Torium reminder");
        assert_eq!(push.body, reminder_text(&christmas_party()));

        let message = gcm_message(&push);
        assert_eq!(
            message,
            json!({
                "notification": { "title": "Torium reminder", "body": push.body },
                "android": { "priority": "high", "notification": { "sound": "default" } },
                "apns": {
                    "headers": {
                        "apns-priority": "5",
                        "apns-push-type": "background",
                        "apns-topic": "io.flutter.plugins.firebase.messaging",
                    },
                    "payload": { "aps": { "content-available": 1, "sound": "default" } },
                },
                "data": {
                    "title": "Torium reminder",
                    "message": push.body,
                    "forward_link": "https://pay.example/pko",
                },
            })
        );
    }

    #[test]
    fn forward_link_is_the_string_none_without_something_to_pay() {
        for content in [
            ReminderContent { payment_url: None, ..christmas_party() },
            ReminderContent { budget: None, ..christmas_party() },
            ReminderContent { payment_url: Some(" "), ..christmas_party() },
        ] {
            let message = gcm_message(&reminder_push(&content));
            assert_eq!(message["data"]["forward_link"], "None");
        }
    }

    #[test]
    fn invitation_push_texts() {
        let push = invitation_push("Climbers", "anna@example.com");
        assert_eq!(push.title, "Climbers - Group invitation");
        assert_eq!(push.body, "From anna@example.com");
        let message = gcm_message(&push);
        assert_eq!(
            message["data"],
            json!({
                "event": "group_invitation",
                "title": "Climbers - Group invitation",
                "message": "From anna@example.com",
            })
        );
        assert_eq!(message["notification"]["title"], "Climbers - Group invitation");
    }

    #[test]
    fn comment_push_texts() {
        let push = comment_push(EventId(42), "Christmas party", "anna@example.com", "See you there!");
        assert_eq!(push.title, "New comment: Christmas party");
        assert_eq!(push.body, "anna@example.com: See you there!");
        assert_eq!(
            gcm_message(&push)["data"],
            json!({
                "title": "New comment: Christmas party",
                "message": "anna@example.com: See you there!",
                "event_id": "42",
            })
        );

        let long = "ż".repeat(150);
        let push = comment_push(EventId(1), "E", "a@b.c", &long);
        assert_eq!(push.body, format!("a@b.c: {}...", "ż".repeat(100)));
    }

    #[test]
    fn comment_digest_push_texts() {
        let one = comment_digest_push(EventId(42), "Christmas dinner", 1, "anna@example.com", "See you there!");
        assert_eq!(one, comment_push(EventId(42), "Christmas dinner", "anna@example.com", "See you there!"));

        let long = "ż".repeat(150);
        let three = comment_digest_push(EventId(42), "Christmas dinner", 3, "bob@example.com", &long);
        assert_eq!(three.title, "3 new comments on Christmas dinner");
        assert_eq!(three.body, format!("bob@example.com: {}...", "ż".repeat(100)));
        assert_eq!(
            gcm_message(&three)["data"],
            json!({
                "title": "3 new comments on Christmas dinner",
                "message": three.body,
                "event_id": "42",
            }),
            "the comment push's keys only: the app opens the event"
        );
    }

    #[test]
    fn previews_cut_on_character_boundaries() {
        assert_eq!(preview("Zażółć gęślą jaźń", 6), "Zażółć...");
        assert_eq!(preview("Zażółć", 6), "Zażółć");
        assert_eq!(preview("Zażółć", 7), "Zażółć");
        assert_eq!(preview("🎉🎄🎁", 2), "🎉🎄...");
        assert_eq!(preview("a🎉b", 1), "a...");
        assert_eq!(preview("", 0), "");
        assert_eq!(preview("x", 0), "...");
        let exactly = "é".repeat(COMMENT_PREVIEW_CHARS);
        assert_eq!(preview(&exactly, COMMENT_PREVIEW_CHARS), exactly);
    }

    #[test]
    fn oversized_descriptions_are_shortened_per_channel_never_refused() {
        let long = "Zażółć gęślą jaźń 🎄 ".repeat(400);
        let content = ReminderContent { description: &long, ..christmas_party() };
        let sms = reminder_sms(&content);
        assert!(sms.chars().count() <= 420, "{} characters", sms.chars().count());
        assert!(sms.contains("..."), "{sms}");
        let push = reminder_push_message(&content);
        let outer: Value = serde_json::from_str(&push).unwrap();
        let fcm = outer["GCM"].as_str().unwrap();
        assert!(fcm.len() <= FCM_PAYLOAD_BYTES, "{} bytes", fcm.len());
        assert!(outer["default"].as_str().unwrap().contains("..."));
        let email = reminder_email_within_limits(&content);
        assert!(email.text.chars().count() < EMAIL_DESCRIPTION_CHARS + 200);
        // A short one goes out whole on every channel.
        let short = christmas_party();
        assert_eq!(reminder_sms(&short), reminder_text(&short));
        assert_eq!(reminder_push_message(&short), sns_push_message(&reminder_push(&short)));
    }
}
