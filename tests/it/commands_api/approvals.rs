//! The approval gate: another owner or admin, with a fresh password; denial; the 15-minute
//! expiry.

use reqwest::Method;
use serde_json::json;

use super::{agent_with_tags, call, commands, records, run, team};
use crate::fleet_api::{login, PW};

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
