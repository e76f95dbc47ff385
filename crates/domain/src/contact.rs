//! Contact data as types: an email address, an E.164 phone number and an
//! SNS endpoint ARN, each parsed once where it enters (a database row, a
//! sign-up, a queue body) and never checked again. Their `Debug` is
//! redacted so a logged value never carries the whole number or address;
//! [`as_str`](EmailAddress::as_str) is the full value, for the provider
//! call and the wire. Serde reads and writes them as plain strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a value is not the contact it should be. The texts name the kind,
/// never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// Not a plus and 7 to 15 digits.
    #[error("the phone number is not in E.164 form")]
    NotE164,
    /// Not a plausible address.
    #[error("the email address is not valid")]
    NotAnEmailAddress,
    /// Not an `arn:` string.
    #[error("the receiver is not an endpoint ARN")]
    NotAnEndpointArn,
}

macro_rules! contact_type {
    ($(#[$doc:meta])* $name:ident, $valid:path, $error:expr, $redact:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The value, trimmed, when it is well formed.
            pub fn parse(value: &str) -> Result<Self, ContactError> {
                let value = value.trim();
                if $valid(value) { Ok($name(value.to_owned())) } else { Err($error) }
            }

            /// The whole value: for the provider and the wire, never for logs.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as logs may carry it.
            pub fn redacted(&self) -> String {
                $redact(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.redacted())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                $name::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

contact_type!(
    /// `+48500100200`: a plus, a non-zero digit, 7 to 15 digits in all.
    E164Number,
    is_e164,
    ContactError::NotE164,
    redact_phone
);
contact_type!(
    /// A plausible address (see [`EmailAddress::parse`]): deliverability is
    /// SES's business; this keeps garbage out.
    EmailAddress,
    is_plausible_email,
    ContactError::NotAnEmailAddress,
    redact_email
);
contact_type!(
    /// An SNS platform endpoint (`arn:…`), where a push goes.
    EndpointArn,
    is_arn,
    ContactError::NotAnEndpointArn,
    keep_arn
);

fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// One `@`, a non-empty local part of at most 64 bytes, a dotted domain of
/// letters, digits and hyphens, no spaces or control characters, 254 bytes
/// at most.
fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"@<>()[]\\,;:\"".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    email.len() <= 254 && local_ok && domain_ok
}

fn is_arn(arn: &str) -> bool {
    arn.starts_with("arn:")
}

/// An endpoint ARN names no person: logs may carry it whole.
fn keep_arn(arn: &str) -> String {
    arn.to_owned()
}

/// `+48123456789` → `+48*******89`: enough to tell numbers apart in a log.
fn redact_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// `jan.kowalski@example.com` → `j***@example.com`.
fn redact_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        for good in ["+48500100200", "+12025550123", "+4420"] {
            assert_eq!(E164Number::parse(good).is_ok(), good.len() >= 8, "{good}");
        }
        for bad in ["48500100200", "+048500100200", "+48 500 100 200", "+48-500", "", "+", "+1234567890123456"] {
            assert_eq!(E164Number::parse(bad), Err(ContactError::NotE164), "{bad}");
        }
        assert_eq!(E164Number::parse(" +48500100200 ").map(|n| n.as_str().to_owned()), Ok("+48500100200".into()));
    }

    #[test]
    fn emails_and_endpoints() {
        let email = EmailAddress::parse(" ala.nowak+torium@example.com ").unwrap();
        assert_eq!(email.as_str(), "ala.nowak+torium@example.com");
        assert!(EmailAddress::parse("zażółć@gęślą.pl").is_ok(), "international addresses are fine");
        assert_eq!(EmailAddress::parse("a@example"), Err(ContactError::NotAnEmailAddress));
        assert!(EndpointArn::parse("arn:aws:sns:eu-central-1:1:endpoint/GCM/torium/1").is_ok());
        assert_eq!(EndpointArn::parse(""), Err(ContactError::NotAnEndpointArn));
    }

    #[test]
    fn logs_never_see_the_whole_value() {
        let number = E164Number::parse("+48123456789").unwrap();
        assert_eq!(number.redacted(), "+48*******89");
        assert_eq!(format!("{number:?}"), "E164Number(+48*******89)");
        let email = EmailAddress::parse("jan.kowalski@example.com").unwrap();
        assert_eq!(email.redacted(), "j***@example.com");
        assert!(!format!("{email:?}").contains("kowalski"));
        assert_eq!(redact_phone("+48123456789"), "+48*******89");
        assert_eq!(redact_phone("123"), "***");
        assert_eq!(redact_email("jan.kowalski@example.com"), "j***@example.com");
        assert_eq!(redact_email("nonsense"), "***");
        assert_eq!(redact_email("żaneta@example.pl"), "ż***@example.pl");
        for error in [ContactError::NotE164, ContactError::NotAnEmailAddress, ContactError::NotAnEndpointArn] {
            assert!(!error.to_string().contains('@'));
        }
    }

    #[test]
    fn serde_is_the_plain_string() {
        let email = EmailAddress::parse("ala@example.com").unwrap();
        assert_eq!(serde_json::to_string(&email).unwrap(), "\"ala@example.com\"");
        assert_eq!(serde_json::from_str::<EmailAddress>("\"ala@example.com\"").unwrap(), email);
        assert!(serde_json::from_str::<E164Number>("\"500 100 200\"").is_err());
    }
}
