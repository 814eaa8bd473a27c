use crate::audit::AuditError;
use crate::store::StoreError;

use super::password_policy::PasswordRejected;

/// An identity operation failed. Messages are safe to show the local administrator.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("a team named {0:?} already exists")]
    TeamExists(String),
    #[error("no team named {0:?}")]
    NoSuchTeam(String),
    #[error("no user with email {0}")]
    NoSuchUser(String),
    #[error("{email} is already a member of {team}")]
    AlreadyMember { email: String, team: String },
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("your role does not allow that")]
    Forbidden,
    #[error("enroll two-factor authentication first: owners and admins need it to act")]
    TwoFactorRequired,
    #[error("confirm your password first (re-authentication is older than 5 minutes)")]
    ReauthRequired,
    #[error("setup refused: {0}")]
    SetupRefused(String),
    #[error("a new user needs a password")]
    PasswordRequired,
    #[error(transparent)]
    Password(#[from] PasswordRejected),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
