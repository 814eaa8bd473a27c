//! The plain-HTTP listener: 308 to the configured origin for pages, refusal for the API.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixture::Appliance;

/// Sends a raw HTTP/1.1 request and returns the whole response text.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn pages_redirect_308_to_the_configured_origin_not_the_host_header() {
    let a = Appliance::start().await;
    let res = raw(
        a.redirect,
        "GET /some/page?x=1&y=2 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 308"), "{res}");
    let location = format!(
        "location: https://localhost:{}/some/page?x=1&y=2\r\n",
        a.panel.port()
    );
    assert!(res.to_ascii_lowercase().contains(&location), "{res}");
    assert!(!res.contains("evil.example"));
}

#[tokio::test]
async fn api_is_refused_not_redirected() {
    let a = Appliance::start().await;
    for path in ["/api/v1/auth/login", "/api"] {
        let res = raw(
            a.redirect,
            &format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(res.starts_with("HTTP/1.1 403"), "{res}");
        assert!(!res.to_ascii_lowercase().contains("location:"), "{res}");
        assert!(
            res.contains(r#"{"error":{"code":"https_required""#),
            "{res}"
        );
    }
}

#[tokio::test]
async fn redirect_via_a_real_client() {
    let a = Appliance::start().await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = c
        .get(format!("http://{}/", a.redirect))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"],
        format!("https://localhost:{}/", a.panel.port()).as_str()
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}
