//! Pure policy decisions: given facts, answer allow or deny. No I/O, no clock reads, no store.
//!
//! Today: the RBAC matrix and login throttling of SPEC §4, and for the command pipeline the
//! team ACL ([`acl`]: roles, agent allow/block lists, time windows in IANA zones) and the
//! per-user command rate limiter ([`rate`]), the command security engine ([`engine`]) and a
//! team's whole policy document ([`TeamPolicy`]), and the sampling of denied attempts for
//! the audit log ([`sampler`]).

pub mod acl;
mod bucket;
pub mod engine;
pub mod rate;
mod rbac;
pub mod sampler;
mod team;
mod throttle;

pub use acl::{
    AclDecision, AclPolicy, AclRequest, ActionKind, DefaultMode, KindRoles, PolicyInvalid,
    TimeWindow,
};
pub use bucket::Buckets;
pub use rate::{RateDecision, RateLimiter};
pub use rbac::{allows, can_assign, Action, MATRIX};
pub use sampler::{DenialSampler, Sampled, Suppressed};
pub use team::{TeamPolicy, APPROVAL_TAG, DEFAULT_APPROVAL_THRESHOLD, MAX_POLICY_BYTES};
pub use throttle::{FailureEffects, LoginGate, LoginThrottle, ThrottleConfig};
