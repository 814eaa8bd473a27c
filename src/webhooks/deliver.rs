//! One delivery attempt on the wire: resolve the receiver's name, check every address it
//! resolves to, connect to a checked address (never a second lookup), TLS with SNI = the
//! URL's host, one HTTP/1.1 POST. Redirects are not followed: only a 2xx counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::RootCertStore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::target::{self, Scheme, Target, TargetRules};
use super::WebhookError;

/// The TLS client config for receivers: the system's roots plus `extra`, TLS 1.2 or 1.3
/// (receivers are other people's servers), ALPN `http/1.1`.
pub(super) fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, WebhookError> {
    let mut roots = RootCertStore::empty();
    // A system store with a few unparsable entries is normal; an empty one only means that
    // receivers need a certificate from `webhook_ca_file`.
    let (_added, _ignored) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for c in extra {
        roots
            .add(c.clone())
            .map_err(|e| WebhookError::invalid("webhook_ca_file", e.to_string()))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(crate::crypto::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Task(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What to send.
pub(super) struct Request<'a> {
    pub target: &'a Target,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Sends `req` within `timeout`: `Ok(status)` when the receiver answered (any status),
/// `Err(why)` when the target was refused or unreachable.
pub(super) async fn send(
    tls: &Arc<rustls::ClientConfig>,
    rules: TargetRules,
    req: Request<'_>,
    timeout: Duration,
) -> Result<u16, String> {
    match tokio::time::timeout(timeout, exchange(tls, rules, req)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

async fn exchange(
    tls: &Arc<rustls::ClientConfig>,
    rules: TargetRules,
    req: Request<'_>,
) -> Result<u16, String> {
    let addrs = target::resolve(rules, req.target)
        .await
        .map_err(|m| format!("refused: {m}"))?;
    let tcp = connect(&addrs).await?;
    match req.target.scheme {
        Scheme::Http => post(tcp, req).await,
        Scheme::Https => {
            let name = ServerName::try_from(req.target.host.clone())
                .map_err(|e| format!("{}: {e}", req.target.host))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            post(stream, req).await
        }
    }
}

/// Connects to the first of the checked `addrs` that answers.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    Err(last)
}

async fn post<IO>(io: IO, req: Request<'_>) -> Result<u16, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let conn = tokio::spawn(conn);
    let mut builder = http::Request::post(req.target.path.as_str())
        .header(http::header::HOST, req.target.authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("tundra-webhooks/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &req.headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body)))
        .map_err(|e| format!("request: {e}"))?;
    let answer = sender.send_request(request).await;
    conn.abort();
    let res = answer.map_err(|e| format!("HTTP: {e}"))?;
    Ok(res.status().as_u16())
}
