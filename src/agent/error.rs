//! What can stop the agent, each with what to do about it.

use std::path::PathBuf;

/// An agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A state-dir file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The agent is not enrolled yet.
    #[error("{0} holds no enrollment; run `tundra agent enroll` first")]
    NotEnrolled(PathBuf),
    /// The agent is already enrolled.
    #[error("{0} already holds an enrollment; use another --state-dir or remove it first")]
    AlreadyEnrolled(PathBuf),
    /// A state-dir file is damaged.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `agent.toml` is invalid.
    #[error("{path}: {key}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The key at fault.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A command-line argument is invalid.
    #[error("{0}")]
    Usage(String),
    /// The appliance did not present the pinned CA.
    #[error(
        "the server did not prove it holds the pinned agent CA ({0}); check --server and \
         --ca-sha256 (shown on the panel's Enroll page)"
    )]
    PinMismatch(String),
    /// The appliance could not be reached.
    #[error("could not reach {server}: {message}")]
    Unreachable {
        /// Where.
        server: String,
        /// Why.
        message: String,
    },
    /// The appliance refused the enrollment.
    #[error("enrollment refused ({code}): {message}")]
    Refused {
        /// The error code.
        code: String,
        /// The appliance's message.
        message: String,
    },
    /// The appliance requires a newer agent.
    #[error("the appliance requires agent version {min_version} or newer (this is {VERSION}); update the agent")]
    UpdateRequired {
        /// The lowest accepted version.
        min_version: String,
    },
    /// Key or certificate material failed.
    #[error("{0}")]
    Crypto(String),
}

use super::VERSION;
