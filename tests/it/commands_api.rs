//! The command pipeline through the HTTPS API, stage by stage: who may run, the ACL (block
//! list by tag, time windows by moving the clock), the engine's hard block, the approval gate
//! (the requester refused, re-auth required, another admin approving, the 15-minute expiry),
//! the rate limit, idempotency, the queue's lifetime for an absent agent and tenant
//! isolation — each refusal answered, recorded in the audit log with its policy decision, and
//! changing nothing else. (Commands actually running on a live agent: `commands_e2e`.)

use reqwest::Method;
use serde_json::{json, Value};
use tundra::clock::Clock;
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
fn stored_commands(a: &Appliance) -> usize {
    a.core()
        .store
        .read(|tx| tx.rows::<Value>(tundra::store::Table::Commands, ""))
        .unwrap()
        .len()
}

fn commands(a: &Appliance) -> &tundra::commands::Commands {
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

#[tokio::test]
async fn the_acl_blocklist_refuses_by_tag_and_names_the_rule() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let db = agent_with_tags(&a, &ada, "db-1", &["prod-db"]).await;
    let web = agent_with_tags(&a, &ada, "web-1", &["web"]).await;
    let (s, v) = call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"acl": {"block_agents": ["tag:prod-db"]}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 1);

    let (s, v) = run(&ada, &a, &db, "uptime", "r1").await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["final"], true);
    assert_eq!(v["blocked"]["stage"], "acl");
    assert_eq!(v["blocked"]["rule"], "blocklisted");
    assert!(
        v["blocked"]["reason"]
            .as_str()
            .unwrap()
            .contains("tag:prod-db"),
        "{v}"
    );
    assert!(
        v["decision"].get("engine").is_none(),
        "stages after a refusal are not reached"
    );
    let (s, v) = run(&ada, &a, &web, "uptime", "r1").await;
    assert_eq!((s, v["status"].as_str()), (202, Some("queued")));

    let blocked = records(&a, "command.blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["detail"]["stage"], "acl");
    assert_eq!(blocked[0]["policy_result"]["acl"]["rule"], "blocklisted");
    assert_eq!(blocked[0]["command"], "uptime");
}

#[tokio::test]
async fn a_time_window_refuses_outside_its_hours_as_the_clock_moves() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let window = json!({"acl": {"windows": [{
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": "09:00", "to": "17:00", "time_zone": "Europe/Berlin"}]}});
    let (s, v) = call(&ada, &a, Method::PUT, "/api/v1/policy", Some(window)).await;
    assert_eq!(s, 200, "{v}");

    // Tomorrow (sessions end when the clock jumps: sign in again at each time).
    let today = a.clock.now().date().next_day().unwrap();
    // 10:00 UTC is 11:00 or 12:00 in Berlin: inside.
    a.clock.set(today.with_hms(10, 0, 0).unwrap().assume_utc());
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = run(&ada, &a, &agent, "uptime", "in-hours").await;
    assert_eq!((s, v["status"].as_str()), (202, Some("queued")), "{v}");
    // 20:00 UTC is 21:00 or 22:00 in Berlin: outside.
    a.clock.set(today.with_hms(20, 0, 0).unwrap().assume_utc());
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = run(&ada, &a, &agent, "uptime", "after-hours").await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["blocked"]["rule"], "outside_time_window");
    assert!(
        v["blocked"]["reason"]
            .as_str()
            .unwrap()
            .contains("Europe/Berlin"),
        "{v}"
    );
}

#[tokio::test]
async fn an_invalid_policy_is_refused_with_its_field_and_the_previous_one_stays() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let otto = login(&a, "otto@example.com").await;
    let good =
        json!({"acl": {"default": "deny", "allow_agents": ["tag:web"]}, "approval_threshold": 30});
    assert_eq!(
        call(&ada, &a, Method::PUT, "/api/v1/policy", Some(good))
            .await
            .0,
        200
    );
    for (bad, field) in [
        (
            json!({"acl": {"windows": [{"days": ["mon"], "from": "09:00", "to": "17:00", "time_zone": "Mars/Olympus"}]}}),
            "acl.windows[0].time_zone",
        ),
        (
            json!({"acl": {"block_agents": ["web"]}}),
            "acl.block_agents[0]",
        ),
        (
            json!({"acl": {"roles": {"exec": ["viewer"]}}}),
            "acl.roles.exec[0]",
        ),
        (json!({"approval_threshold": 0}), "approval_threshold"),
    ] {
        let (s, v) = call(&ada, &a, Method::PUT, "/api/v1/policy", Some(bad)).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["error"]["code"], "invalid_policy");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(&format!("{field}: ")), "{field}: {msg}");
    }
    let (s, v) = call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"acl": {}, "nope": 1})),
    )
    .await;
    assert_eq!(s, 400, "unknown fields are refused: {v}");
    let (_, now) = call(&otto, &a, Method::GET, "/api/v1/policy", None).await;
    assert_eq!(now["version"], 1, "{now}");
    assert_eq!(now["policy"]["approval_threshold"], 30);
    assert_eq!(now["policy"]["acl"]["default"], "deny");
    // Operators read it but may not change it.
    let (s, _) = call(&otto, &a, Method::PUT, "/api/v1/policy", Some(json!({}))).await;
    assert_eq!(s, 403);
    assert_eq!(records(&a, "policy.updated").len(), 1);
}

#[tokio::test]
async fn a_hard_block_refuses_the_worst_part_of_a_command_line() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let (s, v) = run(&ada, &a, &agent, "ls -la; rm -rf /", "r1").await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["blocked"]["stage"], "engine");
    assert_eq!(v["risk_score"], 100);
    let rule = v["decision"]["engine"]["hard_block"]["rule"]
        .as_str()
        .unwrap();
    assert_eq!(v["blocked"]["rule"], rule);
    assert!(
        v["decision"]["engine"]["hard_block"]["part"]
            .as_str()
            .unwrap()
            .contains("rm"),
        "{v}"
    );
    let rec = records(&a, "command.blocked");
    assert_eq!(rec[0]["detail"]["rule"], rule);
    assert_eq!(rec[0]["command"], "ls -la; rm -rf /");
    // Nothing was queued for the agent.
    let queued = a
        .core()
        .store
        .read(|tx| tx.rows::<()>(tundra::store::Table::AgentQueue, ""))
        .unwrap();
    assert!(queued.is_empty());
}

#[tokio::test]
async fn approval_needs_another_admin_with_a_fresh_password() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let alan = login(&a, "alan@example.com").await;
    let otto = login(&a, "otto@example.com").await;
    let agent = agent_with_tags(&a, &ada, "db-1", &["require-approval"]).await;

    let (s, v) = run(&ada, &a, &agent, "systemctl restart postgresql", "r1").await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "pending_approval");
    assert!(v["approval"]["reason"]
        .as_str()
        .unwrap()
        .contains("require-approval"));
    let id = v["id"].as_str().unwrap().to_string();
    let (_, q) = call(&otto, &a, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(
        q["approvals"][0]["id"],
        id.as_str(),
        "the queue shows it to the team"
    );

    let approve = format!("/api/v1/approvals/{id}/approve");
    // The requester cannot approve their own command, even with a fresh password.
    let (s, v) = call(&ada, &a, Method::POST, &approve, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    // Operators cannot approve.
    let (s, _) = call(&otto, &a, Method::POST, &approve, None).await;
    assert_eq!(s, 403);
    // Another admin needs a password confirmed within 5 minutes (signing in counts).
    a.clock.advance(time::Duration::minutes(6));
    let (s, v) = call(&alan, &a, Method::POST, &approve, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("reauth_required")),
        "{v}"
    );
    assert!(records(&a, "command.approved").is_empty());
    let r = alan
        .post_json("/api/v1/auth/reauth", json!({"password": PW}))
        .await;
    assert_eq!(r.status(), 200);
    let (s, v) = call(&alan, &a, Method::POST, &approve, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "queued");
    assert_eq!(v["approval"]["decided_by"], "alan@example.com");
    let rec = records(&a, "command.approved");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["detail"]["command"], id.as_str());
    // Deciding twice is a conflict.
    let (s, _) = call(
        &alan,
        &a,
        Method::POST,
        &format!("/api/v1/approvals/{id}/deny"),
        None,
    )
    .await;
    assert_eq!(s, 409);
    let (_, q) = call(&otto, &a, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(q["approvals"], json!([]));
}

#[tokio::test]
async fn a_denied_command_never_runs_and_an_unapproved_one_expires_after_15_minutes() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let alan = login(&a, "alan@example.com").await;
    let agent = agent_with_tags(&a, &ada, "db-1", &["require-approval"]).await;

    let (_, v) = run(&ada, &a, &agent, "uptime", "deny-me").await;
    let denied = v["id"].as_str().unwrap().to_string();
    let (s, v) = call(
        &alan,
        &a,
        Method::POST,
        &format!("/api/v1/approvals/{denied}/deny"),
        None,
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("denied")), "{v}");
    assert_eq!(records(&a, "command.denied").len(), 1);

    let (_, v) = run(&ada, &a, &agent, "uptime", "expire-me").await;
    let id = v["id"].as_str().unwrap().to_string();
    a.clock.advance(time::Duration::minutes(14));
    assert_eq!(commands(&a).sweep().unwrap().approvals_expired, 0);
    a.clock.advance(time::Duration::minutes(2));
    assert_eq!(commands(&a).sweep().unwrap().approvals_expired, 1);
    let (_, v) = call(
        &ada,
        &a,
        Method::GET,
        &format!("/api/v1/commands/{id}"),
        None,
    )
    .await;
    assert_eq!(v["status"], "expired");
    alan.post_json("/api/v1/auth/reauth", json!({"password": PW}))
        .await;
    let (s, _) = call(
        &alan,
        &a,
        Method::POST,
        &format!("/api/v1/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(s, 409, "an expired command cannot be approved");
    let rec = records(&a, "command.expired");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["detail"]["reason"], "approval_timeout");
    assert_eq!(rec[0]["actor"]["kind"], "system");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_retries_are_not_counted() {
    let a = team(|c| c.command_rate_limit_per_hour = 3).await;
    let otto = login(&a, "otto@example.com").await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    for i in 0..3 {
        let (s, v) = run(&otto, &a, &agent, "uptime", &format!("r{i}")).await;
        assert_eq!(s, 202, "{v}");
    }
    // A retry of an earlier request answers its command and does not count.
    let (s, v) = run(&otto, &a, &agent, "uptime", "r0").await;
    assert_eq!(s, 200, "{v}");
    let token = otto.csrf().await;
    let res = otto
        .client
        .post(a.url(&format!("/api/v1/agents/{agent}/commands")))
        .header("x-csrf-token", token)
        .json(&json!({"command": "uptime", "request_id": "r3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    assert_eq!(stored_commands(&a), 3);
    assert_eq!(records(&a, "command.rate_limited").len(), 1);
    // The limit is per member: an admin of the same team still may.
    let (s, _) = run(&ada, &a, &agent, "uptime", "r3").await;
    assert_eq!(s, 202);
    // An hour later it fits again (the session has ended by then: sign in again).
    a.clock.advance(time::Duration::seconds(3601));
    let otto = login(&a, "otto@example.com").await;
    let (s, _) = run(&otto, &a, &agent, "uptime", "r4").await;
    assert_eq!(s, 202);
}

#[tokio::test]
async fn a_request_id_is_answered_once_and_cannot_be_reused_for_another_command() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let (s1, first) = run(&ada, &a, &agent, "uptime", "same").await;
    let (s2, again) = run(&ada, &a, &agent, "uptime", "same").await;
    assert_eq!((s1, s2), (202, 200));
    assert_eq!(first["id"], again["id"]);
    let (s, v) = run(&ada, &a, &agent, "hostname", "same").await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(stored_commands(&a), 1);
    assert_eq!(records(&a, "command.submitted").len(), 1);
}

#[tokio::test]
async fn a_command_for_an_absent_agent_expires_after_the_queue_lifetime() {
    let a = team(|c| c.command_queue_ttl_secs = 600).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let (_, v) = run(&ada, &a, &agent, "uptime", "r1").await;
    let id = v["id"].as_str().unwrap().to_string();
    a.clock.advance(time::Duration::seconds(599));
    assert_eq!(commands(&a).sweep().unwrap().queued_expired, 0);
    a.clock.advance(time::Duration::seconds(2));
    assert_eq!(commands(&a).sweep().unwrap().queued_expired, 1);
    let (_, v) = call(
        &ada,
        &a,
        Method::GET,
        &format!("/api/v1/commands/{id}"),
        None,
    )
    .await;
    assert_eq!(v["status"], "expired");
    assert_eq!(
        records(&a, "command.expired")[0]["detail"]["reason"],
        "queue_ttl"
    );
}

#[tokio::test]
async fn other_teams_commands_answer_404_and_the_attempt_is_audited() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let oscar = login(&a, "oscar@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let (_, v) = run(&ada, &a, &agent, "uptime", "r1").await;
    let id = v["id"].as_str().unwrap();
    let (s, v) = call(
        &oscar,
        &a,
        Method::GET,
        &format!("/api/v1/commands/{id}"),
        None,
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, _) = run(&oscar, &a, &agent, "uptime", "r1").await;
    assert_eq!(s, 404, "running on another team's agent");
    let (_, list) = call(&oscar, &a, Method::GET, "/api/v1/commands", None).await;
    assert_eq!(list["commands"], json!([]));
    let denied = records(&a, "access.denied");
    assert!(
        denied.iter().any(
            |r| r["target"] == format!("command:{id}") && r["detail"]["reason"] == "other_team"
        ),
        "{denied:?}"
    );
}

#[tokio::test]
async fn a_request_by_tag_makes_one_command_per_agent_in_one_batch() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let w1 = agent_with_tags(&a, &ada, "web-1", &["web"]).await;
    let w2 = agent_with_tags(&a, &ada, "web-2", &["web"]).await;
    let _db = agent_with_tags(&a, &ada, "db-1", &["db"]).await;
    let body = json!({"tag": "web", "command": "uptime", "request_id": "fan"});
    let (s, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/commands",
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let mut agents: Vec<&str> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agent"].as_str().unwrap())
        .collect();
    agents.sort();
    let mut want = vec![w1.as_str(), w2.as_str()];
    want.sort();
    assert_eq!(agents, want);
    let batch = v["batch"].as_str().unwrap();
    assert!(v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["batch"] == batch));
    let (s, again) = call(&ada, &a, Method::POST, "/api/v1/commands", Some(body)).await;
    assert_eq!(s, 200, "the same request again is answered, not repeated");
    assert_eq!(again["commands"].as_array().unwrap().len(), 2);
    let (s, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/commands",
        Some(json!({"tag": "nope", "command": "uptime", "request_id": "x"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(stored_commands(&a), 2);
}
