//! Pure policy decisions: given facts, answer allow or deny. No I/O, no clock reads, no store.
//!
//! Today: the RBAC matrix of SPEC §4. The ACL, the command security engine and rate limits
//! join it as the command pipeline lands.

mod rbac;

pub use rbac::{allows, can_assign, Action, MATRIX};
