//! The HTTPS client: one hyper HTTP/1.1 connection per request over tokio-rustls (TLS 1.3
//! only, trust as [`TrustMode`] says), with a connect timeout, a timeout on the whole
//! request and a cap on the answer's size. It knows the API's error shape and its cookies,
//! nothing about its routes.

use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, COOKIE, HOST, RETRY_AFTER, SET_COOKIE,
    USER_AGENT,
};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::trust::{client_config, PinMismatch, TrustMode};
use super::url::ServerUrl;
use super::OperatorError;
use crate::crypto::Secret;

/// The largest answer accepted (command output is at most a few MiB, base64-encoded).
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// Time to open the TCP connection and finish the TLS handshake, each.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole ordinary request (long polls set their own, see [`Request::timeout`]).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The session cookie's name.
const SESSION_COOKIE: &str = "__Host-tundra_session";
/// The CSRF double-submit cookie's name.
const CSRF_COOKIE: &str = "__Host-tundra_csrf";

/// A client for one appliance.
#[derive(Clone)]
pub struct Client {
    server: ServerUrl,
    trust: TrustMode,
    tls: Arc<rustls::ClientConfig>,
}

/// The cookies of a sign-in: the CSRF token (any answer sets it) and, once signed in, the
/// session id.
#[derive(Debug, Default)]
pub struct Cookies {
    csrf: Option<String>,
    session: Option<Secret<String>>,
}

impl Cookies {
    /// Keeps the cookies `res` sets.
    pub fn update(&mut self, res: &Response) {
        if let Some(v) = res.cookie(CSRF_COOKIE) {
            self.csrf = Some(v);
        }
        if let Some(v) = res.cookie(SESSION_COOKIE) {
            self.session = (!v.is_empty()).then(|| Secret::new(v));
        }
    }

    /// Whether the appliance gave a session.
    pub fn signed_in(&self) -> bool {
        self.session.is_some()
    }

    fn header(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.csrf {
            parts.push(format!("{CSRF_COOKIE}={c}"));
        }
        if let Some(s) = &self.session {
            parts.push(format!("{SESSION_COOKIE}={}", s.expose()));
        }
        parts.join("; ")
    }
}

/// How a request proves who sends it.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// Not at all.
    None,
    /// An API token (`Authorization: Bearer`; exempt from CSRF).
    Bearer(&'a Secret<String>),
    /// Cookies; mutating requests also carry the CSRF token as `X-CSRF-Token`.
    Cookies(&'a Cookies),
}

/// One API request.
pub struct Request<'a> {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    auth: Auth<'a>,
    timeout: Duration,
}

impl<'a> Request<'a> {
    /// `GET path`.
    pub fn get(path: impl Into<String>, auth: Auth<'a>) -> Self {
        Self::new(Method::GET, path, auth)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>, auth: Auth<'a>) -> Self {
        Self::new(Method::DELETE, path, auth)
    }

    /// `POST path` with `body` as JSON.
    pub fn post(path: impl Into<String>, auth: Auth<'a>, body: &impl serde::Serialize) -> Self {
        let mut r = Self::new(Method::POST, path, auth);
        // Serializing plain structs and maps cannot fail; an empty body would be refused.
        r.body = Some(serde_json::to_vec(body).unwrap_or_default());
        r
    }

    /// Allows the whole request `t` instead of [`REQUEST_TIMEOUT`] (for long polls).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    fn new(method: Method, path: impl Into<String>, auth: Auth<'a>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            auth,
            timeout: REQUEST_TIMEOUT,
        }
    }
}

/// An answer, whatever its status, with its body read (at most [`MAX_BODY_BYTES`]).
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// `{"error":{"code","message"}}`, tolerant of more fields.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

impl Response {
    /// The value of cookie `name` in this answer's `Set-Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The API error this answer carries (for a non-2xx status).
    pub fn error(&self) -> OperatorError {
        let retry_after = self
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (
                format!("http_{}", self.status.as_u16()),
                format!("the appliance answered HTTP {}", self.status),
            ),
        };
        OperatorError::Api {
            status: self.status.as_u16(),
            code,
            message,
            retry_after,
        }
    }
}

impl Client {
    /// A client for `server` trusting as `trust` says.
    pub fn new(server: ServerUrl, trust: TrustMode) -> Result<Self, OperatorError> {
        let tls = client_config(&trust)?;
        Ok(Self { server, trust, tls })
    }

    /// The appliance.
    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    /// Sends `req` and parses a 2xx answer's JSON as `T`; other answers become
    /// [`OperatorError::Api`].
    pub async fn call<T: DeserializeOwned>(&self, req: Request<'_>) -> Result<T, OperatorError> {
        let res = self.send(req).await?;
        if !res.status.is_success() {
            return Err(res.error());
        }
        self.parse(&res)
    }

    /// Parses a 2xx answer's JSON as `T`.
    pub fn parse<T: DeserializeOwned>(&self, res: &Response) -> Result<T, OperatorError> {
        serde_json::from_slice(&res.body).map_err(|e| self.unexpected(e.to_string()))
    }

    /// An [`OperatorError::Unexpected`] about this server.
    pub fn unexpected(&self, message: String) -> OperatorError {
        OperatorError::Unexpected {
            server: self.server.to_string(),
            message,
        }
    }

    /// Sends `req` on a new connection and reads the whole answer, whatever its status.
    pub async fn send(&self, req: Request<'_>) -> Result<Response, OperatorError> {
        let secs = req.timeout.as_secs();
        match tokio::time::timeout(req.timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(OperatorError::Timeout {
                server: self.server.to_string(),
                secs,
            }),
        }
    }

    async fn exchange(&self, req: Request<'_>) -> Result<Response, OperatorError> {
        let tls = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        // The connection task ends when the answer is read and `sender` dropped; aborting
        // it on the way out covers early returns too.
        let conn = AbortOnDrop(tokio::spawn(conn));
        let request = self.build(req)?;
        let res = sender
            .send_request(request)
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        let (parts, body) = res.into_parts();
        let body = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    OperatorError::TooLarge {
                        server: self.server.to_string(),
                        limit: MAX_BODY_BYTES,
                    }
                } else {
                    self.unreachable(e.to_string())
                }
            })?
            .to_bytes();
        drop(conn);
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn connect(&self) -> Result<tokio_rustls::client::TlsStream<TcpStream>, OperatorError> {
        let (host, port) = (self.server.host(), self.server.port());
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| self.unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| self.unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| OperatorError::Usage(format!("{host:?} is not a host name")))?;
        let connector = TlsConnector::from(Arc::clone(&self.tls));
        tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| self.unreachable(format!("no TLS handshake within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| self.tls_error(&e))
    }

    fn build(&self, req: Request<'_>) -> Result<http::Request<Full<Bytes>>, OperatorError> {
        let mutating = req.method != Method::GET;
        let mut b = http::Request::builder()
            .method(req.method)
            .uri(&req.path)
            .header(HOST, self.server.authority())
            .header(
                USER_AGENT,
                concat!("tundra-cli/", env!("CARGO_PKG_VERSION")),
            )
            .header(ACCEPT, "application/json")
            .header(CONNECTION, "close");
        match req.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                b = b.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
            }
            Auth::Cookies(c) => {
                b = b.header(COOKIE, c.header());
                if let (true, Some(csrf)) = (mutating, &c.csrf) {
                    b = b.header("x-csrf-token", csrf);
                }
            }
        }
        let body = match req.body {
            Some(body) => {
                b = b.header(CONTENT_TYPE, "application/json");
                Bytes::from(body)
            }
            None => Bytes::new(),
        };
        b.body(Full::new(body))
            .map_err(|e| OperatorError::Usage(format!("bad request: {e}")))
    }

    fn unreachable(&self, message: String) -> OperatorError {
        OperatorError::Unreachable {
            server: self.server.to_string(),
            message,
        }
    }

    fn tls_error(&self, e: &std::io::Error) -> OperatorError {
        let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            return self.unreachable(format!("TLS handshake failed: {e}"));
        };
        match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                match (other.0.downcast_ref::<PinMismatch>(), &self.trust) {
                    (Some(m), TrustMode::Pin { sha256 }) => OperatorError::PinMismatch {
                        server: self.server.to_string(),
                        expected: sha256.clone(),
                        got: m.got.clone(),
                    },
                    _ => self.untrusted(tls),
                }
            }
            rustls::Error::InvalidCertificate(_) => self.untrusted(tls),
            other => self.unreachable(format!("TLS handshake failed: {other}")),
        }
    }

    fn untrusted(&self, e: &rustls::Error) -> OperatorError {
        OperatorError::Untrusted {
            server: self.server.to_string(),
            trust: self.trust.to_string(),
            message: e.to_string(),
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn api_errors_keep_code_message_and_retry_after() {
        let r = response(
            429,
            &[("retry-after", "17")],
            r#"{"error":{"code":"rate_limited","message":"Slow down.","request_id":"x"}}"#,
        );
        let OperatorError::Api {
            status,
            code,
            message,
            retry_after,
        } = r.error()
        else {
            panic!()
        };
        assert_eq!(
            (status, code.as_str(), message.as_str()),
            (429, "rate_limited", "Slow down.")
        );
        assert_eq!(retry_after, Some(17));
        let e = response(502, &[], "<html>bad gateway</html>").error();
        assert_eq!(e.api_code(), Some("http_502"));
        assert!(e.is_transient());
    }

    #[test]
    fn cookies_are_read_from_set_cookie_and_sent_back_with_the_csrf_header() {
        let mut jar = Cookies::default();
        jar.update(&response(
            200,
            &[
                (
                    "set-cookie",
                    "__Host-tundra_csrf=c1; Path=/; Secure; HttpOnly",
                ),
                (
                    "set-cookie",
                    "__Host-tundra_session=s1; Path=/; Secure; HttpOnly",
                ),
            ],
            "{}",
        ));
        assert!(jar.signed_in());
        assert_eq!(
            jar.header(),
            "__Host-tundra_csrf=c1; __Host-tundra_session=s1"
        );
        assert!(
            !format!("{jar:?}").contains("s1"),
            "the session id is redacted"
        );
        let client = Client::new(
            ServerUrl::parse("https://localhost:8443").unwrap(),
            TrustMode::Pin {
                sha256: "00".repeat(32),
            },
        )
        .unwrap();
        let post = client
            .build(Request::post(
                "/api/v1/auth/logout",
                Auth::Cookies(&jar),
                &(),
            ))
            .unwrap();
        assert_eq!(post.headers()["x-csrf-token"], "c1");
        assert_eq!(post.headers()[HOST], "localhost:8443");
        let get = client
            .build(Request::get("/api/v1/me", Auth::Cookies(&jar)))
            .unwrap();
        assert!(get.headers().get("x-csrf-token").is_none());
        // A cleared session cookie signs the jar out.
        jar.update(&response(
            204,
            &[("set-cookie", "__Host-tundra_session=; Path=/; Max-Age=0")],
            "",
        ));
        assert!(!jar.signed_in());
    }
}
