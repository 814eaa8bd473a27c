//! Issuing from the internal agent CA: agent client certificates (from a CSR whose only
//! contribution is its public key) and the CA-issued server certificate of the agent port.

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

use super::secret::Secret;
use super::x509::{CertAndKey, X509Error};

/// The CA as loaded for issuing.
pub struct AgentCa {
    issuer: Issuer<'static, KeyPair>,
    /// PEM of the CA certificate.
    pub cert_pem: String,
}

impl AgentCa {
    /// Loads the CA from its certificate and private key (both PEM).
    pub fn load(cert_pem: &str, key_pem: &Secret<String>) -> Result<Self, X509Error> {
        let key = KeyPair::from_pem(key_pem.expose())?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_string(),
        })
    }

    /// A client certificate for `agent_id` (its CN) over the public key of `csr_pem`, valid
    /// from `now` for `days`. The CSR's signature is checked; everything else it asks for
    /// (names, extensions, CA flags) is ignored.
    pub fn issue_client(
        &self,
        csr_pem: &str,
        agent_id: &str,
        now: OffsetDateTime,
        days: i64,
    ) -> Result<(String, Vec<u8>), X509Error> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = cn(agent_id);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(days);
        params.serial_number = Some(super::random::bytes::<16>().to_vec().into());
        csr.params = params;
        let cert = csr.signed_by(&self.issuer)?;
        Ok((cert.pem(), cert.der().to_vec()))
    }

    /// A server certificate for `names`, issued by the CA, valid from `now` for `days`.
    pub fn issue_server(
        &self,
        names: &[String],
        now: OffsetDateTime,
        days: i64,
    ) -> Result<CertAndKey, X509Error> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = cn("Tundra rendezvous");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: Secret::new(key.serialize_pem()),
        })
    }
}

/// A new mTLS key for an agent and a CSR over it: `(csr_pem, key_pem)`.
pub fn agent_csr(agent_hostname: &str) -> Result<(String, Secret<String>), X509Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = cn(agent_hostname);
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, Secret::new(key.serialize_pem())))
}

/// The subject common name of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

fn cn(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::x509::new_agent_ca;

    #[test]
    fn client_certs_take_only_the_public_key_from_the_csr() {
        let now = OffsetDateTime::now_utc();
        let ca = new_agent_ca(now).unwrap();
        let ca = AgentCa::load(&ca.cert_pem, &ca.key_pem).unwrap();
        let (csr, _key) = agent_csr("web-1").unwrap();
        let (_, der) = ca.issue_client(&csr, "agt_x", now, 30).unwrap();
        assert_eq!(common_name(&der).as_deref(), Some("agt_x"));
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(!parsed.is_ca());
    }

    #[test]
    fn a_tampered_csr_is_refused() {
        let now = OffsetDateTime::now_utc();
        let ca = new_agent_ca(now).unwrap();
        let ca = AgentCa::load(&ca.cert_pem, &ca.key_pem).unwrap();
        assert!(ca.issue_client("not a csr", "agt_x", now, 30).is_err());
    }
}
