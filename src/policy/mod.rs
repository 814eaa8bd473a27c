//! Pure policy decisions: given facts, answer allow or deny. No I/O, no clock reads, no store.
//!
//! Today: the RBAC matrix and login throttling of SPEC §4, and for the command pipeline the
//! team ACL ([`acl`]: roles, agent allow/block lists, time windows in IANA zones). The command
//! security engine and the command rate limit join them as they land.

pub mod acl;
mod bucket;
mod rbac;
mod throttle;

pub use acl::{
    AclDecision, AclPolicy, AclRequest, ActionKind, DefaultMode, KindRoles, PolicyInvalid,
    TimeWindow,
};
pub use bucket::Buckets;
pub use rbac::{allows, can_assign, Action, MATRIX};
pub use throttle::{FailureEffects, LoginGate, LoginThrottle, ThrottleConfig};
