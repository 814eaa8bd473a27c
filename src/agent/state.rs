//! The agent's state dir: its identity key, mTLS key and certificate, the pinned CA, and
//! what enrollment returned. Every file is created 0600 (the dir 0700) in the `open` call
//! itself, so there is no window in which another user could read a key.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AgentError;
use crate::crypto::{Secret, SigningKey};

/// Where `tundra agent` keeps its state unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/tundra-agent";

/// What enrollment returned, kept for every later connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrollment {
    /// The agent's id (its certificate's CN).
    pub agent_id: String,
    /// The panel URL it enrolled with.
    pub server: String,
    /// `host:port` rendezvous addresses, in order of preference.
    pub rendezvous: Vec<String>,
    /// The appliance's session-grant public key (hex).
    pub grant_public_key: String,
    /// The pinned agent CA's SHA-256 (hex).
    pub ca_sha256: String,
}

/// The state dir.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

const IDENTITY: &str = "identity.key";
const MTLS_KEY: &str = "mtls.key";
const CERT: &str = "agent.crt";
const CA: &str = "ca.crt";
const ENROLLMENT: &str = "enrollment.json";

impl StateDir {
    /// The state dir at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A file in it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether an enrollment is stored.
    pub fn enrolled(&self) -> bool {
        self.file(ENROLLMENT).exists()
    }

    /// Creates the dir (0700) if missing.
    pub fn create(&self) -> Result<(), AgentError> {
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .map_err(|source| io(&self.root, source))?;
        }
        Ok(())
    }

    /// Writes `name` (0600, replacing any earlier file atomically).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), AgentError> {
        let path = self.file(name);
        let tmp = self.file(&format!(".{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|source| io(&tmp, source))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|source| io(&tmp, source))?;
        fs::rename(&tmp, &path).map_err(|source| io(&path, source))
    }

    /// Reads `name`, refusing files other users can read (they hold keys).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, AgentError> {
        let path = self.file(name);
        let meta = fs::metadata(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                AgentError::NotEnrolled(self.root.clone())
            } else {
                io(&path, source)
            }
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(AgentError::Corrupt {
                path,
                message: format!(
                    "mode {:04o} lets other users read it; fix: chmod 0600",
                    meta.permissions().mode() & 0o7777
                ),
            });
        }
        fs::read(&path).map_err(|source| io(&path, source))
    }

    /// Stores everything enrollment produced.
    pub fn save_enrollment(
        &self,
        identity: &SigningKey,
        mtls_key_pem: &Secret<String>,
        cert_pem: &str,
        ca_pem: &str,
        enrollment: &Enrollment,
    ) -> Result<(), AgentError> {
        self.write(IDENTITY, hex::encode(identity.seed().expose()).as_bytes())?;
        self.write(MTLS_KEY, mtls_key_pem.expose().as_bytes())?;
        self.write(CERT, cert_pem.as_bytes())?;
        self.write(CA, ca_pem.as_bytes())?;
        let json = serde_json::to_vec_pretty(enrollment).map_err(|e| AgentError::Corrupt {
            path: self.file(ENROLLMENT),
            message: e.to_string(),
        })?;
        // Written last: its presence means the enrollment is complete.
        self.write(ENROLLMENT, &json)
    }

    /// Loads what [`StateDir::save_enrollment`] stored.
    pub fn load(&self) -> Result<Loaded, AgentError> {
        let enrollment: Enrollment = serde_json::from_slice(&self.read(ENROLLMENT)?)
            .map_err(|e| self.corrupt(ENROLLMENT, e.to_string()))?;
        let seed = self.read(IDENTITY)?;
        let seed = hex::decode(seed.trim_ascii())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| self.corrupt(IDENTITY, "not a 32-byte hex seed".into()))?;
        let text = |name| {
            String::from_utf8(self.read(name)?).map_err(|_| self.corrupt(name, "not text".into()))
        };
        Ok(Loaded {
            identity: SigningKey::from_seed(&seed),
            mtls_key_pem: Secret::new(text(MTLS_KEY)?),
            cert_pem: text(CERT)?,
            ca_pem: text(CA)?,
            enrollment,
        })
    }

    fn corrupt(&self, name: &str, message: String) -> AgentError {
        AgentError::Corrupt {
            path: self.file(name),
            message,
        }
    }
}

/// An enrolled agent's material.
pub struct Loaded {
    /// The identity key.
    pub identity: SigningKey,
    /// The mTLS private key (PEM).
    pub mtls_key_pem: Secret<String>,
    /// The client certificate (PEM).
    pub cert_pem: String,
    /// The agent CA (PEM).
    pub ca_pem: String,
    /// What enrollment returned.
    pub enrollment: Enrollment,
}

fn io(path: &Path, source: std::io::Error) -> AgentError {
    AgentError::Io {
        path: path.to_owned(),
        source,
    }
}
