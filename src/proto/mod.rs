//! Versioned messages shared by the appliance and its local or remote clients.
//!
//! Versioning is additive: `v = 1`, new optional fields only, never a changed meaning.

pub mod agent;
pub mod control;
pub mod enroll;
