//! Requests as such: the rate limit, idempotency, the queue's lifetime, tenancy, fan-out by
//! tag.

use reqwest::Method;
use serde_json::json;

use super::{agent_with_tags, call, commands, records, run, stored_commands, team};
use crate::fleet_api::login;

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
