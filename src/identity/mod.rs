//! Identity: teams, users, memberships and roles (and, as the identity issue lands, logins,
//! sessions, TOTP and API tokens).
//!
//! Owns who may act and as what; every change it makes is audited in the same transaction.
//! It never decides what an action does to the fleet — only who is asking.

mod admin;
mod error;
mod login;
mod password_policy;
mod rows;
mod session;
mod setup;

pub use admin::{normalize_email, Identity, UserAdded};
pub use error::IdentityError;
pub use login::{LoginOutcome, LoginRequest};
pub use password_policy::{check_new_password, PasswordRejected};
pub use rows::{MembershipRow, TeamRow, UserRow};
pub use session::{Principal, SessionRow, ABSOLUTE_TTL_SECS, IDLE_TTL_SECS, REAUTH_WINDOW_SECS};
pub use setup::{SetupRequest, SETUP_CODE_TTL_SECS};
