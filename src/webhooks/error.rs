//! What webhook operations answer when they refuse or fail.

use crate::audit::AuditError;
use crate::identity::IdentityError;
use crate::store::StoreError;

/// A webhook operation failed; nothing changed. The API maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Bad input; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such webhook or delivery in the caller's team (also: in another team).
    #[error("not found")]
    NotFound,
    /// The caller's role may not manage webhooks.
    #[error("{0}")]
    Forbidden(String),
    /// The object is not in a state that allows this; says why.
    #[error("{0}")]
    Conflict(String),
    /// The principal may not act yet (two-factor), or identity failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The audit record could not be written; nothing changed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A background step failed (a task panicked or was cancelled).
    #[error("webhook task failed: {0}")]
    Task(String),
}

impl WebhookError {
    /// An `Invalid` for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        WebhookError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
