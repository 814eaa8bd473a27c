//! What command operations answer when they refuse or fail.

use crate::audit::AuditError;
use crate::fleet::FleetError;
use crate::identity::IdentityError;
use crate::store::StoreError;

/// A command operation failed; nothing changed. The API maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad input; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A policy document was refused; names the exact field.
    #[error("{field}: {reason}")]
    PolicyInvalid {
        /// Its path from the document's root, e.g. `acl.windows[0].time_zone`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No such object in the caller's team (also: in another team; never told which).
    #[error("not found")]
    NotFound,
    /// The caller may not do this; says why.
    #[error("{0}")]
    Forbidden(String),
    /// A password confirmation within the re-auth window is needed first.
    #[error("confirm your password first (re-authentication is older than 5 minutes)")]
    ReauthRequired,
    /// The object is not in a state that allows this; says why.
    #[error("{0}")]
    Conflict(String),
    /// The member sent too many commands; try again after this many seconds.
    #[error("too many commands: at most {limit} per hour; try again in {retry_after_secs} s")]
    RateLimited {
        /// The hourly limit.
        limit: u32,
        /// Seconds until the next one fits.
        retry_after_secs: u64,
    },
    /// So many of the member's commands were refused lately that more are not even judged
    /// (the refusals are counted in the audit log); try again after this many seconds.
    #[error(
        "too many of your commands were refused in the last minute; try again in \
         {retry_after_secs} s"
    )]
    TooManyRefused {
        /// Seconds until they are judged again.
        retry_after_secs: u64,
    },
    /// The principal may not act yet, or identity failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A fleet lookup failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The audit record could not be written; nothing changed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommandError {
    /// An `Invalid` for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CommandError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
