//! The fleet: the internal agent CA, registration tokens, enrollment, the agent registry,
//! the `Connect` handshake check and the agents' health history.
//!
//! Owns agent identity material and decides who may connect; never talks to agents itself
//! (that is `rendezvous`). Tenant queries take the team from the [`Principal`].

mod agents;
mod ca;
mod enroll;
mod error;
mod handshake;
mod metrics;
mod regtokens;
mod service;
mod tags;

pub use agents::{AgentRow, AgentStatus};
pub use ca::{agent_ca_cert_pem, create_agent_ca, CaError, AGENT_CA_CERT, AGENT_CA_KEY};
pub use error::{EnrollRefusal, FleetError};
pub use handshake::{HandshakeRefusal, HelloAccepted};
pub use metrics::{MetricsRange, Point, Sample, COARSE_STEP_SECS, RAW_RETENTION_SECS};
pub use regtokens::{NewRegToken, RegTokenRow, DEFAULT_REG_TOKEN_TTL_SECS, MAX_REG_TOKEN_USES};
pub use service::{needs_update, Fleet, FleetSettings, HEARTBEAT_INTERVAL_SECS};
