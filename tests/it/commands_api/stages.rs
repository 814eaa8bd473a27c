//! The ACL and the engine: block lists, time windows, policy validation, hard blocks, the
//! score threshold, the approval threshold, team rules and the preview.

use reqwest::Method;
use serde_json::json;
use tundra::clock::Clock;

use super::{agent_with_tags, call, records, run, team};
use crate::fleet_api::login;

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

/// The built-in engine's verdict, checked first so a retuned rule shows up here plainly
/// rather than as a puzzling pipeline failure.
fn scored(command: &str, lo: u8, hi: u8) {
    let v = tundra::policy::engine::Engine::builtin()
        .unwrap()
        .judge(command);
    assert!(v.hard_block.is_none(), "{command}: {v:?}");
    assert!((lo..=hi).contains(&v.score), "{command}: {v:?}");
}

#[tokio::test]
async fn a_risk_score_of_60_or_more_blocks_and_names_its_indicators() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let cmd = "setenforce 0 && ufw disable";
    scored(cmd, 60, 100);
    let (s, v) = run(&ada, &a, &agent, cmd, "r1").await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "blocked", "{v}");
    assert_eq!(v["blocked"]["stage"], "engine");
    assert_eq!(v["blocked"]["rule"], "risk_score");
    let reason = v["blocked"]["reason"].as_str().unwrap();
    let indicators = v["decision"]["engine"]["indicators"].as_array().unwrap();
    assert!(indicators.len() >= 2, "{v}");
    for i in indicators {
        assert!(reason.contains(i["rule"].as_str().unwrap()), "{reason}");
        assert!(i["weight"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn elevated_commands_run_and_the_team_threshold_decides_their_approval() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    scored("nmap -sS 10.0.0.0/24", 1, 39);
    scored("ufw disable", 40, 59);
    let (_, v) = run(&ada, &a, &agent, "nmap -sS 10.0.0.0/24", "scan").await;
    assert_eq!(
        (v["status"].as_str(), v["level"].as_str()),
        (Some("queued"), Some("elevated")),
        "{v}"
    );
    let rec = records(&a, "command.submitted");
    assert_eq!(rec[0]["detail"]["level"], "elevated", "logged as elevated");
    let (_, v) = run(&ada, &a, &agent, "ufw disable", "fw").await;
    assert_eq!(
        v["status"], "pending_approval",
        "at the default threshold of 40: {v}"
    );
    assert!(v["approval"]["reason"]
        .as_str()
        .unwrap()
        .contains("threshold 40"));
    let (s, _) = call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"approval_threshold": 50})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = run(&ada, &a, &agent, "ufw disable", "fw2").await;
    assert_eq!(
        v["status"], "queued",
        "under the team's threshold of 50: {v}"
    );
}

#[tokio::test]
async fn a_team_rule_blocks_what_the_built_in_rules_allow() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    let rule = json!({"id": "no-reboot", "description": "Reboots go through the change calendar.",
        "kind": "block", "program": ["reboot", "shutdown"], "examples": ["reboot", "sudo shutdown -r now"]});
    let (s, v) = call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"rules": [rule.clone()]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = run(&ada, &a, &agent, "sudo reboot", "r1").await;
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["blocked"]["rule"], "no-reboot");
    assert_eq!(
        v["blocked"]["reason"],
        "Reboots go through the change calendar."
    );
    // A rule whose examples it does not match is refused with its field.
    let mut bad = rule.clone();
    bad["examples"] = json!(["uptime"]);
    let (s, v) = call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"rules": [bad]})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("rules[0]."),
        "{v}"
    );
    // So is one that tries to take a built-in rule's id.
    let mut clash = rule;
    clash["id"] = json!("root-delete");
    let (s, _) = call(
        &ada,
        &a,
        Method::PUT,
        "/api/v1/policy",
        Some(json!({"rules": [clash]})),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn a_preview_judges_a_draft_without_saving_or_running_anything() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "db-1", &["prod-db"]).await;
    let draft = json!({"acl": {"block_agents": ["tag:prod-db"]}});
    let (s, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/policy/preview",
        Some(json!({"policy": draft, "command": "uptime", "agent": agent})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "blocked");
    assert_eq!(v["decision"]["acl"]["rule"], "blocklisted");
    // Without the draft, the saved (default) policy lets it run.
    let (_, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/policy/preview",
        Some(json!({"command": "uptime", "agent": agent})),
    )
    .await;
    assert_eq!(v["outcome"], "queued");
    // A made-up agent with tags, another role and a time.
    let (_, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/policy/preview",
        Some(
            json!({"command": "ufw disable", "tags": ["require-approval"], "role": "operator",
            "at": a.clock.now().unix_timestamp()}),
        ),
    )
    .await;
    assert_eq!(v["outcome"], "pending_approval", "{v}");
    let (s, v) = call(
        &ada,
        &a,
        Method::POST,
        "/api/v1/policy/preview",
        Some(json!({"policy": {"acl": {"default": "maybe"}}, "command": "uptime"})),
    )
    .await;
    assert_eq!(s, 400, "a bad draft names its problem: {v}");
    let (_, p) = call(&ada, &a, Method::GET, "/api/v1/policy", None).await;
    assert_eq!(p["version"], 0, "nothing was saved");
    assert!(
        records(&a, "command.submitted").is_empty() && records(&a, "command.blocked").is_empty()
    );
}
