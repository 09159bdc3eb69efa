//! Who people are to Keel: email addresses, password rules and postal addresses.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An email address, trimmed and lower-cased so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` shapes up to 254 characters; it does not try to be RFC 5322.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || !domain_ok || email.chars().any(|c| c.is_whitespace() || c == '<') {
            return Err("must be an email address");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Password rules, after NIST SP 800-63B: long enough, not absurdly long, no composition rules.
pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// Checks a new password; `email` is refused as a password.
pub fn check_new_password(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
    }
    if password.eq_ignore_ascii_case(email) {
        return Err("must not be the email address".to_string());
    }
    if password.chars().all(|c| c == password.chars().next().unwrap_or(' ')) {
        return Err("must not repeat one character".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in
            ["", "ada", "@example.com", "ada@", "ada@localhost", "ada@.com", "a da@example.com", "ada@ex_ample.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_rules() {
        assert!(check_new_password("correct horse", "a@b.co").is_ok());
        assert!(check_new_password("short", "a@b.co").is_err());
        assert!(check_new_password("aaaaaaaaaaaa", "a@b.co").is_err());
        assert!(check_new_password("ada@example.com", "ada@example.com").is_err());
        assert!(check_new_password(&"x".repeat(129), "a@b.co").is_err());
    }
}
