//! The command pipeline (SPEC §4 "Commands"): a non-interactive command goes ACL → command
//! security engine → approval gate → rate limit → dispatch → result, each stage a pure
//! decision recorded in the command's row and in its audit record's `policy_result`.
//!
//! Owns commands, their sealed output, the approval queue, the team's policy document and
//! its approved script library. It decides nothing itself — the decisions are `policy`'s —
//! and never talks to an agent except through the rendezvous hub. Every change lands with
//! its audit record in one store transaction; a command reaches its agent only after that
//! transaction committed. Tenant lookups take the team (and the API token's agent scope)
//! from the [`Principal`](crate::identity::Principal).

mod approvals;
mod dispatch;
mod error;
mod output;
mod pipeline;
mod policy_store;
mod query;
mod rows;
mod scripts;
mod service;
mod submit;
mod sweep;

pub use approvals::Verdict;
pub use error::CommandError;
pub use pipeline::{evaluate, Evaluation, Facts, Outcome};
pub use policy_store::{PreviewRequest, StoredPolicy};
pub use query::{wait_change, HistoryFilter, HistoryPage, MAX_PAGE};
pub use rows::{
    ApprovalInfo, BlockInfo, CommandRow, CommandStatus, ResultInfo, ScriptRef, ScriptRow,
};
pub use scripts::NewScript;
pub use service::{well_formed_id, CommandSettings, Commands, APPROVAL_TTL_MS};
pub use submit::{NewCommand, Submitted, Target, MAX_FAN_OUT};
pub use sweep::{schedule, SweepReport};
