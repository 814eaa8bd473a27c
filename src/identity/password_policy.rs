//! What a new password must be: 8 to 128 characters, at most 1 KiB, not on the shipped list
//! of common passwords and not trivially derived from the account.

const COMMON: &str = include_str!("common_passwords.txt");

/// Minimum length in characters.
pub const MIN_CHARS: usize = 8;
/// Maximum length in characters (never truncated: longer is refused).
pub const MAX_CHARS: usize = 128;
/// Anything longer is refused before any other work.
pub const MAX_BYTES: usize = 1024;

/// Why a new password was refused; the message is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("the password is longer than {MAX_BYTES} bytes")]
    TooManyBytes,
    #[error("the password must be at least {MIN_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("that password is on the list of common passwords; choose another")]
    Common,
    #[error("the password must not repeat the email address or one character")]
    Trivial,
}

/// Checks a new password for `email`.
pub fn check_new_password(password: &str, email: &str) -> Result<(), PasswordRejected> {
    if password.len() > MAX_BYTES {
        return Err(PasswordRejected::TooManyBytes);
    }
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordRejected::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l == lower)
    {
        return Err(PasswordRejected::Common);
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    let mut cs = lower.chars();
    let first = cs.next();
    if lower == email.to_lowercase()
        || (!local.is_empty() && lower == local)
        || cs.all(|c| Some(c) == first)
    {
        return Err(PasswordRejected::Trivial);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_in_characters_and_never_truncated() {
        assert_eq!(
            check_new_password("Sh0rt!", "a@b.c"),
            Err(PasswordRejected::TooShort)
        );
        assert!(check_new_password("ünïcødé-ok", "a@b.c").is_ok());
        assert!(check_new_password(&"x1".repeat(64), "a@b.c").is_ok());
        assert_eq!(
            check_new_password(&format!("{}z", "x1".repeat(64)), "a@b.c"),
            Err(PasswordRejected::TooLong)
        );
        assert_eq!(
            check_new_password(&"é".repeat(513), "a@b.c"),
            Err(PasswordRejected::TooManyBytes)
        );
    }

    #[test]
    fn common_and_trivial_passwords_are_refused() {
        for pw in ["password", "Password1", "QWERTY123", "12345678", "iloveyou"] {
            assert_eq!(
                check_new_password(pw, "a@b.c"),
                Err(PasswordRejected::Common),
                "{pw}"
            );
        }
        assert_eq!(
            check_new_password("alice.smith", "Alice.Smith@example.com"),
            Err(PasswordRejected::Trivial)
        );
        assert_eq!(
            check_new_password("zzzzzzzzzz", "a@b.c"),
            Err(PasswordRejected::Trivial)
        );
        assert!(check_new_password("correct horse battery staple", "a@b.c").is_ok());
    }

    #[test]
    fn the_list_is_lowercase_and_loaded() {
        let entries: Vec<&str> = COMMON.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(entries.len() > 200);
        assert!(entries.iter().all(|e| *e == e.to_lowercase()));
    }
}
