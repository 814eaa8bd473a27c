//! What is refused: targets the appliance may not reach (at creation and again at
//! delivery), bad filters, other teams' webhooks, roles below admin — and that the secret
//! is never shown twice or stored in the clear.

use reqwest::Method;
use serde_json::Value;

use super::{appliance_for, approve_script, attempts, create, create_for, log, Receiver};
use crate::commands_api::{call, records, team};
use crate::fleet_api::login;
use tundra::store::Table;

fn stored_webhooks(a: &crate::fixture::Appliance) -> usize {
    a.core()
        .store
        .read(|tx| tx.rows::<Value>(Table::Webhooks, ""))
        .unwrap()
        .len()
}

#[tokio::test]
async fn targets_the_appliance_may_not_reach_are_refused_and_nothing_is_stored() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    for url in [
        "http://hooks.example.com/in",
        "http://127.0.0.1:9/in",
        "https://127.0.0.1/in",
        "https://localhost/in",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/in",
        "https://[::1]/in",
        "https://[::ffff:127.0.0.1]/in",
        "https://[fd00::1]/in",
        "https://100.64.0.1/in",
        "https://0.0.0.0/in",
        "ftp://example.com/",
        "not a url",
    ] {
        let (s, v) = create(&ada, &a, url, &["*"]).await;
        assert_eq!(s, 400, "{url}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("url: "), "{url}: {m}");
    }
    let (s, v) = create(&ada, &a, "https://localhost/in", &["*"]).await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("localhost resolves to"),
        "{v}"
    );
    for events in [&[][..], &["nosuch.event"][..], &["command*"][..]] {
        let (s, v) = create(&ada, &a, "https://93.184.216.34/in", events).await;
        assert_eq!(s, 400, "{events:?}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("events: "),
            "{v}"
        );
    }
    assert_eq!(stored_webhooks(&a), 0);
    assert!(records(&a, "webhook.created").is_empty());
}

#[tokio::test]
async fn http_to_loopback_only_with_its_setting() {
    let a = team(|c| c.webhook_allow_loopback_http = true).await;
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = create(&ada, &a, "http://127.0.0.1:9/in", &["audit.*"]).await;
    assert_eq!(s, 201, "{v}");
    for url in [
        "http://10.0.0.1/in",
        "https://127.0.0.1/in",
        "http://93.184.216.34/in",
    ] {
        let (s, v) = create(&ada, &a, url, &["*"]).await;
        assert_eq!(s, 400, "{url}: {v}");
    }
    assert_eq!(stored_webhooks(&a), 1);
}

#[tokio::test]
async fn a_target_allowed_at_creation_is_checked_again_at_delivery() {
    let r = Receiver::start("200").await;
    let mut a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let id = create_for(&ada, &a, &r).await;
    a.config.webhook_allow_private_targets = false;
    a.restart().await;
    approve_script(&ada, &a, "hello").await;
    let d = attempts(&ada, &a, &id, 1).await;
    let error = d["attempts"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("refused: localhost resolves to"),
        "{error}"
    );
    assert!(error.contains("loopback"), "{error}");
    assert_eq!(d["attempts"][0]["status"], Value::Null);
    assert_eq!(d["state"], "pending");
    assert!(r.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn only_committed_matching_records_are_delivered() {
    let r = Receiver::start("200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let vera = login(&a, "vera@example.com").await;
    let id = create_for(&ada, &a, &r).await;
    // Refused before anything is written: no record, so no delivery.
    let body = serde_json::json!({"name": "nope", "content": "uptime"});
    let (s, _) = call(&vera, &a, Method::POST, "/api/v1/scripts", Some(body)).await;
    assert_eq!(s, 403);
    // Recorded, but not an action the webhook asked for.
    let (s, _) = call(&ada, &a, Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(s, 204);
    let ada = login(&a, "ada@example.com").await;
    assert!(log(&ada, &a, &id).await["deliveries"]
        .as_array()
        .unwrap()
        .is_empty());
    approve_script(&ada, &a, "hello").await;
    let d = attempts(&ada, &a, &id, 1).await;
    assert_eq!(d["state"], "delivered");
    assert_eq!(
        log(&ada, &a, &id).await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(r.seen().len(), 1);
}

#[tokio::test]
async fn the_secret_is_shown_once_and_sealed_at_rest() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = create(&ada, &a, "https://93.184.216.34/in", &["command.*"]).await;
    assert_eq!(s, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    let id = v["id"].as_str().unwrap().to_string();
    let (_, list) = call(&ada, &a, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["webhooks"][0]["id"], id.as_str());
    assert!(!list.to_string().contains(&secret));
    assert!(list["webhooks"][0].get("secret").is_none());
    assert!(!log(&ada, &a, &id).await.to_string().contains(&secret));
    let page = ada.get("/webhooks").await.text().await.unwrap();
    assert!(!page.contains(&secret));
    let audit = serde_json::to_string(&a.audit_records()).unwrap();
    assert!(!audit.contains(&secret));
    let created = records(&a, "webhook.created");
    assert_eq!(created[0]["detail"]["url"], "https://93.184.216.34/in");

    let store = std::fs::read(a.data_dir().join("tundra.redb")).unwrap();
    let raw = hex::decode(&secret).unwrap();
    let found = |needle: &[u8]| store.windows(needle.len()).any(|w| w == needle);
    assert!(
        !found(secret.as_bytes()),
        "the secret's hex is not in the store file"
    );
    assert!(!found(&raw), "nor its bytes");
}

#[tokio::test]
async fn other_teams_get_404_and_members_below_admin_403() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let (_, v) = create(&ada, &a, "https://93.184.216.34/in", &["command.*"]).await;
    let id = v["id"].as_str().unwrap();
    let oscar = login(&a, "oscar@example.com").await;
    let did = "dlv_00000000000000000000000000";
    for (method, path) in [
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (
            Method::POST,
            format!("/api/v1/webhooks/{id}/deliveries/{did}/retry"),
        ),
    ] {
        let (s, v) = call(&oscar, &a, method.clone(), &path, None).await;
        assert_eq!(s, 404, "{method} {path}: {v}");
    }
    let (_, list) = call(&oscar, &a, Method::GET, "/api/v1/webhooks", None).await;
    assert!(list["webhooks"].as_array().unwrap().is_empty());
    let denied = records(&a, "access.denied");
    assert!(
        denied
            .iter()
            .any(|r| r["target"] == format!("webhook:{id}")),
        "{denied:?}"
    );
    assert_eq!(stored_webhooks(&a), 1);

    for who in ["otto@example.com", "vera@example.com"] {
        let b = login(&a, who).await;
        let (s, _) = call(&b, &a, Method::GET, "/api/v1/webhooks", None).await;
        assert_eq!(s, 403, "{who}");
        let (s, _) = create(&b, &a, "https://93.184.216.34/in", &["command.*"]).await;
        assert_eq!(s, 403, "{who}");
        let (s, _) = call(
            &b,
            &a,
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
        assert_eq!(s, 403, "{who}");
    }
    let (s, _) = call(
        &ada,
        &a,
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(stored_webhooks(&a), 0);
    assert_eq!(records(&a, "webhook.deleted").len(), 1);
}
