//! X.509 material made with rcgen: the panel's self-signed certificate and the internal
//! agent CA. Keys are ECDSA P-256.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

use super::digest::sha256;
use super::secret::Secret;

/// A certificate with its private key.
pub struct CertAndKey {
    /// PEM of the certificate.
    pub cert_pem: String,
    /// DER of the certificate (for fingerprints).
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM of the private key.
    pub key_pem: Secret<String>,
}

/// Certificate generation failed (e.g. a configured host name is not a valid DNS name).
#[derive(Debug, thiserror::Error)]
#[error("certificate generation failed: {0}")]
pub struct X509Error(#[from] rcgen::Error);

/// The common name of the panel's self-signed certificate.
pub const PANEL_CN: &str = "Tundra panel";
/// The common name of the internal agent CA.
pub const AGENT_CA_CN: &str = "Tundra agent CA";

/// A self-signed TLS server certificate for `names` (DNS names or IP addresses), valid from
/// `now` for `days`.
pub fn self_signed_server(
    names: &[String],
    now: OffsetDateTime,
    days: i64,
) -> Result<CertAndKey, X509Error> {
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name = dn(PANEL_CN);
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(days);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: Secret::new(key.serialize_pem()),
    })
}

/// The parameters of the agent CA; used to create it and, with its key, to issue from it.
pub fn agent_ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(AGENT_CA_CN);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// A new agent CA valid for ten years from `now`.
pub fn new_agent_ca(now: OffsetDateTime) -> Result<CertAndKey, X509Error> {
    let key = KeyPair::generate()?;
    let cert = agent_ca_params(now).self_signed(&key)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: Secret::new(key.serialize_pem()),
    })
}

/// What a certificate covers: its subject alternative names and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// DNS names (lowercase) and IP addresses (as text) the certificate is valid for.
    pub names: Vec<String>,
    /// The end of its validity.
    pub not_after: OffsetDateTime,
}

/// Reads the names and expiry of the first certificate in `pem`.
pub fn summarize_pem(pem: &[u8]) -> Result<CertSummary, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| e.to_string())?;
    summarize_der(&pem.contents)
}

/// Reads the names and expiry of a DER certificate.
pub fn summarize_der(der: &[u8]) -> Result<CertSummary, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    names.push(d.to_ascii_lowercase())
                }
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .map_err(|e| e.to_string())?;
    Ok(CertSummary { names, not_after })
}

impl CertSummary {
    /// Whether `name` (a DNS name or IP address) is among the certificate's names.
    pub fn covers(&self, name: &str) -> bool {
        let wanted = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => name.to_ascii_lowercase(),
        };
        self.names.contains(&wanted)
    }
}

/// DER of the first certificate in `pem`.
pub fn first_cert_der(pem: &str) -> Option<Vec<u8>> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    Some(p.contents)
}

/// SHA-256 fingerprint of a DER certificate as lowercase hex (what `--ca-sha256` takes).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(sha256(der))
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_cert_has_names_and_pem() {
        let c = self_signed_server(
            &["localhost".into(), "127.0.0.1".into()],
            OffsetDateTime::now_utc(),
            30,
        )
        .unwrap();
        assert!(c.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.key_pem.expose().contains("PRIVATE KEY"));
        assert_eq!(fingerprint(&c.cert_der).len(), 64);
        let summary = summarize_pem(c.cert_pem.as_bytes()).unwrap();
        assert!(summary.covers("LOCALHOST") && summary.covers("127.0.0.1"));
        assert!(!summary.covers("other.example"));
        assert!(summary.not_after > OffsetDateTime::now_utc() + time::Duration::days(29));
    }
}
