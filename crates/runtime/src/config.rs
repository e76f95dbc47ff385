//! Configuration comes from the environment the SAM template sets; nothing
//! (queue URLs, region, sender identities) is written in the code.

use std::collections::HashMap;

/// A variable the handler needs is missing or unreadable: a deployment
/// mistake, not worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable (its name) is unset or empty.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// The variable is set but does not parse.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// Why its value does not parse.
        reason: String,
    },
}

/// A snapshot of the variables a handler reads, so configuration parsing
/// is tested with plain maps instead of the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// The process environment, as it is now.
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }

    /// Exactly these variables (tests, and configuration built in code).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// The value, or `None` when unset or empty.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// The value, or [`ConfigError::Missing`] when unset or empty.
    pub fn required(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// Parses a value, or gives `default` when unset.
    pub fn parsed_or<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_required_optional_and_parsed_values() {
        let env = Env::from_pairs([("A", "x"), ("EMPTY", " "), ("N", "7"), ("BAD", "seven")]);
        assert_eq!(env.required("A"), Ok("x"));
        assert_eq!(env.required("EMPTY"), Err(ConfigError::Missing("EMPTY")));
        assert_eq!(env.optional("NOPE"), None);
        assert_eq!(env.parsed_or("N", 1usize), Ok(7));
        assert_eq!(env.parsed_or("NOPE", 1usize), Ok(1));
        let err = env.parsed_or("BAD", 1usize).unwrap_err();
        assert!(err.to_string().contains("BAD is invalid"), "{err}");
    }
}

/// The three channel queues, `send-sms`, `send-email` and `send-push`
/// (`SEND_SMS_QUEUE_URL`, `SEND_EMAIL_QUEUE_URL`, `SEND_PUSH_QUEUE_URL`):
/// where the fan-out and the quiet-hours release send a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelQueues {
    /// The `send-sms` queue's URL.
    pub sms: String,
    /// The `send-email` queue's URL.
    pub email: String,
    /// The `send-push` queue's URL.
    pub push: String,
}

impl ChannelQueues {
    /// The three URLs, in channel order.
    pub fn new(sms: &str, email: &str, push: &str) -> Self {
        ChannelQueues { sms: sms.to_owned(), email: email.to_owned(), push: push.to_owned() }
    }

    /// The queue of `channel`'s sender.
    pub fn url(&self, channel: torium_domain::Channel) -> &str {
        match channel {
            torium_domain::Channel::Sms => &self.sms,
            torium_domain::Channel::Email => &self.email,
            torium_domain::Channel::Push => &self.push,
        }
    }
}
