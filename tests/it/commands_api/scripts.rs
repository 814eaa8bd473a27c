//! The approved script library: owners and admins approve versions (content-hashed), members
//! run them by name; a library script skips the engine's score threshold but never its hard
//! blocks — checked when it is approved and again every time it runs.

use reqwest::Method;
use serde_json::json;

use super::{agent_with_tags, call, records, team};
use crate::fleet_api::login;

#[tokio::test]
async fn an_approved_script_skips_the_score_threshold_never_the_hard_blocks() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let otto = login(&a, "otto@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let risky = "setenforce 0 && ufw disable";
    // Run as a plain command it is blocked by its score.
    let path = format!("/api/v1/agents/{agent}/commands");
    let (_, v) = call(
        &otto,
        &a,
        Method::POST,
        &path,
        Some(json!({"command": risky, "request_id": "plain"})),
    )
    .await;
    assert_eq!(v["status"], "blocked", "{v}");

    // Operators cannot approve scripts; admins can.
    let body =
        json!({"name": "lab-open", "description": "Opens the lab box for tests", "content": risky});
    let (s, _) = call(
        &otto,
        &a,
        Method::POST,
        "/api/v1/scripts",
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = call(&ada, &a, Method::POST, "/api/v1/scripts", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["approved_by"], "ada@example.com");
    let sha = v["sha256"].as_str().unwrap().to_string();
    assert_eq!(
        sha,
        hex::encode(tundra::crypto::digest::sha256(risky.as_bytes()))
    );

    // Run by name it passes the score threshold, and still needs an approval (85 ≥ 40).
    let (s, v) = call(
        &otto,
        &a,
        Method::POST,
        &path,
        Some(json!({"script": "lab-open", "request_id": "s1"})),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["status"], "pending_approval", "{v}");
    assert_eq!(v["script"]["sha256"], sha.as_str());
    assert_eq!(v["decision"]["engine"]["library_script"], true);

    // A new version is a new hash; the old one stays runnable by number.
    let (_, v2) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/scripts",
        Some(json!({"name": "lab-open", "content": "ufw disable"})),
    )
    .await;
    assert_eq!(v2["version"], 2);
    let (_, list) = call(&otto, &a, Method::GET, "/api/v1/scripts/lab-open", None).await;
    assert_eq!(list["scripts"].as_array().unwrap().len(), 2);

    // Hard blocks: refused at approval, and at run time once a team rule blocks it.
    let (s, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/scripts",
        Some(json!({"name": "wipe", "content": "rm -rf / --no-preserve-root"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused by rule"),
        "{v}"
    );
    let rule = json!({"id": "no-selinux-off", "description": "SELinux stays on.", "kind": "block",
        "program": ["setenforce"], "examples": ["setenforce 0"]});
    call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"rules": [rule]})),
    )
    .await;
    let (_, v) = call(
        &otto,
        &a,
        Method::POST,
        &path,
        Some(json!({"script": "lab-open", "script_version": 1, "request_id": "s2"})),
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["blocked"]["rule"].as_str()),
        (Some("blocked"), Some("no-selinux-off")),
        "{v}"
    );

    // Retired: no version runs.
    let (s, _) = call(&ada, &a, Method::DELETE, "/api/v1/scripts/lab-open", None).await;
    assert_eq!(s, 204);
    let (s, v) = call(
        &otto,
        &a,
        Method::POST,
        &path,
        Some(json!({"script": "lab-open", "request_id": "s3"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("retired"));
    let approved = records(&a, "script.approved");
    assert_eq!(approved.len(), 2);
    assert_eq!(
        approved[0]["command"], risky,
        "the audit record holds the approved content"
    );
    assert_eq!(records(&a, "script.retired").len(), 1);
}
