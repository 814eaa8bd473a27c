//! The fleet: the internal agent CA (and, as the fleet grows, registration tokens, the agent
//! registry and enrollment).
//!
//! Owns agent identity material; never talks to agents itself (that is `rendezvous`).

mod ca;

pub use ca::{agent_ca_cert_pem, create_agent_ca, CaError, AGENT_CA_CERT, AGENT_CA_KEY};
