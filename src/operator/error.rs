//! The operator client's one error type.

use std::path::PathBuf;

/// Why an operator command failed. Every message says what happened and, where there is
/// one, what to do about it; none ever contains a password or token.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Bad input on the command line or stdin; names the flag or value.
    #[error("{0}")]
    Usage(String),
    /// No TCP connection, a broken one, or a TLS failure other than trust.
    #[error("could not reach {server}: {message}")]
    Unreachable {
        /// The server as given at login.
        server: String,
        /// What failed.
        message: String,
    },
    /// The server answered, but not within the time allowed.
    #[error("{server} did not answer within {secs} s")]
    Timeout {
        /// The server.
        server: String,
        /// The limit that passed.
        secs: u64,
    },
    /// The leaf certificate is not the pinned one.
    #[error(
        "the certificate of {server} does not match the pinned SHA-256: it presented {got}, \
         the pin is {expected}. If the appliance's certificate was replaced on purpose, \
         `tundra serve` prints the new one as \"Panel certificate SHA-256\"; log in again \
         with it"
    )]
    PinMismatch {
        /// The server.
        server: String,
        /// The pin given at login (lowercase hex).
        expected: String,
        /// What the server presented (lowercase hex).
        got: String,
    },
    /// The certificate does not chain to the trusted roots or is not valid for the name.
    #[error("the certificate of {server} is not trusted ({trust}): {message}")]
    Untrusted {
        /// The server.
        server: String,
        /// Which roots were used.
        trust: String,
        /// What rustls found wrong.
        message: String,
    },
    /// An answer larger than the client accepts.
    #[error("the answer from {server} is larger than {limit} bytes; refusing it")]
    TooLarge {
        /// The server.
        server: String,
        /// The cap.
        limit: usize,
    },
    /// The API refused the request with `{"error":{"code","message"}}`.
    #[error("{message} ({code}, HTTP {status}){}", retry_hint(.retry_after))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error code (`invalid_credentials`, `not_found`, …).
        code: String,
        /// The appliance's message for people.
        message: String,
        /// Seconds from `Retry-After`, when the answer had one.
        retry_after: Option<u64>,
    },
    /// The answer was not what this version of the CLI understands.
    #[error("unexpected answer from {server}: {message}")]
    Unexpected {
        /// The server.
        server: String,
        /// What did not fit.
        message: String,
    },
    /// The operator config file is missing, unsafe or unreadable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The appliance no longer accepts the saved token.
    #[error(
        "{server} no longer accepts the saved token (expired or revoked); run \
         `tundra login --server {server}` again"
    )]
    TokenRefused {
        /// The server.
        server: String,
    },
    /// No saved login.
    #[error("not logged in (no {}); run `tundra login --server URL` first", .0.display())]
    NotLoggedIn(PathBuf),
    /// Reading from the terminal or stdin failed.
    #[error("could not read {what}: {message}")]
    Input {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        message: String,
    },
}

fn retry_hint(after: &Option<u64>) -> String {
    after.map_or_else(String::new, |s| format!("; try again in {s} s"))
}

impl OperatorError {
    /// The API error code, if the appliance answered with one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            OperatorError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed: the network failed or the
    /// appliance had a server-side error. Only safe to act on for idempotent requests.
    pub fn is_transient(&self) -> bool {
        match self {
            OperatorError::Unreachable { .. } | OperatorError::Timeout { .. } => true,
            OperatorError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
