//! TLS: 1.3 only, refused below, checked with our own client and with OpenSSL as a real peer.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::fixture::Appliance;

fn client_config(
    a: &Appliance,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&a.cert_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

async fn handshake(
    a: &Appliance,
    config: rustls::ClientConfig,
) -> std::io::Result<rustls::ProtocolVersion> {
    let tcp = TcpStream::connect(a.panel).await?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    Ok(tls.get_ref().1.protocol_version().unwrap())
}

#[tokio::test]
async fn tls13_is_negotiated() {
    let a = Appliance::start().await;
    let v = handshake(
        &a,
        client_config(&a, &[&rustls::version::TLS13, &rustls::version::TLS12]),
    )
    .await
    .unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
}

#[tokio::test]
async fn a_tls12_only_client_is_refused() {
    let a = Appliance::start().await;
    let err = handshake(&a, client_config(&a, &[&rustls::version::TLS12]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("protocol") || err.to_string().contains("Alert"),
        "{err}"
    );
}

/// Runs `openssl s_client` against the panel with `flags`; returns everything it printed.
async fn s_client(a: &Appliance, flags: &[&str]) -> String {
    let out = tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &a.panel.to_string(),
            "-servername",
            "localhost",
        ])
        .args(flags)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl must be installed (the test command installs it)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn openssl_tls12_and_below_are_refused() {
    let a = Appliance::start().await;
    for flag in ["-tls1_2", "-tls1_1"] {
        let text = s_client(&a, &[flag]).await;
        // OpenSSL 3.0 exits 0 even when the handshake fails, so judge by what it negotiated.
        assert!(
            text.contains("alert protocol version") || text.contains("alert handshake failure"),
            "{flag}: {text}"
        );
        assert!(text.contains("Cipher is (NONE)"), "{flag}: {text}");
    }
}

#[tokio::test]
async fn openssl_tls13_succeeds_with_h2() {
    let a = Appliance::start().await;
    let text = s_client(&a, &["-tls1_3", "-alpn", "h2,http/1.1"]).await;
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("ALPN protocol: h2"), "{text}");
}
