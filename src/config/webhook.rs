//! The `webhook_*` keys' checks beyond their types.

use std::path::Path;

use super::{Config, ConfigError};

/// The longest a webhook delivery attempt may take.
pub const MAX_WEBHOOK_TIMEOUT_SECS: u64 = 120;
/// The most attempts one webhook delivery may get.
pub const MAX_WEBHOOK_ATTEMPTS: u32 = 50;

/// Checks the webhook keys (their zero values are refused with the other counts).
pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
    if c.webhook_timeout_secs > MAX_WEBHOOK_TIMEOUT_SECS {
        return invalid(
            "webhook_timeout_secs",
            format!("must be at most {MAX_WEBHOOK_TIMEOUT_SECS}"),
        );
    }
    if c.webhook_max_attempts > MAX_WEBHOOK_ATTEMPTS {
        return invalid(
            "webhook_max_attempts",
            format!("must be at most {MAX_WEBHOOK_ATTEMPTS}"),
        );
    }
    if let Some(path) = &c.webhook_ca_file {
        webhook_roots(path).map_err(|message| ConfigError::Invalid {
            key: "webhook_ca_file",
            message,
        })?;
    }
    Ok(())
}

/// The certificates of the PEM file `path` (at least one), as `webhook_ca_file` names it.
pub fn webhook_roots(
    path: &Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no certificate", path.display()));
    }
    Ok(certs)
}
