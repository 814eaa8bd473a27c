//! The panel's TLS: rustls with TLS 1.3 only, X25519/P-256/P-384, ALPN h2 and http/1.1.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::proto::agent::ENROLL_ALPN;

/// Loading the certificate or key failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {message}")]
    Cert { path: String, message: String },
    #[error("TLS key {path}: {message}")]
    Key { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The crypto provider: ring, limited to the key exchange groups SPEC §4 names.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    crate::crypto::tls::provider()
}

/// A second identity the panel presents only to clients offering the enrollment ALPN
/// protocol: the agent-CA-issued certificate, so an enrolling agent can check its CA pin
/// before sending its registration token, whatever certificate the panel normally shows.
pub struct EnrollIdentity {
    /// Leaf first, then the agent CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key.
    pub key: PrivateKeyDer<'static>,
}

#[derive(Debug)]
struct ByAlpn {
    default: Arc<CertifiedKey>,
    enroll: Arc<CertifiedKey>,
}

impl ResolvesServerCert for ByAlpn {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let enrolling = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ENROLL_ALPN));
        Some(Arc::clone(if enrolling {
            &self.enroll
        } else {
            &self.default
        }))
    }
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signer = crypto_provider().key_provider.load_private_key(key)?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// A TLS 1.3-only server config for the PEM certificate chain and key at the given paths,
/// presenting `enroll` to enrolling agents.
pub fn server_config(
    cert: &Path,
    key: &Path,
    enroll: Option<EnrollIdentity>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Cert {
            path: cert.display().to_string(),
            message: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let builder = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth();
    let mut alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut config = match enroll {
        None => builder.with_single_cert(chain, key)?,
        Some(e) => {
            alpn.push(ENROLL_ALPN.to_vec());
            builder.with_cert_resolver(Arc::new(ByAlpn {
                default: certified(chain, key)?,
                enroll: certified(e.chain, e.key)?,
            }))
        }
    };
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}
