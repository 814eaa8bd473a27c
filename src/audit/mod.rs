//! The audit log: an append-only chain of signed records, one per state change or denied
//! attempt.
//!
//! Each record carries `prev_hash` and `hash = SHA3-256(prev_hash ‖ canonical record)`, and an
//! Ed25519 signature of `hash` by the appliance's audit key. Records are appended inside the
//! same store write transaction as the change they describe, so if the record cannot be
//! written the change is not committed either (audit fails closed). An export verifies
//! offline with only the public key; a signed head (latest seq + hash) lets a saved copy
//! catch a cut-off tail.
//!
//! This module never decides whether an action is allowed; it records what callers did.

mod actions;
mod archive;
mod context;
mod event;
mod head;
mod keys;
mod log;
mod publish;
mod record;
mod status;
mod team_chain;
mod verify;
mod verify_team;

pub use actions::{is_action, ACTIONS};
pub use archive::{summarize, ArchiveSummary};
pub use context::AuditContext;
pub use event::AuditEvent;
pub use head::SignedHead;
pub use keys::{load_signing_key, store_signing_key};
pub use log::{
    export_page, recent_for_team, team_export_page, AppendHook, AuditError, AuditLog,
    DENIALS_PER_WINDOW, DENIAL_WINDOW_SECS,
};
pub use publish::{published_head, PublishedHead};
pub use record::{Record, GENESIS_HASH};
pub use status::ChainStatus;
pub use team_chain::{backfill_team_heads, TeamHead};
pub use verify::{verify_jsonl, Problem, VerifyFailure, VerifyReport};
pub use verify_team::{verify_team_jsonl, TeamVerifyReport};
