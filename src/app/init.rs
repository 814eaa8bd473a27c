//! Initializing a data dir, and the checks that refuse a bad one.
//!
//! Idempotent: on an initialized dir nothing is written and the report says so. Every
//! refusal names the file, the problem and the fix, and happens before anything is written.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::datadir::DataDir;
use crate::audit::{self, AuditContext, AuditEvent, AuditLog};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::{x509, MasterKey, MasterKeyError, SigningKey};
use crate::fleet;
use crate::model::Actor;
use crate::store::{Store, StoreError};

/// The master key version a new data dir starts with.
pub const FIRST_KEY_VERSION: u32 = 1;
const KEY_VERSION_NAME: &str = "master_key_version";
/// Days a generated panel certificate is valid.
const PANEL_CERT_DAYS: i64 = 397;

/// Why a data dir was refused or could not be initialized.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data dir {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error(
        "data dir {path} has mode {mode:04o}, looser than 0700: other users could reach the \
         store and keys; fix: chmod 0700 {path}"
    )]
    LooseDataDir { path: PathBuf, mode: u32 },
    #[error(
        "data dir {path} is owned by uid {owner}, but tundra runs as uid {expected}; fix: run \
         as the service user or chown the directory"
    )]
    DataDirOwner {
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("fleet: {0}")]
    Fleet(String),
    #[error("webhooks: {0}")]
    Webhooks(String),
    #[error(
        "master key file {key} is missing but the store {store} exists: without the key the \
         store's secrets cannot be read; fix: restore the master key from your offline copy"
    )]
    MasterKeyMissing { key: PathBuf, store: PathBuf },
    #[error("data dir {path} is not initialized; fix: run `tundra init` (or `tundra serve`)")]
    NotInitialized { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error(transparent)]
    Ca(#[from] fleet::CaError),
    #[error(transparent)]
    X509(#[from] x509::X509Error),
    #[error("panel certificate {path}: {message}")]
    Cert { path: PathBuf, message: String },
}

/// What `initialize` found or made.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// What was created now; empty when the dir was already initialized.
    pub created: Vec<String>,
    /// SHA-256 of the agent CA certificate.
    pub agent_ca_sha256: String,
    /// SHA-256 of the panel certificate in use.
    pub panel_cert_sha256: String,
    /// The audit public key (hex).
    pub audit_public_key: String,
}

/// The opened pieces of an initialized data dir.
pub struct Opened {
    pub master: MasterKey,
    pub key_version: u32,
    pub store: Store,
    pub audit: AuditLog,
    pub report: InitReport,
}

/// Checks the data dir and, when `create` is set, makes whatever is missing.
pub fn initialize(
    config: &Config,
    dir: &DataDir,
    clock: &SharedClock,
    create: bool,
) -> Result<Opened, InitError> {
    let mut created = Vec::new();
    let (key_path, store_path) = (dir.master_key(), dir.store());
    if dir.root().exists() {
        dir.check()?;
    } else if create {
        dir.create()?;
        created.push(format!("data dir {} (0700)", dir.root().display()));
    } else {
        return Err(InitError::NotInitialized {
            path: dir.root().to_owned(),
        });
    }

    let master = if key_path.exists() {
        MasterKey::load_file(&key_path)?
    } else if store_path.exists() {
        return Err(InitError::MasterKeyMissing {
            key: key_path,
            store: store_path,
        });
    } else if create {
        let key = MasterKey::generate();
        key.create_file(&key_path)?;
        created.push(format!("master key {} (0400)", key_path.display()));
        key
    } else {
        return Err(InitError::NotInitialized {
            path: dir.root().to_owned(),
        });
    };

    let (store, key_version, audit_log) = if store_path.exists() {
        let store = Store::open(&store_path)?;
        let version = store.read(|tx| key_version(&tx.public(KEY_VERSION_NAME)?))?;
        let key = store.read(|tx| audit::load_signing_key(tx, &master, version))?;
        (store, version, AuditLog::new(key, clock.clone()))
    } else if create {
        let store = Store::create(&store_path)?;
        let key = SigningKey::generate();
        let audit_log = AuditLog::new(SigningKey::from_seed(key.seed().expose()), clock.clone());
        store.write(|tx| -> Result<(), InitError> {
            let v = FIRST_KEY_VERSION;
            tx.put_public(KEY_VERSION_NAME, v.to_string().as_bytes())?;
            audit::store_signing_key(tx, &master, v, &key)?;
            let fingerprint = fleet::create_agent_ca(tx, &master, v, clock.now())?;
            audit_log.append(
                tx,
                &AuditContext::actor(Actor::LocalCli),
                &AuditEvent::ApplianceInitialized {
                    agent_ca_sha256: fingerprint,
                    audit_public_key: audit_log.public_key().to_hex(),
                },
            )?;
            Ok(())
        })?;
        created.push(format!("store {} (0600)", store_path.display()));
        (store, FIRST_KEY_VERSION, audit_log)
    } else {
        return Err(InitError::NotInitialized {
            path: dir.root().to_owned(),
        });
    };

    if create && config.tls_cert.is_none() {
        if let Some(why) = panel_cert_renewal(config, dir, clock) {
            write_panel_cert(config, dir, clock)?;
            created.push(format!(
                "panel certificate {} for {} ({why})",
                dir.panel_cert().display(),
                config.served_names().join(", ")
            ));
        }
    }

    let agent_ca_sha256 = store
        .read(fleet::agent_ca_cert_pem)?
        .as_deref()
        .and_then(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
        .map(|der| x509::fingerprint(&der))
        .unwrap_or_default();
    let cert_path = config.tls_cert.clone().unwrap_or_else(|| dir.panel_cert());
    let report = InitReport {
        created,
        agent_ca_sha256,
        // Local CLI commands do not serve TLS, so a missing certificate only matters to serve.
        panel_cert_sha256: match cert_fingerprint(&cert_path) {
            Ok(f) => f,
            Err(e) if create => return Err(e),
            Err(_) => String::new(),
        },
        audit_public_key: audit_log.public_key().to_hex(),
    };
    Ok(Opened {
        master,
        key_version,
        store,
        audit: audit_log,
        report,
    })
}

fn key_version(stored: &Option<Vec<u8>>) -> Result<u32, StoreError> {
    stored
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            what: KEY_VERSION_NAME.into(),
            detail: "missing or not a number".into(),
        })
}

/// Days before expiry when the generated certificate is renewed at start.
const PANEL_CERT_RENEW_DAYS: i64 = 30;

/// Why the generated panel certificate must be (re)made, or `None` when it is fine. Only
/// the certificate tundra generated is ever replaced; a configured one is the admin's.
fn panel_cert_renewal(config: &Config, dir: &DataDir, clock: &SharedClock) -> Option<String> {
    if !(dir.panel_cert().exists() && dir.panel_key().exists()) {
        return Some("new".into());
    }
    let summary = match std::fs::read(dir.panel_cert())
        .map_err(|e| e.to_string())
        .and_then(|pem| x509::summarize_pem(&pem))
    {
        Ok(s) => s,
        Err(e) => return Some(format!("the old one is unreadable: {e}")),
    };
    if let Some(missing) = config.served_names().iter().find(|n| !summary.covers(n)) {
        return Some(format!("the old one does not cover {missing}"));
    }
    if summary.not_after < clock.now() + time::Duration::days(PANEL_CERT_RENEW_DAYS) {
        return Some("the old one expires within 30 days".into());
    }
    None
}

/// Generates the self-signed panel certificate; the key file is created 0600 in one step.
fn write_panel_cert(config: &Config, dir: &DataDir, clock: &SharedClock) -> Result<(), InitError> {
    let cert = x509::self_signed_server(&config.served_names(), clock.now(), PANEL_CERT_DAYS)?;
    write_private(&dir.panel_key(), cert.key_pem.expose().as_bytes())?;
    write_private(&dir.panel_cert(), cert.cert_pem.as_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    let io = |source| InitError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// SHA-256 of the first certificate in a PEM file.
fn cert_fingerprint(path: &Path) -> Result<String, InitError> {
    let bad = |message: String| InitError::Cert {
        path: path.to_owned(),
        message,
    };
    let der = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("no certificate in the file".into()))?
        .map_err(|e| bad(e.to_string()))?;
    Ok(x509::fingerprint(&der))
}
