//! Pure policy decisions: given facts, answer allow or deny. No I/O, no clock reads, no store.
//!
//! Today: the RBAC matrix and login throttling of SPEC §4. The ACL, the command security
//! engine and rate limits join it as the command pipeline lands.

pub mod acl;
mod bucket;
pub mod engine;
pub mod rate;
mod rbac;
mod team;
mod throttle;

pub use bucket::Buckets;
pub use rbac::{allows, can_assign, Action, MATRIX};
pub use team::{TeamPolicy, APPROVAL_TAG, DEFAULT_APPROVAL_THRESHOLD, MAX_POLICY_BYTES};
pub use throttle::{FailureEffects, LoginGate, LoginThrottle, ThrottleConfig};
