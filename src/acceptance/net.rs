//! The probes' network side: URLs, TCP with timeouts, TLS handshakes restricted to one
//! version and HTTP/1.1 requests (hyper's client over tokio-rustls). The legacy-TLS probe
//! is in `legacy_tls`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long any one connect, handshake or request may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most body bytes kept from a response.
const MAX_BODY: usize = 64 * 1024;

/// An `http` or `https` URL's origin, optionally with the address to connect to instead of
/// resolving the host (how the appliance checks itself by its public name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Connect here instead of resolving `host`.
    pub connect: Option<SocketAddr>,
}

impl Url {
    /// Parses `http://host[:port][/…]` or `https://…`; a path is ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let scheme = uri
            .scheme_str()
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| format!("{text:?} has no scheme (https://…)"))?;
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(format!("{text:?}: scheme {other:?} is not http or https")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Ok(Self {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
            connect: None,
        })
    }

    /// The same host with another scheme and port.
    pub fn with(&self, scheme: &str, port: u16) -> Self {
        Self {
            scheme: scheme.into(),
            host: self.host.clone(),
            port,
            connect: None,
        }
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" {
            443
        } else {
            80
        }
    }

    /// `host[:port]` as in a `Host` header (the port omitted when it is the default).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }
}

/// Opens a TCP connection within [`TIMEOUT`].
pub async fn tcp(url: &Url) -> Result<TcpStream, String> {
    let connect = async {
        match url.connect {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect((url.host.as_str(), url.port)).await,
        }
    };
    match tokio::time::timeout(TIMEOUT, connect).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", url.authority())),
        Err(_) => Err(format!(
            "cannot connect to {}: no answer within {} s",
            url.authority(),
            TIMEOUT.as_secs()
        )),
    }
}

/// ring with every key exchange group it has, so weak servers can be talked to and named.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trust anchors (`SSL_CERT_FILE` or the usual bundle paths) plus the
/// certificates in `extra` (`--ca`).
pub fn roots(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .iter()
            .map(std::path::PathBuf::from),
        );
    for path in candidates {
        if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
            let certs: Vec<_> = iter.filter_map(Result::ok).collect();
            let (added, _) = store.add_parsable_certificates(certs);
            if added > 0 {
                break;
            }
        }
    }
    for c in extra {
        let _ = store.add(c.clone());
    }
    store
}

/// Reads every certificate in a PEM file.
pub fn read_pem_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// Accepts any server certificate. Used only to see which protocol versions a server
/// negotiates and which certificate it presents (that chain is then verified on its own);
/// no credential is ever sent over such a connection.
#[derive(Debug)]
pub struct AcceptAny(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client config offering only `versions`, accepting any certificate (see [`AcceptAny`]).
pub fn probe_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<ClientConfig, String> {
    let p = provider();
    Ok(ClientConfig::builder_with_provider(Arc::clone(&p))
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(p)))
        .with_no_client_auth())
}

/// A client config that verifies the server against `roots` (TLS 1.3 and 1.2, so a weak
/// server's headers can still be read and judged).
pub fn verifying_config(roots: &RootCertStore) -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots.clone())
        .with_no_client_auth())
}

fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?}: {e}"))
}

/// Connects and completes a TLS handshake with `config` within [`TIMEOUT`].
pub async fn tls(url: &Url, config: ClientConfig) -> Result<TlsStream<TcpStream>, String> {
    let tcp = tcp(url).await?;
    let connector = TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(TIMEOUT, connector.connect(server_name(&url.host)?, tcp)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "TLS handshake not finished within {} s",
            TIMEOUT.as_secs()
        )),
    }
}

/// What a finished handshake showed.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The negotiated version, e.g. `TLS 1.3`.
    pub version: String,
    /// The certificate chain the server presented, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
}

/// A handshake offering only `versions`; `Err` carries why it failed (e.g. the alert).
pub async fn handshake(
    url: &Url,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Handshake, String> {
    let stream = tls(url, probe_config(versions)?).await?;
    let (_, conn) = stream.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let chain = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    Ok(Handshake { version, chain })
}

/// Verifies `chain` for `host` against `roots` at `now`.
pub fn verify_chain(
    roots: &RootCertStore,
    chain: &[CertificateDer<'static>],
    host: &str,
    now: time::OffsetDateTime,
) -> Result<(), String> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots.clone()),
        provider(),
    )
    .build()
    .map_err(|e| format!("no trust anchors to verify against: {e}"))?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| "the server presented no certificate".to_string())?;
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    verifier
        .verify_server_cert(
            leaf,
            intermediates,
            &server_name(host)?,
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// An HTTP response as the checks see it.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order, repeated names kept.
    pub headers: Vec<(String, String)>,
    /// The start of the body.
    pub body: String,
}

impl Reply {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (lowercase).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: http::Method,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self {
            method: http::Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: &str, body: &serde_json::Value) -> Self {
        Self {
            method: http::Method::POST,
            path: path.into(),
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// Sends `req` over HTTPS (HTTP/1.1), verifying the server against `roots`.
pub async fn https(url: &Url, roots: &RootCertStore, req: Request) -> Result<Reply, String> {
    let mut config = verifying_config(roots)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let stream = tls(url, config).await?;
    exchange(stream, url, req).await
}

/// Sends `req` over plain HTTP.
pub async fn http(url: &Url, req: Request) -> Result<Reply, String> {
    let stream = tcp(url).await?;
    exchange(stream, url, req).await
}

async fn exchange<S>(io: S, url: &Url, req: Request) -> Result<Reply, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = http::Request::builder()
        .method(req.method)
        .uri(req.path.as_str())
        .header(http::header::HOST, url.authority())
        .header(http::header::USER_AGENT, "tundra-acceptance");
    for (k, v) in req.headers {
        builder = builder.header(k, v);
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body)))
        .map_err(|e| format!("HTTP request: {e}"))?;
    let result = async {
        let res = tokio::time::timeout(TIMEOUT, sender.send_request(request))
            .await
            .map_err(|_| format!("no HTTP answer within {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = tokio::time::timeout(TIMEOUT, Limited::new(res.into_body(), MAX_BODY).collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_v6() {
        let u = Url::parse("https://Panel.Example.com/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("panel.example.com", 443));
        assert_eq!(u.origin(), "https://panel.example.com");
        let u = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(u.authority(), "[::1]:8080");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("panel.example.com").is_err());
    }
}
