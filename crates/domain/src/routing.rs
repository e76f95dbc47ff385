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

/// The member's preferred channel when it can be used, email otherwise:
/// PUSH without a device endpoint and SMS without a valid E.164 number fall
/// back to email; no preference means email. `None`: no usable channel.
pub fn route(member: &Member) -> Option<Route> {
    let preferred = match member.reminder_preference {
        Some(ReminderPreference::Sms) => member
            .mobile_number
            .as_deref()
            .map(str::trim)
            .filter(|n| is_e164(n))
            .map(|n| Route { channel: Channel::Sms, receiver: n.to_owned() }),
        Some(ReminderPreference::Push) => member
            .device_arn
            .as_deref()
            .map(str::trim)
            .filter(|arn| arn.starts_with("arn:"))
            .map(|arn| Route { channel: Channel::Push, receiver: arn.to_owned() }),
        Some(ReminderPreference::Email) | None => None,
    };
    preferred.or_else(|| {
        let email = member.email.trim();
        is_plausible_email(email).then(|| Route { channel: Channel::Email, receiver: email.to_owned() })
    })
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
        }
    }

    fn routed(m: &Member) -> Option<(Channel, String)> {
        route(m).map(|r| (r.channel, r.receiver))
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
        assert_eq!(routed(&member(Some(Push), None, None)), email(), "PUSH without a device falls back to email");
        assert_eq!(routed(&member(Some(Push), None, Some(""))), email());
        assert_eq!(routed(&member(Some(Email), Some("+48500100200"), Some(arn))), email());
        assert_eq!(routed(&member(None, Some("+48500100200"), Some(arn))), email(), "no preference means email");
    }

    #[test]
    fn a_member_without_any_usable_channel_has_no_route() {
        let mut m = member(Some(ReminderPreference::Push), None, None);
        m.email = "not-an-address".into();
        assert_eq!(route(&m), None);
    }
}
