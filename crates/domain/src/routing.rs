//! By which channel each member is reached (schedule-notifications): the
//! preferred channel when it can be used, the next usable one otherwise.

use crate::{Channel, Member, ReminderPreference, is_plausible_email};

/// `+48500100200`: a plus, a non-zero digit, 7 to 15 digits in all.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// How one member is reached, and at which address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub channel: Channel,
    /// Phone number, email address or SNS endpoint ARN.
    pub receiver: String,
}

/// Why a member cannot be reached: each channel's reason, in fallback order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    pub sms: Unusable,
    pub push: Unusable,
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
pub const FALLBACK_ORDER: [Channel; 3] = [Channel::Sms, Channel::Push, Channel::Email];

/// The member's preferred channel when it can be used (no preference means
/// email), otherwise the first usable one of [`FALLBACK_ORDER`]: SMS with a
/// valid E.164 number that has not opted out, push with an endpoint, email
/// with a plausible address that is not suppressed. `Err`: none is usable,
/// and why.
pub fn route(member: &Member) -> Result<Route, NoRoute> {
    let preferred = match member.reminder_preference {
        Some(ReminderPreference::Sms) => Channel::Sms,
        Some(ReminderPreference::Push) => Channel::Push,
        Some(ReminderPreference::Email) | None => Channel::Email,
    };
    let mut reasons = NoRoute { sms: Unusable::Missing, push: Unusable::Missing, email: Unusable::Missing };
    for channel in std::iter::once(preferred).chain(FALLBACK_ORDER) {
        match receiver(member, channel) {
            Ok(receiver) => return Ok(Route { channel, receiver }),
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
fn receiver(member: &Member, channel: Channel) -> Result<String, Unusable> {
    let usable = |value: Option<&str>, valid: fn(&str) -> bool| {
        value.map(str::trim).filter(|v| valid(v)).map(str::to_owned).ok_or(Unusable::Missing)
    };
    match channel {
        Channel::Sms => {
            let number = usable(member.mobile_number.as_deref(), is_e164)?;
            if member.sms_opted_out { Err(Unusable::OptedOut) } else { Ok(number) }
        }
        Channel::Push => usable(member.device_arn.as_deref(), |arn| arn.starts_with("arn:")),
        Channel::Email => {
            let email = usable(Some(&member.email), is_plausible_email)?;
            if member.email_suppressed { Err(Unusable::Suppressed) } else { Ok(email) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;

    #[test]
    fn e164_numbers() {
        for good in ["+48500100200", "+12025550123", "+4420"] {
            assert_eq!(is_e164(good), good.len() >= 8, "{good}");
        }
        for bad in ["48500100200", "+048500100200", "+48 500 100 200", "+48-500", "", "+", "+1234567890123456"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    fn member(preference: Option<ReminderPreference>, phone: Option<&str>, device: Option<&str>) -> Member {
        Member {
            user_id: UserId(1),
            email: "ala@example.com".into(),
            mobile_number: phone.map(Into::into),
            reminder_preference: preference,
            device_arn: device.map(Into::into),
            organization_payment_url: None,
            sms_opted_out: false,
            email_suppressed: false,
        }
    }

    fn routed(m: &Member) -> Option<(Channel, String)> {
        route(m).ok().map(|r| (r.channel, r.receiver))
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
        m.email = "not-an-address".into();
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
