//! The rows identity keeps in the store.

use serde::{Deserialize, Serialize};

use crate::model::{Role, TeamId, UserId};

/// A team (tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamRow {
    /// Its id.
    pub id: TeamId,
    /// Its display name (unique, case-insensitively).
    pub name: String,
    /// When it was created (RFC 3339).
    pub created: String,
}

/// A user; memberships give them roles in teams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    /// Its id.
    pub id: UserId,
    /// Lowercase email, unique.
    pub email: String,
    /// Argon2id PHC string.
    pub password_phc: String,
    /// A disabled user cannot sign in and has no sessions.
    pub disabled: bool,
    /// The sealed TOTP secret, hex; `None` until 2FA is enrolled.
    pub totp_sealed: Option<String>,
    /// The last TOTP step accepted (a code works once).
    pub totp_last_step: Option<i64>,
    /// A TOTP secret being enrolled (sealed, hex), confirmed by a first code.
    #[serde(default)]
    pub totp_pending: Option<String>,
    /// Wrong TOTP codes in the step `totp_fail_step`; 3 lock TOTP until that step ends.
    #[serde(default)]
    pub totp_failures: u32,
    /// The step the failures were counted in.
    #[serde(default)]
    pub totp_fail_step: i64,
    /// When the user was created (RFC 3339).
    pub created: String,
}

/// A user's role in one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRow {
    /// The role.
    pub role: Role,
}
