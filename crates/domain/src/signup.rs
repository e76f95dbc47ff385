//! What a Cognito sign-up must carry before a user row is written: the
//! Cognito user id and a well-formed address, read once from the trigger's
//! event.

use crate::{ContactError, EmailAddress};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A sign-up as both Cognito triggers record it: the Cognito user id, a
/// well-formed address, and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUp {
    /// Cognito's user name (its `sub`), the row's key.
    pub cognito_user_id: String,
    /// The address signed up with, well formed.
    pub email: EmailAddress,
    /// When the trigger ran.
    pub at: DateTime<Utc>,
}

/// Why a sign-up cannot be recorded. The texts reach the app through
/// Cognito, so they are short, and they never repeat the address itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpError {
    /// The event has no (or a blank) `userName`.
    #[error("the sign-up has no user name")]
    MissingUserName,
    /// The user attributes have no (or a blank) `email`.
    #[error("the sign-up has no email address")]
    MissingEmail,
    /// The `email` attribute is not an address.
    #[error("the email address is not valid")]
    MalformedEmail,
}

impl SignUp {
    /// Reads the sign-up from a Cognito event's `userName` and
    /// `userAttributes`, made at `at`.
    pub fn from_cognito(
        user_name: Option<&str>,
        attributes: &HashMap<String, String>,
        at: DateTime<Utc>,
    ) -> Result<SignUp, SignUpError> {
        let cognito_user_id = user_name.map(str::trim).filter(|u| !u.is_empty()).ok_or(SignUpError::MissingUserName)?;
        let email =
            attributes.get("email").map(|e| e.trim()).filter(|e| !e.is_empty()).ok_or(SignUpError::MissingEmail)?;
        let email = EmailAddress::parse(email).map_err(|_: ContactError| SignUpError::MalformedEmail)?;
        Ok(SignUp { cognito_user_id: cognito_user_id.to_owned(), email, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;

    fn attrs(email: &str) -> HashMap<String, String> {
        HashMap::from([("email".to_owned(), email.to_owned())])
    }

    fn at() -> DateTime<Utc> {
        utc("2026-11-24T10:00:00Z")
    }

    /// The sign-up read at the test's time.
    fn new_account(user_name: Option<&str>, attributes: &HashMap<String, String>) -> Result<SignUp, SignUpError> {
        SignUp::from_cognito(user_name, attributes, at())
    }

    #[test]
    fn reads_a_well_formed_sign_up() {
        let account = new_account(Some("3f1c-sub"), &attrs(" ala.nowak+torium@example.com ")).unwrap();
        assert_eq!(
            account,
            SignUp {
                cognito_user_id: "3f1c-sub".into(),
                email: EmailAddress::parse("ala.nowak+torium@example.com").unwrap(),
                at: at(),
            }
        );
        assert!(new_account(Some("x"), &attrs("zażółć@gęślą.pl")).is_ok(), "international addresses are fine");
    }

    #[test]
    fn refuses_what_cannot_be_a_user() {
        assert_eq!(new_account(None, &attrs("a@example.com")), Err(SignUpError::MissingUserName));
        assert_eq!(new_account(Some("  "), &attrs("a@example.com")), Err(SignUpError::MissingUserName));
        assert_eq!(new_account(Some("u"), &HashMap::new()), Err(SignUpError::MissingEmail));
        assert_eq!(new_account(Some("u"), &attrs("")), Err(SignUpError::MissingEmail));
        for bad in [
            "plainaddress",
            "@example.com",
            "a@",
            "a@example",
            "a@@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a..b@example.com",
            ".a@example.com",
            "a@example..com",
            "<script>@example.com",
        ] {
            assert_eq!(new_account(Some("u"), &attrs(bad)), Err(SignUpError::MalformedEmail), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(new_account(Some("u"), &attrs(&long)), Err(SignUpError::MalformedEmail));
    }

    #[test]
    fn errors_never_repeat_the_address() {
        assert!(!SignUpError::MalformedEmail.to_string().contains('@'));
    }
}
