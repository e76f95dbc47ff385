//! By which channel each member is reached (schedule-notifications): the
//! preferred channel when it can be used, the next usable one otherwise.

use crate::{Channel, E164Number, EmailAddress, EndpointArn, Member, ReminderPreference};

/// Whom a member is reached at, on which channel: the number, address or
/// endpoint the member's row held, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receiver {
    /// A text to this number.
    Sms(E164Number),
    /// An email to this address.
    Email(EmailAddress),
    /// A push to this app endpoint.
    Push(EndpointArn),
}

impl Receiver {
    /// The channel it is reached on.
    pub fn channel(&self) -> Channel {
        match self {
            Receiver::Sms(_) => Channel::Sms,
            Receiver::Email(_) => Channel::Email,
            Receiver::Push(_) => Channel::Push,
        }
    }

    /// The whole value, as the delivery body carries it.
    pub fn as_str(&self) -> &str {
        match self {
            Receiver::Sms(number) => number.as_str(),
            Receiver::Email(email) => email.as_str(),
            Receiver::Push(arn) => arn.as_str(),
        }
    }

    /// The value as logs may carry it.
    pub fn redacted(&self) -> String {
        match self {
            Receiver::Sms(number) => number.redacted(),
            Receiver::Email(email) => email.redacted(),
            Receiver::Push(arn) => arn.redacted(),
        }
    }
}

/// Why a member cannot be reached: each channel's reason, in fallback order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    /// Why SMS cannot be used.
    pub sms: Unusable,
    /// Why push cannot be used.
    pub push: Unusable,
    /// Why email cannot be used.
    pub email: Unusable,
}

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no usable channel: sms {}, push {}, email {}", self.sms, self.push, self.email)
    }
}

/// Why one channel cannot reach a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// No number, endpoint or address on file, or not a valid one.
    Missing,
    /// The number opted out of SMS.
    OptedOut,
    /// The address bounced permanently or complained (`email_suppressed_at`).
    Suppressed,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unusable::Missing => "missing or invalid",
            Unusable::OptedOut => "opted out",
            Unusable::Suppressed => "suppressed",
        })
    }
}

/// The order channels are tried in after the preferred one.
pub(crate) const FALLBACK_ORDER: [Channel; 3] = [Channel::Sms, Channel::Push, Channel::Email];

/// The member's preferred channel when it can be used (no preference means
/// email), otherwise the first usable one of [`FALLBACK_ORDER`]: SMS with a
/// valid E.164 number that has not opted out, push with an endpoint, email
/// with a plausible address that is not suppressed. `Err`: none is usable,
/// and why.
pub fn route(member: &Member) -> Result<Receiver, NoRoute> {
    let preferred = match member.reminder_preference {
        Some(ReminderPreference::Sms) => Channel::Sms,
        Some(ReminderPreference::Push) => Channel::Push,
        Some(ReminderPreference::Email) | None => Channel::Email,
    };
    let mut reasons = NoRoute { sms: Unusable::Missing, push: Unusable::Missing, email: Unusable::Missing };
    for channel in std::iter::once(preferred).chain(FALLBACK_ORDER) {
        match receiver(member, channel) {
            Ok(receiver) => return Ok(receiver),
            Err(why) => match channel {
                Channel::Sms => reasons.sms = why,
                Channel::Push => reasons.push = why,
                Channel::Email => reasons.email = why,
            },
        }
    }
    Err(reasons)
}

/// The member's address on one channel, if that channel can be used.
fn receiver(member: &Member, channel: Channel) -> Result<Receiver, Unusable> {
    match channel {
        Channel::Sms => {
            let number = member.mobile_number.clone().ok_or(Unusable::Missing)?;
            if member.sms_opted_out { Err(Unusable::OptedOut) } else { Ok(Receiver::Sms(number)) }
        }
        Channel::Push => member.device_arn.clone().map(Receiver::Push).ok_or(Unusable::Missing),
        Channel::Email => {
            let email = member.email.clone().ok_or(Unusable::Missing)?;
            if member.email_suppressed { Err(Unusable::Suppressed) } else { Ok(Receiver::Email(email)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;

    fn member(preference: Option<ReminderPreference>, phone: Option<&str>, device: Option<&str>) -> Member {
        Member {
            user_id: UserId(1),
            email: EmailAddress::parse("ala@example.com").ok(),
            mobile_number: phone.and_then(|p| E164Number::parse(p).ok()),
            reminder_preference: preference,
            device_arn: device.and_then(|d| EndpointArn::parse(d).ok()),
            organization_payment_url: None,
            sms_opted_out: false,
            email_suppressed: false,
        }
    }

    fn routed(m: &Member) -> Option<(Channel, String)> {
        route(m).ok().map(|r| (r.channel(), r.as_str().to_owned()))
    }

    #[test]
    fn members_are_routed_by_preference_with_email_as_fallback() {
        use ReminderPreference::*;
        let arn = "arn:aws:sns:eu-central-1:123456789012:endpoint/GCM/torium/1";
        let email = || Some((Channel::Email, "ala@example.com".to_owned()));
        assert_eq!(routed(&member(Some(Sms), Some("+48500100200"), None)), Some((Channel::Sms, "+48500100200".into())));
        assert_eq!(routed(&member(Some(Sms), Some("500 100 200"), None)), email());
        assert_eq!(routed(&member(Some(Sms), None, None)), email());
        assert_eq!(routed(&member(Some(Push), None, Some(arn))), Some((Channel::Push, arn.into())));
        assert_eq!(routed(&member(Some(Push), None, None)), email(), "PUSH without a device or number: email");
        assert_eq!(routed(&member(Some(Push), None, Some(""))), email());
        assert_eq!(routed(&member(Some(Email), Some("+48500100200"), Some(arn))), email());
        assert_eq!(routed(&member(None, Some("+48500100200"), Some(arn))), email(), "no preference means email");
    }

    #[test]
    fn a_member_without_any_usable_channel_has_no_route() {
        let mut m = member(Some(ReminderPreference::Push), None, None);
        m.email = EmailAddress::parse("not-an-address").ok();
        let no_route = route(&m).unwrap_err();
        assert_eq!(
            no_route.to_string(),
            "no usable channel: sms missing or invalid, push missing or invalid, email missing or invalid"
        );
    }

    #[test]
    fn an_unusable_preferred_channel_falls_back_to_sms_then_push_then_email() {
        use ReminderPreference::*;
        let arn = "arn:aws:sns:eu-central-1:123456789012:endpoint/GCM/torium/1";
        let phone = "+48500100200";
        // PUSH without an endpoint, with a number: SMS comes first.
        assert_eq!(routed(&member(Some(Push), Some(phone), None)), Some((Channel::Sms, phone.into())));
        // SMS opted out: push if there is an endpoint, email otherwise.
        let mut opted_out = member(Some(Sms), Some(phone), Some(arn));
        opted_out.sms_opted_out = true;
        assert_eq!(routed(&opted_out), Some((Channel::Push, arn.into())));
        opted_out.device_arn = None;
        assert_eq!(routed(&opted_out), Some((Channel::Email, "ala@example.com".into())));
        // A suppressed email: SMS, then push.
        let mut bounced = member(Some(Email), Some(phone), Some(arn));
        bounced.email_suppressed = true;
        assert_eq!(routed(&bounced), Some((Channel::Sms, phone.into())));
        bounced.mobile_number = None;
        assert_eq!(routed(&bounced), Some((Channel::Push, arn.into())));
        let mut nothing_left = member(None, Some(phone), None);
        nothing_left.email_suppressed = true;
        nothing_left.sms_opted_out = true;
        assert_eq!(
            route(&nothing_left).unwrap_err(),
            NoRoute { sms: Unusable::OptedOut, push: Unusable::Missing, email: Unusable::Suppressed }
        );
    }
}
