//! What fleet operations answer when they refuse or fail.

use crate::audit::AuditError;
use crate::crypto::x509::X509Error;
use crate::identity::IdentityError;
use crate::store::StoreError;

/// A fleet operation failed; nothing changed. The API maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Bad input; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such object in the caller's team (also: in another team; the caller is never told).
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow it.
    #[error("your role does not allow that")]
    Forbidden,
    /// A password confirmation within the re-auth window is needed first.
    #[error("confirm your password first (re-authentication is older than 5 minutes)")]
    ReauthRequired,
    /// A bound on what one team may hold.
    #[error("{0}")]
    TooMany(String),
    /// An enrollment was refused; the reason is safe to tell the enrolling agent.
    #[error("enrollment refused: {0}")]
    Enroll(EnrollRefusal),
    /// The principal may not act yet, or identity failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The audit record could not be written; nothing changed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Certificate issuing failed.
    #[error(transparent)]
    X509(#[from] X509Error),
}

/// Why an enrollment was refused (also the audit record's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollRefusal {
    /// No such registration token (or revoked).
    UnknownToken,
    /// The token expired.
    TokenExpired,
    /// The token has no uses left.
    TokenUsedUp,
    /// The signature does not verify with the identity key sent.
    BadSignature,
    /// The timestamp is more than 60 s away from the appliance's clock.
    ClockSkew,
    /// The nonce was seen before.
    ReplayedNonce,
    /// The CSR does not parse or its signature is wrong.
    BadCsr,
}

impl EnrollRefusal {
    /// The machine-readable reason.
    pub fn code(self) -> &'static str {
        match self {
            EnrollRefusal::UnknownToken => "unknown_token",
            EnrollRefusal::TokenExpired => "token_expired",
            EnrollRefusal::TokenUsedUp => "token_used_up",
            EnrollRefusal::BadSignature => "bad_signature",
            EnrollRefusal::ClockSkew => "clock_skew",
            EnrollRefusal::ReplayedNonce => "replayed_nonce",
            EnrollRefusal::BadCsr => "bad_csr",
        }
    }
}

impl std::fmt::Display for EnrollRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EnrollRefusal::UnknownToken => "the registration token is unknown or was revoked",
            EnrollRefusal::TokenExpired => "the registration token has expired",
            EnrollRefusal::TokenUsedUp => "the registration token has no uses left",
            EnrollRefusal::BadSignature => "the request signature does not verify",
            EnrollRefusal::ClockSkew => {
                "the agent's clock is more than 60 s away from the appliance's; fix its time"
            }
            EnrollRefusal::ReplayedNonce => "this request was already seen (replayed nonce)",
            EnrollRefusal::BadCsr => "the certificate signing request is invalid",
        })
    }
}
