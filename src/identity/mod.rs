//! Identity: teams, users, memberships and roles (and, as the identity issue lands, logins,
//! sessions, TOTP and API tokens).
//!
//! Owns who may act and as what; every change it makes is audited in the same transaction.
//! It never decides what an action does to the fleet — only who is asking.

mod account;
mod admin;
mod agent_scope;
mod audit_view;
mod error;
mod login;
mod members;
mod password_policy;
mod pending;
mod rows;
mod session;
mod setup;
mod tokens;
mod two_factor;

pub use account::SessionInfo;
pub use admin::{normalize_email, Identity, UserAdded};
pub use agent_scope::AgentScope;
pub use audit_view::{AuditPage, AuditQuery, MAX_EXPORT_PAGE};
pub use error::IdentityError;
pub use login::{LoginOutcome, LoginRequest};
pub use members::Member;
pub use password_policy::{check_new_password, PasswordRejected};
pub use rows::{MembershipRow, TeamRow, UserRow};
pub use session::{Principal, SessionRow, ABSOLUTE_TTL_SECS, IDLE_TTL_SECS, REAUTH_WINDOW_SECS};
pub use setup::{SetupRequest, SETUP_CODE_TTL_SECS};
pub use tokens::{NewToken, TokenError, TokenRow, MAX_TOKEN_TTL_SECS, TOKEN_ENV};
pub use two_factor::{Enrollment, SecondFactor, MAX_TOTP_FAILURES};
