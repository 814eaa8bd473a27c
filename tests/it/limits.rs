//! Limits on what a peer controls: body size, connections per IP, slow handshakes and slow
//! or idle clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::fixture::{assert_security_headers, Appliance};

async fn tls(a: &Appliance) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&a.cert_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(a.panel).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads until the peer closes; returns how long that took (fails after `limit`).
async fn time_until_closed<S: AsyncReadExt + Unpin>(s: &mut S, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn declared_oversized_body_gets_413_before_it_is_sent() {
    let a = Appliance::start().await;
    for path in ["/api/v1/anything", "/"] {
        let res = a
            .client()
            .post(a.url(path))
            .body(vec![b'x'; 1024 * 1024 + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413, "{path}");
        assert_security_headers(&res);
        if path.starts_with("/api") {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "payload_too_large");
        }
    }
    // The server answers from the header alone: a client that declares 50 MiB and sends
    // nothing still gets its 413.
    let mut s = tls(&a).await;
    s.write_all(b"POST /api/v1/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 52428800\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
}

#[tokio::test]
async fn one_ip_cannot_hold_more_than_its_share_of_connections() {
    let a = Appliance::start_with(|c| c.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tls(&a).await);
    }
    let mut fourth = TcpStream::connect(a.panel).await.unwrap();
    let closed_after = time_until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert!(closed_after < Duration::from_secs(2));
    held.pop();
    // A place is free again once a connection closes.
    let mut ok = None;
    for _ in 0..50 {
        let res = a.http1_client().get(a.url("/healthz")).send().await;
        if let Ok(r) = res {
            ok = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ok, Some(reqwest::StatusCode::OK));
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let a = Appliance::start_with(|c| c.tls_handshake_timeout_secs = 1).await;
    let mut s = TcpStream::connect(a.panel).await.unwrap();
    let t = time_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(t >= Duration::from_millis(900), "{t:?}");
}

#[tokio::test]
async fn a_slow_header_is_cut_off() {
    let a = Appliance::start_with(|c| c.header_read_timeout_secs = 1).await;
    let mut s = tls(&a).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let t = time_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(t >= Duration::from_millis(900), "{t:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let a = Appliance::start_with(|c| c.idle_timeout_secs = 1).await;
    let mut s = tls(&a).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = time_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(t >= Duration::from_millis(900), "{t:?}");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut a = Appliance::start().await;
    let mut s = tls(&a).await;
    // A sign-in spends a few hundred milliseconds hashing: stop the appliance while it runs.
    let body = r#"{"email":"x@example.com","password":"not the password"}"#;
    s.write_all(
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Cookie: __Host-tundra_csrf=t0k3n\r\nX-CSRF-Token: t0k3n\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let running = a.running.take().unwrap();
    let t0 = Instant::now();
    let stopping = tokio::spawn(async move {
        let r = running.stop().await;
        (r, Instant::now())
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answered = Instant::now();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        head.starts_with("HTTP/1.1 401"),
        "the sign-in in flight was answered: {head}"
    );
    let (result, stopped) = tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
    result.unwrap();
    assert!(
        answered - t0 >= Duration::from_millis(30),
        "the hash was still running at stop"
    );
    assert!(
        stopped >= answered - Duration::from_millis(5),
        "stop waited for the answer"
    );
    assert!(
        TcpStream::connect(a.panel).await.is_err(),
        "the listener is closed"
    );
}
