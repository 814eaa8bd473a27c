//! `tundra agent enroll`: make the identity and mTLS keys, prove possession, spend the
//! registration token, keep what the appliance returns. The token is sent only after the
//! TLS handshake proved the server holds the pinned agent CA.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::{AgentConfig, DEFAULT_CONFIG};
use super::pin::{parse_pin, PinnedCa};
use super::state::{Enrollment, StateDir};
use super::{AgentError, CONFIG_FILE, VERSION};
use crate::crypto::{digest, issue, random, token, SigningKey};
use crate::proto::agent::{ENROLL_ALPN, ENROLL_DOMAIN};
use crate::proto::enroll::{EnrollRequest, EnrollResponse};

/// `tundra agent enroll` arguments.
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    /// The panel URL (`https://host[:port]`).
    pub server: String,
    /// The registration token.
    pub token: String,
    /// The agent CA's SHA-256, hex.
    pub ca_sha256: String,
    /// Display name (default: the host name).
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Host name to report (default: this host's).
    pub hostname: Option<String>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

/// Splits `https://host[:port][/]` into host and port.
pub(super) fn parse_server(server: &str) -> Result<(String, u16), AgentError> {
    let bad = || {
        AgentError::Usage(format!(
            "--server {server:?} is not an https://host[:port] URL"
        ))
    };
    let uri: http::Uri = server.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") || !uri.path().trim_matches('/').is_empty() {
        return Err(bad());
    }
    let host = uri
        .host()
        .ok_or_else(bad)?
        .trim_matches(['[', ']'])
        .to_string();
    Ok((host, uri.port_u16().unwrap_or(443)))
}

/// This host's name.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

fn os_description() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    pretty.unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// Enrolls into `state`. Refuses a state dir that already holds an enrollment.
pub async fn enroll(state: &StateDir, opts: &EnrollOptions) -> Result<String, AgentError> {
    if state.enrolled() {
        return Err(AgentError::AlreadyEnrolled(state.path().to_owned()));
    }
    let pin = parse_pin(&opts.ca_sha256).ok_or_else(|| {
        AgentError::Usage(
            "--ca-sha256 must be 64 hex digits (the panel's Enroll page shows it)".into(),
        )
    })?;
    if !opts.token.starts_with("tnd_reg_") {
        return Err(AgentError::Usage(
            "--token must be a registration token (tnd_reg_…)".into(),
        ));
    }
    let (host, port) = parse_server(&opts.server)?;
    let hostname = opts.hostname.clone().unwrap_or_else(hostname);
    let identity = SigningKey::generate();
    let (csr_pem, mtls_key) =
        issue::agent_csr(&hostname).map_err(|e| AgentError::Crypto(e.to_string()))?;
    let mut req = EnrollRequest {
        identity_key: identity.public().to_hex(),
        csr_pem,
        hostname,
        os: os_description(),
        version: VERSION.into(),
        name: opts.name.clone(),
        tags: opts.tags.clone(),
        timestamp_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
        nonce: hex::encode(random::bytes::<32>()),
        signature: String::new(),
    };
    let sig = identity.sign(
        ENROLL_DOMAIN,
        &req.payload(&token::token_hash_hex(&opts.token)),
    );
    req.signature = hex::encode(sig);
    let body = serde_json::to_vec(&req).map_err(|e| AgentError::Crypto(e.to_string()))?;

    let unreachable = |message: String| AgentError::Unreachable {
        server: opts.server.clone(),
        message,
    };
    let answer = tokio::time::timeout(TIMEOUT, post(&host, port, &opts.token, body, pin))
        .await
        .map_err(|_| unreachable("timed out".into()))??;
    let (status, bytes) = answer;
    if !status.is_success() {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        return Err(AgentError::Refused {
            code: v["error"]["code"].as_str().unwrap_or("error").to_string(),
            message: v["error"]["message"]
                .as_str()
                .map_or_else(|| format!("HTTP {status}"), str::to_string),
        });
    }
    let resp: EnrollResponse = serde_json::from_slice(&bytes)
        .map_err(|e| unreachable(format!("unexpected answer: {e}")))?;
    let ca_der = crate::crypto::x509::first_cert_der(&resp.ca_pem);
    if ca_der.is_none_or(|der| digest::sha256(&der) != pin) {
        return Err(AgentError::PinMismatch(opts.ca_sha256.clone()));
    }
    state.create()?;
    state.save_enrollment(
        &identity,
        &mtls_key,
        &resp.certificate_pem,
        &resp.ca_pem,
        &Enrollment {
            agent_id: resp.agent_id.clone(),
            server: opts.server.clone(),
            rendezvous: resp.rendezvous,
            grant_public_key: resp.grant_public_key,
            ca_sha256: hex::encode(pin),
        },
    )?;
    let config = state.file(CONFIG_FILE);
    if !config.exists() {
        state.write(CONFIG_FILE, DEFAULT_CONFIG.as_bytes())?;
    }
    AgentConfig::load(&config)?;
    Ok(resp.agent_id)
}

async fn post(
    host: &str,
    port: u16,
    token: &str,
    body: Vec<u8>,
    pin: [u8; 32],
) -> Result<(http::StatusCode, Bytes), AgentError> {
    let unreachable = |message: String| AgentError::Unreachable {
        server: format!("{host}:{port}"),
        message,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(crate::crypto::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| AgentError::Crypto(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(PinnedCa::new(pin))
        .with_no_client_auth();
    config.alpn_protocols = vec![ENROLL_ALPN.to_vec()];
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| AgentError::Usage(format!("{host:?} is not a host name")))?;
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(
            |e| match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(_)) => {
                    AgentError::PinMismatch(hex::encode(pin))
                }
                _ => unreachable(format!("TLS: {e}")),
            },
        )?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(conn);
    let request = http::Request::post("/api/v1/agents/enroll")
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| unreachable(e.to_string()))?;
    let response = send
        .send_request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    Ok((status, bytes))
}
