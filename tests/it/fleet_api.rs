//! The fleet API through HTTPS: registration tokens (value and enroll command shown once,
//! admins only), agents enrolled through the real enroll endpoint, listed for every role,
//! hidden from other teams, tagged, deactivated and deleted (after re-auth) by admins, and
//! their health history with its range checked.

use serde_json::{json, Value};
use tundra::clock::Clock;
use tundra::fleet::Sample;
use tundra::model::{AgentId, Role};

use crate::fixture::{Appliance, Browser};

pub const PW: &str = "correct horse battery staple";

/// An appliance that does not require 2FA (its enrollment is tested elsewhere).
pub async fn start() -> Appliance {
    Appliance::start_with(|c| c.require_two_factor = false).await
}

pub async fn login(a: &Appliance, email: &str) -> Browser {
    let b = a.browser();
    let res = b
        .post_json(
            "/api/v1/auth/login",
            json!({"email": email, "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    b
}

pub async fn status_and_body(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A request from a signed-in browser with the CSRF header.
async fn send(b: &Browser, a: &Appliance, method: reqwest::Method, path: &str) -> (u16, Value) {
    let token = b.csrf().await;
    let res = b
        .client
        .request(method, a.url(path))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

async fn get(b: &Browser, path: &str) -> (u16, Value) {
    status_and_body(b.get(path).await).await
}

async fn put_json(b: &Browser, a: &Appliance, path: &str, body: Value) -> (u16, Value) {
    let token = b.csrf().await;
    let res = b
        .client
        .put(a.url(path))
        .header("x-csrf-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

/// Creates a registration token that must succeed; returns the whole answer.
pub async fn reg_token(b: &Browser, body: Value) -> Value {
    let (status, body) =
        status_and_body(b.post_json("/api/v1/registration-tokens", body).await).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The enroll command the API and the panel must both give for `token`.
pub fn expected_enroll_command(a: &Appliance, token: &str) -> String {
    format!(
        "sudo -u tundra-agent /usr/local/bin/tundra agent enroll --state-dir \
         /var/lib/tundra-agent --server https://localhost:{} --token {token} --ca-sha256 {}",
        a.panel.port(),
        a.core().fleet.ca_fingerprint()
    )
}

/// Enrolls an agent through `POST /api/v1/agents/enroll` as the agent daemon would, with a
/// fresh identity key and CSR; returns the status and answer.
pub async fn try_enroll(a: &Appliance, token: &str, hostname: &str, version: &str) -> (u16, Value) {
    use tundra::crypto::{issue, random, sign::SigningKey, token::token_hash_hex};
    use tundra::proto::{agent::ENROLL_DOMAIN, enroll::EnrollRequest};
    let key = SigningKey::generate();
    let (csr_pem, _mtls_key) = issue::agent_csr(hostname).unwrap();
    let mut req = EnrollRequest {
        identity_key: key.public().to_hex(),
        csr_pem,
        hostname: hostname.into(),
        os: "Debian GNU/Linux 12".into(),
        version: version.into(),
        name: None,
        tags: vec!["linux".into()],
        timestamp_ms: (a.clock.now().unix_timestamp_nanos() / 1_000_000) as i64,
        nonce: hex::encode(random::bytes::<32>()),
        signature: String::new(),
    };
    req.signature = hex::encode(key.sign(ENROLL_DOMAIN, &req.payload(&token_hash_hex(token))));
    let res = a
        .client()
        .post(a.url("/api/v1/agents/enroll"))
        .header("authorization", format!("Bearer {token}"))
        .json(&req)
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

/// Enrolls an agent that must be accepted; returns its id.
pub async fn enroll(a: &Appliance, token: &str, hostname: &str, version: &str) -> String {
    let (status, body) = try_enroll(a, token, hostname, version).await;
    assert_eq!(status, 200, "{body}");
    body["agent_id"].as_str().unwrap().to_string()
}

/// Records one health sample every 10 s for the last `minutes` minutes.
pub fn record_history(a: &Appliance, agent: &str, minutes: u64) {
    let now = a.clock.now().unix_timestamp() as u64;
    let samples: Vec<_> = (0..minutes * 6)
        .map(|i| {
            let at = now - minutes * 60 + i * 10;
            let s = Sample {
                cpu_percent: (i % 100) as f32,
                memory_used_bytes: 2 << 30,
                memory_total_bytes: 8 << 30,
                disk_used_bytes: 40 << 30,
                disk_total_bytes: 100 << 30,
                net_rx_bytes_per_s: 1000 + i,
                net_tx_bytes_per_s: 500,
                load: [0.5, 0.4, 0.3],
                uptime_s: 3600 + i * 10,
            };
            (AgentId(agent.to_string()), at, s)
        })
        .collect();
    a.core().fleet.record_samples(&samples).unwrap();
}

/// An appliance with team Ops (admin ada, operator otto, viewer vera) and team Other (admin
/// oscar).
pub async fn fleet_with_people() -> Appliance {
    let a = start().await;
    a.add_user("Ops", "ada@example.com", Role::Admin, PW);
    a.add_user("Ops", "otto@example.com", Role::Operator, PW);
    a.add_user("Ops", "vera@example.com", Role::Viewer, PW);
    a.add_user("Other", "oscar@example.com", Role::Admin, PW);
    a
}

#[tokio::test]
async fn a_registration_token_is_shown_once_with_its_enroll_command_and_can_be_revoked() {
    let a = fleet_with_people().await;
    let ada = login(&a, "ada@example.com").await;

    let created = reg_token(&ada, json!({"tags": ["web", "Prod"]})).await;
    let value = created["token"].as_str().unwrap();
    assert!(value.starts_with("tnd_reg_"), "{created}");
    assert_eq!(created["uses"], 1, "one use by default");
    assert_eq!(created["tags"], json!(["web", "prod"]));
    let now = a.clock.now().unix_timestamp();
    assert_eq!(
        created["expires"].as_i64().unwrap(),
        now + 3600,
        "1 h by default"
    );
    let command = created["enroll_command"].as_str().unwrap();
    assert_eq!(command, expected_enroll_command(&a, value));
    assert!(command.contains("--ca-sha256 "), "{command}");

    let (status, list) = get(&ada, "/api/v1/registration-tokens").await;
    assert_eq!(status, 200, "{list}");
    let tokens = list["registration_tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["id"], created["id"]);
    assert_eq!(tokens[0]["used"], 0);
    let text = list.to_string();
    assert!(
        !text.contains(&value[8..]),
        "the list never holds the value"
    );
    assert!(!text.contains("enroll_command"));

    let id = created["id"].as_str().unwrap();
    let (status, _) = send(
        &ada,
        &a,
        reqwest::Method::DELETE,
        &format!("/api/v1/registration-tokens/{id}"),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = try_enroll(&a, value, "web-1", "0.1.0").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unknown_token"))
    );
    let (_, list) = get(&ada, "/api/v1/registration-tokens").await;
    assert_eq!(list["registration_tokens"], json!([]));
    let (status, _) = send(
        &ada,
        &a,
        reqwest::Method::DELETE,
        &format!("/api/v1/registration-tokens/{id}"),
    )
    .await;
    assert_eq!(status, 404, "already revoked");

    let (status, body) = status_and_body(
        ada.post_json("/api/v1/registration-tokens", json!({"ttl_secs": 5}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("ttl_secs:"),
        "{body}"
    );
    let (status, body) = status_and_body(
        ada.post_json(
            "/api/v1/registration-tokens",
            json!({"uses": 3, "colour": "red"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
}

#[tokio::test]
async fn only_owners_and_admins_manage_registration_tokens_and_agents() {
    let a = fleet_with_people().await;
    let ada = login(&a, "ada@example.com").await;
    let token = reg_token(&ada, json!({})).await;
    let agent = enroll(&a, token["token"].as_str().unwrap(), "db-1", "0.1.0").await;

    for who in ["otto@example.com", "vera@example.com"] {
        let b = login(&a, who).await;
        let (status, body) =
            status_and_body(b.post_json("/api/v1/registration-tokens", json!({})).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{who}"
        );
        let (status, _) = get(&b, "/api/v1/registration-tokens").await;
        assert_eq!(status, 403, "{who}");
        let path = format!(
            "/api/v1/registration-tokens/{}",
            token["id"].as_str().unwrap()
        );
        assert_eq!(
            send(&b, &a, reqwest::Method::DELETE, &path).await.0,
            403,
            "{who}"
        );
        let path = format!("/api/v1/agents/{agent}/deactivate");
        assert_eq!(
            send(&b, &a, reqwest::Method::POST, &path).await.0,
            403,
            "{who}"
        );
        let path = format!("/api/v1/agents/{agent}/tags");
        assert_eq!(
            put_json(&b, &a, &path, json!({"tags": []})).await.0,
            403,
            "{who}"
        );

        // Everyone in the team may look.
        let (status, list) = get(&b, "/api/v1/agents").await;
        assert_eq!(status, 200, "{who}: {list}");
        assert_eq!(list["agents"][0]["id"], agent.as_str());
        let (status, one) = get(&b, &format!("/api/v1/agents/{agent}")).await;
        assert_eq!((status, one["hostname"].as_str()), (200, Some("db-1")));
    }
    let (_, one) = get(&ada, &format!("/api/v1/agents/{agent}")).await;
    assert_eq!(one["status"], "active", "nothing changed: {one}");

    let anonymous = a
        .client()
        .get(a.url("/api/v1/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn agents_are_listed_with_their_state_and_hidden_from_other_teams() {
    let a = fleet_with_people().await;
    let ada = login(&a, "ada@example.com").await;
    let token = reg_token(&ada, json!({"uses": 2, "tags": ["web"]})).await;
    let token = token["token"].as_str().unwrap();
    let current = enroll(&a, token, "web-1", "0.1.0").await;
    let old = enroll(&a, token, "web-2", "0.0.9").await;

    let (status, list) = get(&ada, "/api/v1/agents").await;
    assert_eq!(status, 200, "{list}");
    let agents = list["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2);
    let by_id = |id: &str| agents.iter().find(|x| x["id"] == id).unwrap().clone();
    let web1 = by_id(&current);
    assert_eq!(web1["name"], "web-1");
    assert_eq!(web1["os"], "Debian GNU/Linux 12");
    assert_eq!(web1["version"], "0.1.0");
    assert_eq!(web1["tags"], json!(["web", "linux"]));
    assert_eq!(web1["status"], "active");
    assert_eq!(web1["online"], false, "no agent daemon connected");
    assert_eq!(web1["latest"], Value::Null);
    assert_eq!(web1["last_seen"], Value::Null);
    assert_eq!(web1["needs_update"], false);
    assert_eq!(
        by_id(&old)["needs_update"],
        true,
        "0.0.9 < min_agent_version 0.1.0"
    );

    // Another team sees none of them, and probing an id is a 404 like a missing one.
    let oscar = login(&a, "oscar@example.com").await;
    let (_, theirs) = get(&oscar, "/api/v1/agents").await;
    assert_eq!(theirs["agents"], json!([]));
    for path in [
        format!("/api/v1/agents/{current}"),
        format!("/api/v1/agents/{current}/metrics?range=1h"),
        "/api/v1/agents/agt_00000000000000000000000000".to_string(),
    ] {
        let (status, body) = get(&oscar, &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let path = format!("/api/v1/agents/{current}/deactivate");
    assert_eq!(send(&oscar, &a, reqwest::Method::POST, &path).await.0, 404);
    let path = format!("/api/v1/agents/{current}/tags");
    assert_eq!(
        put_json(&oscar, &a, &path, json!({"tags": ["x"]})).await.0,
        404
    );
    let denied = a
        .audit_records()
        .into_iter()
        .filter(|r| r["action"] == "access.denied")
        .map(|r| r.to_string())
        .filter(|r| r.contains(&current) && r.contains("other_team"))
        .count();
    assert!(denied >= 4, "each probe audited: {denied}");
    let (_, mine) = get(&ada, &format!("/api/v1/agents/{current}")).await;
    assert_eq!(mine["status"], "active", "untouched");
}

#[tokio::test]
async fn admins_tag_deactivate_and_delete_agents_and_deleting_needs_reauth() {
    let a = fleet_with_people().await;
    let ada = login(&a, "ada@example.com").await;
    let token = reg_token(&ada, json!({})).await;
    let agent = enroll(&a, token["token"].as_str().unwrap(), "db-1", "0.1.0").await;

    let path = format!("/api/v1/agents/{agent}/tags");
    let (status, body) = put_json(&ada, &a, &path, json!({"tags": ["db", " Prod ", "db"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tags"], json!(["db", "prod"]));
    let (status, body) = put_json(&ada, &a, &path, json!({"tags": ["no spaces"]})).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("tags:"), "names the field: {message}");
    let (status, _) = put_json(&ada, &a, &path, json!({"labels": ["x"]})).await;
    assert_eq!(status, 400, "unknown fields are refused");
    let (_, one) = get(&ada, &format!("/api/v1/agents/{agent}")).await;
    assert_eq!(
        one["tags"],
        json!(["db", "prod"]),
        "a refused change changes nothing"
    );

    let path = format!("/api/v1/agents/{agent}/deactivate");
    let (status, body) = send(&ada, &a, reqwest::Method::POST, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deactivated");
    assert!(!a.core().fleet.is_active(&AgentId(agent.clone())));
    let (_, list) = get(&ada, "/api/v1/agents").await;
    assert_eq!(list["agents"][0]["status"], "deactivated");

    // Signing in counts as a password confirmation; 6 minutes later it no longer does.
    a.clock.advance(time::Duration::minutes(6));
    let path = format!("/api/v1/agents/{agent}");
    let (status, body) = send(&ada, &a, reqwest::Method::DELETE, &path).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("reauth_required"))
    );
    let (_, still) = get(&ada, &path).await;
    assert_eq!(still["id"], agent.as_str(), "not deleted without re-auth");

    let res = ada
        .post_json("/api/v1/auth/reauth", json!({"password": PW}))
        .await;
    assert_eq!(res.status(), 200);
    let (status, _) = send(&ada, &a, reqwest::Method::DELETE, &path).await;
    assert_eq!(status, 204);
    assert_eq!(get(&ada, &path).await.0, 404);
    let (_, list) = get(&ada, "/api/v1/agents").await;
    assert_eq!(list["agents"], json!([]));
    let actions: Vec<String> = a
        .audit_records()
        .iter()
        .map(|r| r["action"].as_str().unwrap_or("").to_string())
        .collect();
    for wanted in ["agent.tags_changed", "agent.deactivated", "agent.deleted"] {
        assert!(actions.iter().any(|x| x == wanted), "{wanted} audited");
    }
}

#[tokio::test]
async fn metrics_come_in_the_asked_range_and_a_bad_range_names_the_allowed_ones() {
    let a = fleet_with_people().await;
    let ada = login(&a, "ada@example.com").await;
    let token = reg_token(&ada, json!({})).await;
    let agent = enroll(&a, token["token"].as_str().unwrap(), "db-1", "0.1.0").await;
    record_history(&a, &agent, 90);

    let vera = login(&a, "vera@example.com").await;
    let (status, body) = get(&vera, &format!("/api/v1/agents/{agent}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["range"], "1h", "1h by default");
    let points = body["points"].as_array().unwrap();
    assert!((300..=361).contains(&points.len()), "{}", points.len());
    let now = a.clock.now().unix_timestamp() as u64;
    // Buckets start on multiples of their 10 s width, so the first may start just before.
    assert!(points
        .iter()
        .all(|p| p["at"].as_u64().unwrap() + 3600 + 10 > now));
    let p = &points[0];
    for field in [
        "cpu_percent",
        "memory_used_bytes",
        "disk_total_bytes",
        "net_rx_bytes_per_s",
    ] {
        assert!(p[field].is_number(), "{field} in {p}");
    }

    let (status, body) = get(&vera, &format!("/api/v1/agents/{agent}/metrics?range=6h")).await;
    assert_eq!((status, body["range"].as_str()), (200, Some("6h")));
    let six = body["points"].as_array().unwrap().len();
    assert!(six < points.len() && six > 0, "coarser buckets: {six}");

    let (status, body) = get(&vera, &format!("/api/v1/agents/{agent}/metrics?range=2w")).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    for r in ["1h", "6h", "24h", "7d", "30d"] {
        assert!(message.contains(r), "{r} named: {message}");
    }
}
