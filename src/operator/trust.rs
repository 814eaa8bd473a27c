//! How the CLI decides the appliance is the appliance: one of three trust modes, chosen at
//! login and saved with the token, turned into a TLS 1.3-only rustls client config.
//!
//! - `ca`: the PEM roots given with `--ca FILE` (e.g. the appliance's self-signed
//!   `panel-cert.pem`); chain and name are checked by webpki.
//! - `pin`: the SHA-256 of the panel's leaf certificate (`--pin-sha256`), compared in
//!   constant time. The certificate's names and validity dates are *not* checked — the pin
//!   names one exact certificate — but the handshake signature still is, so only the
//!   holder of that certificate's key can answer.
//! - `system`: the operating system's root store, for appliances with a publicly issued
//!   certificate.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};

use super::OperatorError;
use crate::crypto::{ct_eq, digest::sha256};

/// The trust mode saved in the operator config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum TrustMode {
    /// Trust these PEM roots (the file's content, kept so the config stands on its own).
    Ca {
        /// Where the roots were read from at login (for messages).
        file: String,
        /// The PEM text.
        pem: String,
    },
    /// Trust exactly the leaf certificate with this SHA-256 (64 lowercase hex digits).
    Pin {
        /// The pin.
        sha256: String,
    },
    /// Trust the operating system's roots.
    System,
}

impl fmt::Display for TrustMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustMode::Ca { file, .. } => write!(f, "roots from {file}"),
            TrustMode::Pin { sha256 } => write!(f, "pinned SHA-256 {sha256}"),
            TrustMode::System => f.write_str("the system's roots"),
        }
    }
}

/// Parses a `--pin-sha256` value: 64 hex digits, upper or lower case, colons allowed
/// (`openssl x509 -fingerprint -sha256` prints them that way).
pub fn parse_pin(s: &str) -> Result<[u8; 32], OperatorError> {
    let clean: String = s.trim().chars().filter(|c| *c != ':').collect();
    hex::decode(clean.to_ascii_lowercase())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            OperatorError::Usage(
                "--pin-sha256 must be 64 hex digits, with or without colons (`tundra serve` \
                 prints it as \"Panel certificate SHA-256\")"
                    .into(),
            )
        })
}

/// The roots of a `--ca` PEM file's text; at least one certificate is required.
pub fn parse_roots(file: &str, pem: &str) -> Result<RootCertStore, OperatorError> {
    let bad = |message: String| OperatorError::Usage(format!("--ca {file}: {message}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| bad(format!("not PEM certificates ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("unusable certificate ({e})")))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(roots)
}

/// The TLS client config for `mode`: TLS 1.3 only, Tundra's provider, ALPN `http/1.1`.
pub fn client_config(mode: &TrustMode) -> Result<Arc<rustls::ClientConfig>, OperatorError> {
    let provider = crate::crypto::tls::provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| OperatorError::Usage(format!("TLS setup: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TrustMode::Ca { file, pem } => webpki(parse_roots(file, pem)?, &provider)?,
        TrustMode::Pin { sha256 } => Arc::new(PinnedLeaf {
            pin: parse_pin(sha256)?,
            provider,
        }),
        TrustMode::System => webpki(system_roots()?, &provider)?,
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, OperatorError> {
    let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| OperatorError::Usage(format!("TLS roots: {e}")))?;
    Ok(v)
}

fn system_roots() -> Result<RootCertStore, OperatorError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    // A store with a few unparsable entries is normal; only an empty one is a problem.
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), ToString::to_string);
        return Err(OperatorError::Usage(format!(
            "no usable system root certificates ({why}); use --ca FILE or --pin-sha256 HEX"
        )));
    }
    Ok(roots)
}

/// What the pinned verifier reports when the leaf is not the pinned one; the client turns
/// it into [`OperatorError::PinMismatch`].
#[derive(Debug, thiserror::Error)]
#[error("leaf certificate SHA-256 {got} is not the pinned one")]
pub struct PinMismatch {
    /// The SHA-256 (lowercase hex) of the leaf the server presented.
    pub got: String,
}

/// Accepts exactly the leaf certificate whose SHA-256 is `pin`, whatever its names and
/// dates (see the module doc), and checks the handshake signature made with its key.
#[derive(Debug)]
struct PinnedLeaf {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = sha256(end_entity);
        if ct_eq(&seen, &self.pin) {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(PinMismatch {
                got: hex::encode(seen),
            })),
        )))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The client config offers TLS 1.3 only.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons_in_either_case() {
        let hex64 = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&hex64).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        for bad in ["", "abcd", &"zz".repeat(32), &"ab".repeat(33)] {
            let err = parse_pin(bad).unwrap_err().to_string();
            assert!(err.contains("--pin-sha256"), "{err}");
        }
    }

    #[test]
    fn the_pinned_verifier_accepts_only_the_pinned_leaf() {
        let cert = crate::crypto::x509::self_signed_server(
            &["localhost".into()],
            time::OffsetDateTime::now_utc(),
            1,
        )
        .unwrap();
        let der = CertificateDer::from(cert.cert_der.clone());
        let verifier = PinnedLeaf {
            pin: sha256(&cert.cert_der),
            provider: crate::crypto::tls::provider(),
        };
        // Any name: the pin, not the name, identifies the server.
        let name = ServerName::try_from("elsewhere.example").unwrap();
        let now = UnixTime::now();
        assert!(verifier
            .verify_server_cert(&der, &[], &name, &[], now)
            .is_ok());

        let other = PinnedLeaf {
            pin: [0; 32],
            provider: crate::crypto::tls::provider(),
        };
        let err = other
            .verify_server_cert(&der, &[], &name, &[], now)
            .unwrap_err();
        let rustls::Error::InvalidCertificate(CertificateError::Other(e)) = err else {
            panic!("{err:?}");
        };
        let mismatch = e.0.downcast_ref::<PinMismatch>().unwrap();
        assert_eq!(mismatch.got, hex::encode(sha256(&cert.cert_der)));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let err = parse_roots("x.pem", "hello").unwrap_err().to_string();
        assert!(
            err.contains("--ca x.pem") && err.contains("no certificate"),
            "{err}"
        );
        let cert = crate::crypto::x509::self_signed_server(
            &["localhost".into()],
            time::OffsetDateTime::now_utc(),
            1,
        )
        .unwrap();
        assert_eq!(parse_roots("p.pem", &cert.cert_pem).unwrap().len(), 1);
    }
}
