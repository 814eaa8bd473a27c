//! The client-certificate check of the agent port: a chain to the agent CA (webpki), and the
//! certificate must be its agent's current one while the agent is active — so a revoked
//! agent is refused inside the TLS handshake.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};

use crate::crypto::{digest, issue};
use crate::fleet::Fleet;

/// Verifies agent client certificates.
#[derive(Debug)]
pub struct AgentVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    fleet: Arc<Fleet>,
}

impl AgentVerifier {
    /// A verifier trusting only `ca_der`.
    pub fn new(ca_der: CertificateDer<'static>, fleet: Arc<Fleet>) -> Result<Self, rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(ca_der)?;
        let inner = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            crate::crypto::tls::provider(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(Self { inner, fleet })
    }
}

impl ClientCertVerifier for AgentVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let current = issue::common_name(end_entity).is_some_and(|cn| {
            self.fleet
                .certificate_current(&cn, &digest::sha256(end_entity))
        });
        if !current {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
