//! Pure policy decisions: given facts, answer allow or deny. No I/O, no clock reads, no store.
//!
//! Today: the RBAC matrix, login throttling and the command security engine ([`engine`]: a
//! command text in, a verdict out) of SPEC §4. The ACL and rate limits join it as the command
//! pipeline lands.

mod bucket;
pub mod engine;
mod rbac;
mod throttle;

pub use bucket::Buckets;
pub use rbac::{allows, can_assign, Action, MATRIX};
pub use throttle::{FailureEffects, LoginGate, LoginThrottle, ThrottleConfig};
