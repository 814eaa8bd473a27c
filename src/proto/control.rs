//! The local control socket protocol: one JSON object per line each way, one response per
//! request. Only the host's own tundra user can connect (the socket is 0600 in a 0700 dir and
//! the server checks the peer's uid).

use serde::{Deserialize, Serialize};

/// Protocol version carried in every request.
pub const VERSION: u32 = 1;

/// The socket's file name inside the data dir.
pub const SOCKET_NAME: &str = "control.sock";

/// The most records one `audit_export` page carries.
pub const MAX_PAGE: u32 = 1000;

/// A request with its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version; the server refuses versions it does not know.
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// What a local CLI command asks the running appliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Up to `limit` audit records after `after`.
    AuditExport {
        /// Sequence number to start after.
        after: u64,
        /// Page size (at most [`MAX_PAGE`]).
        limit: u32,
    },
    /// The signed audit head.
    AuditHead,
    /// The audit public key.
    AuditPubkey,
    /// Remove the records below `before`, which the CLI has just written to an archive file
    /// described by the other fields, if the store still holds exactly those; append the
    /// `audit.archived` anchor.
    AuditArchive {
        /// Records with a lower seq are archived.
        before: u64,
        /// How many the file holds.
        records: u64,
        /// Seq of its first record.
        first_seq: u64,
        /// Hex hash of its last record.
        last_hash: String,
        /// Hex SHA-256 of the file.
        file_sha256: String,
    },
    /// Create an agent registration token in a team.
    RegistrationTokenAdd {
        /// The team's name.
        team: String,
        /// Enrollments it allows.
        uses: u32,
        /// Its lifetime in seconds.
        ttl_secs: i64,
        /// Tags for the agents it enrolls.
        tags: Vec<String>,
    },
    /// Deactivate an agent (revoke its certificate, close its connection).
    AgentDeactivate {
        /// The agent's id.
        agent: String,
    },
    /// Create a team.
    TeamAdd {
        /// Its name.
        name: String,
    },
    /// Add a user to a team (creating the user if needed).
    UserAdd {
        /// The team's name.
        team: String,
        /// The user's email.
        email: String,
        /// `owner`, `admin`, `operator` or `viewer`.
        role: String,
        /// The new user's password (ignored for an existing user).
        password: Option<String>,
    },
    /// Disable a user.
    UserDisable {
        /// The user's email.
        email: String,
    },
    /// Remove a user's two-factor enrollment.
    UserReset2fa {
        /// The user's email.
        email: String,
    },
}

/// The appliance's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// Records as JSON lines, in order; fewer than asked means the end of the log.
    AuditPage {
        /// The records.
        lines: Vec<String>,
    },
    /// A signed head as JSON.
    AuditHead {
        /// The head's JSON text.
        head: String,
    },
    /// The audit public key as hex.
    AuditPubkey {
        /// 64 hex characters.
        hex: String,
    },
    /// A change was made; the message says what.
    Done {
        /// What was done, for the administrator.
        message: String,
    },
    /// The request failed.
    Error {
        /// Machine-readable code.
        code: String,
        /// What went wrong.
        message: String,
    },
}
