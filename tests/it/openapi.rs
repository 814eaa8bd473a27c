//! The OpenAPI document: generated from the same table as the routes, valid by an
//! independent validator, and every operation it lists is really served.

use crate::fixture::Appliance;

#[tokio::test]
async fn the_document_validates_and_matches_the_served_routes() {
    let a = Appliance::start().await;
    let res = a
        .client()
        .get(a.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let file = a.tmp.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 runs the validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator (installed by packaging/test.sh) rejected the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let paths = doc["paths"].as_object().unwrap();
    for wanted in [
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/users/{id}",
        "/api/v1/tokens/{id}",
        "/api/v1/account/totp/confirm",
    ] {
        assert!(paths.contains_key(wanted), "{wanted} missing");
    }
    // Every documented operation is routed: without credentials it may be refused, but
    // never 404 or 405.
    let b = a.browser();
    let token = b.csrf().await;
    let mut checked = 0;
    for (path, ops) in paths {
        let url = a.url(&path.replace("{id}", "x"));
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = b
                .client
                .request(m, &url)
                .header("x-csrf-token", &token)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let s = res.status().as_u16();
            assert!(s != 404 && s != 405, "{method} {path}: {s}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
}
