//! The HTTPS surface: headers on every kind of response, JSON vs HTML errors, Host checks,
//! HTTP/2, health.

use crate::fixture::{assert_security_headers, Appliance};

#[tokio::test]
async fn front_page_carries_security_headers_and_fingerprints() {
    let a = Appliance::start().await;
    let res = a.client().get(a.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.version(),
        reqwest::Version::HTTP_2,
        "ALPN negotiates h2"
    );
    assert_security_headers(&res);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = res.text().await.unwrap();
    let report = &a.running.as_ref().unwrap().core.report;
    assert!(body.contains(&report.agent_ca_sha256), "{body}");
    assert!(body.contains(&report.panel_cert_sha256));
    assert!(
        !body.contains("<script") && !body.contains("style="),
        "no inline script or style"
    );
}

#[tokio::test]
async fn http1_works_too() {
    let a = Appliance::start().await;
    let res = a
        .http1_client()
        .get(a.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn healthz_answers_ok_without_version() {
    let a = Appliance::start().await;
    let res = a.client().get(a.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn api_errors_are_json_with_headers() {
    let a = Appliance::start().await;
    let res = a
        .client()
        .get(a.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_security_headers(&res);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().len() > 3);
}

#[tokio::test]
async fn page_errors_are_templated_html_with_headers() {
    let a = Appliance::start().await;
    let res = a.client().get(a.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_security_headers(&res);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = res.text().await.unwrap();
    assert!(
        body.contains("<!doctype html>") && body.contains("Error 404"),
        "{body}"
    );
    assert!(body.contains(&id), "the page quotes the request id");
}

#[tokio::test]
async fn wrong_method_is_405_in_the_right_format() {
    let a = Appliance::start().await;
    let b = a.browser();
    let res = b.post_json("/healthz", serde_json::json!({})).await;
    assert_eq!(res.status(), 405);
    assert_security_headers(&res);
    let token = b.csrf().await;
    let res = b
        .client
        .delete(a.url("/"))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert!(res.text().await.unwrap().contains("<!doctype html>"));
}

#[tokio::test]
async fn unknown_host_is_refused() {
    let a = Appliance::start().await;
    for host in ["evil.example", "localhost.evil.example"] {
        let res = a
            .http1_client()
            .get(a.url("/"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 421, "{host}");
        assert_security_headers(&res);
    }
    let res = a
        .http1_client()
        .get(a.url("/healthz"))
        .header("host", format!("LOCALHOST:{}", a.panel.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "host match ignores case and port");
}

#[tokio::test]
async fn configured_hostnames_are_served() {
    let a = Appliance::start_with(|c| c.hostnames = vec!["panel.internal".into()]).await;
    let res = a
        .http1_client()
        .get(a.url("/healthz"))
        .header("host", "panel.internal")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn request_ids_are_unique() {
    let a = Appliance::start().await;
    let c = a.client();
    let one = c.get(a.url("/healthz")).send().await.unwrap();
    let two = c.get(a.url("/healthz")).send().await.unwrap();
    assert_ne!(one.headers()["x-request-id"], two.headers()["x-request-id"]);
}

#[tokio::test]
async fn assets_are_served_with_etag_and_revalidation() {
    let a = Appliance::start().await;
    let c = a.client();
    let res = c.get(a.url("/assets/tundra.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let etag = res.headers()["etag"].clone();
    let again = c
        .get(a.url("/assets/tundra.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = c.get(a.url("/assets/nope.css")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let escape = c.get(a.url("/assets/../Cargo.toml")).send().await.unwrap();
    assert_eq!(escape.status(), 404);
}
