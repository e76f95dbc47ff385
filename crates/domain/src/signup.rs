//! What a Cognito sign-up must carry before a user row is written.

use std::collections::HashMap;

/// A sign-up's identity: the Cognito user id and a well-formed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub cognito_user_id: String,
    pub email: String,
}

/// Why a sign-up cannot be recorded. The texts reach the app through
/// Cognito, so they are short, and they never repeat the address itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpError {
    #[error("the sign-up has no user name")]
    MissingUserName,
    #[error("the sign-up has no email address")]
    MissingEmail,
    #[error("the email address is not valid")]
    MalformedEmail,
}

/// Reads the account from a Cognito event's `userName` and `userAttributes`.
pub fn new_account(user_name: Option<&str>, attributes: &HashMap<String, String>) -> Result<NewAccount, SignUpError> {
    let cognito_user_id = user_name.map(str::trim).filter(|u| !u.is_empty()).ok_or(SignUpError::MissingUserName)?;
    let email = attributes.get("email").map(|e| e.trim()).filter(|e| !e.is_empty()).ok_or(SignUpError::MissingEmail)?;
    if !is_plausible_email(email) {
        return Err(SignUpError::MalformedEmail);
    }
    Ok(NewAccount { cognito_user_id: cognito_user_id.to_owned(), email: email.to_owned() })
}

/// One `@`, a non-empty local part of at most 64 bytes, a dotted domain of
/// letters, digits and hyphens, no spaces or control characters, 254 bytes
/// at most. Deliverability is SES's business; this keeps garbage out.
pub fn is_plausible_email(email: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(email: &str) -> HashMap<String, String> {
        HashMap::from([("email".to_owned(), email.to_owned())])
    }

    #[test]
    fn reads_a_well_formed_sign_up() {
        let account = new_account(Some("3f1c-sub"), &attrs(" ala.nowak+torium@example.com ")).unwrap();
        assert_eq!(
            account,
            NewAccount { cognito_user_id: "3f1c-sub".into(), email: "ala.nowak+torium@example.com".into() }
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
