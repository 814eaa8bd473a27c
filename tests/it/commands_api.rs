//! The command pipeline through the HTTPS API, stage by stage: who may run, the ACL (block
//! list by tag, time windows by moving the clock), the engine's hard block, the approval gate
//! (the requester refused, re-auth required, another admin approving, the 15-minute expiry),
//! the rate limit, idempotency, the queue's lifetime for an absent agent and tenant
//! isolation — each refusal answered, recorded in the audit log with its policy decision, and
//! changing nothing else. (Commands actually running on a live agent: `commands_e2e`.)

mod approvals;
mod requests;
mod scripts;
mod stages;

use reqwest::Method;
use serde_json::{json, Value};
use tundra::model::Role;

use crate::fixture::{Appliance, Browser};
use crate::fleet_api::{enroll, login, reg_token, status_and_body, PW};

/// A request with the CSRF header and an optional JSON body.
pub async fn call(
    b: &Browser,
    a: &Appliance,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let token = b.csrf().await;
    let mut req = b
        .client
        .request(method, a.url(path))
        .header("x-csrf-token", token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    status_and_body(req.send().await.unwrap()).await
}

/// Runs `command` on `agent` with `request_id`.
pub async fn run(
    b: &Browser,
    a: &Appliance,
    agent: &str,
    command: &str,
    request_id: &str,
) -> (u16, Value) {
    let body = json!({"command": command, "request_id": request_id});
    call(
        b,
        a,
        Method::POST,
        &format!("/api/v1/agents/{agent}/commands"),
        Some(body),
    )
    .await
}

/// An appliance with team Ops (admins ada and alan, operator otto, viewer vera) and team
/// Other (admin oscar), and `config` tweaked.
pub async fn team(tweak: impl FnOnce(&mut tundra::config::Config)) -> Appliance {
    let a = Appliance::start_with(|c| {
        c.require_two_factor = false;
        tweak(c);
    })
    .await;
    for (team, email, role) in [
        ("Ops", "ada@example.com", Role::Admin),
        ("Ops", "alan@example.com", Role::Admin),
        ("Ops", "otto@example.com", Role::Operator),
        ("Ops", "vera@example.com", Role::Viewer),
        ("Other", "oscar@example.com", Role::Admin),
    ] {
        a.add_user(team, email, role, PW);
    }
    a
}

/// Enrolls an agent of the admin's team with `tags`; returns its id.
pub async fn agent_with_tags(a: &Appliance, admin: &Browser, host: &str, tags: &[&str]) -> String {
    let token = reg_token(admin, json!({"tags": tags})).await;
    enroll(
        a,
        token["token"].as_str().unwrap(),
        host,
        env!("CARGO_PKG_VERSION"),
    )
    .await
}

/// The audit records with `action`.
pub fn records(a: &Appliance, action: &str) -> Vec<Value> {
    a.audit_records()
        .into_iter()
        .filter(|r| r["action"] == action)
        .collect()
}

/// Commands stored in all.
pub fn stored_commands(a: &Appliance) -> usize {
    a.core()
        .store
        .read(|tx| tx.rows::<Value>(tundra::store::Table::Commands, ""))
        .unwrap()
        .len()
}

pub fn commands(a: &Appliance) -> &tundra::commands::Commands {
    &a.running.as_ref().unwrap().commands
}

#[tokio::test]
async fn a_queued_command_is_stored_with_every_stage_and_audited_with_its_text() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let otto = login(&a, "otto@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &["web"]).await;

    let (s, v) = run(&otto, &a, &agent, "uptime", "req-1").await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        v["status"], "queued",
        "the agent is not connected: it waits"
    );
    assert_eq!(v["risk_score"], 0);
    assert_eq!(v["level"], "silent");
    assert_eq!(v["decision"]["acl"]["allowed"], true);
    assert_eq!(v["decision"]["approval"]["required"], false);
    assert_eq!(v["decision"]["rate_limit"]["decision"], "allowed");
    assert_eq!(v["requested_by"], "otto@example.com");
    let id = v["id"].as_str().unwrap().to_string();

    let rec = records(&a, "command.submitted");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["command"], "uptime");
    assert_eq!(rec[0]["target"], format!("command:{id}"));
    assert_eq!(rec[0]["policy_result"]["outcome"], "queued");
    assert_eq!(rec[0]["detail"]["agent"], agent.as_str());

    let (s, got) = call(
        &otto,
        &a,
        Method::GET,
        &format!("/api/v1/commands/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(got["status"], "queued");
    assert_eq!(got["stdout"], "");
    let (s, list) = call(&otto, &a, Method::GET, "/api/v1/commands", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["commands"][0]["id"], id.as_str());
}

#[tokio::test]
async fn viewers_cannot_run_commands_and_nothing_is_stored() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let vera = login(&a, "vera@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let (s, v) = run(&vera, &a, &agent, "uptime", "r1").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden");
    assert_eq!(stored_commands(&a), 0);
    // Bad input names its field and changes nothing.
    for (body, field) in [
        (
            json!({"command": "uptime", "request_id": "has space"}),
            "request_id",
        ),
        (json!({"command": "  ", "request_id": "r2"}), "command"),
        (json!({"request_id": "r3"}), "command"),
        (json!({"command": "a\u{0}b", "request_id": "r4"}), "command"),
        (
            json!({"command": "uptime", "request_id": "r5", "timeout_s": 0}),
            "timeout_s",
        ),
        (
            json!({"command": "uptime", "script": "x", "request_id": "r6"}),
            "script",
        ),
    ] {
        let (s, v) = call(
            &ada,
            &a,
            Method::POST,
            &format!("/api/v1/agents/{agent}/commands"),
            Some(body),
        )
        .await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{v}"
        );
    }
    assert_eq!(stored_commands(&a), 0);
}
