//! The agent-facing side: the gRPC `Connect` service over mutual TLS 1.3 on the agent port,
//! and the hub of live agent connections (who is online, their latest health, closing a
//! revoked agent's stream).
//!
//! Admission happens in layers, cheapest first: source address against
//! `trusted_agent_cidrs` (before any TLS byte), connection caps and per-address handshake
//! rate, the TLS handshake with a required client certificate that must be an active
//! agent's current one, then the signed hello checked by the fleet.
//!
//! Command traffic passes through: the hub puts `RunCommand`/`CommandAck` on an agent's
//! stream for the command pipeline and hands what agents send back to its [`AgentEvents`];
//! it never decides whether a command may run.

mod hub;
mod server;
mod service;
mod verifier;

pub use hub::{AgentEvents, Hub, LiveStatus, OFFLINE_AFTER_SECS};
pub use server::{serve, tls_config, RendezvousSettings};
