//! API tokens through HTTPS: issued once, used as `Authorization: Bearer`, scoped to a team
//! and a role, never wider than their issuer, revocable at once, refused when expired, when
//! their creator is disabled or when sent in a URL — and every step audited.

use serde_json::{json, Value};
use tundra::model::Role;

use crate::fixture::{Appliance, Browser};

const PW: &str = "correct horse battery staple";

/// An appliance that does not require 2FA (its enrollment is tested elsewhere).
async fn start() -> Appliance {
    Appliance::start_with(|c| c.require_two_factor = false).await
}

async fn login(a: &Appliance, email: &str) -> Browser {
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

async fn status_and_body(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST /api/v1/tokens` from a signed-in browser.
async fn issue(b: &Browser, body: Value) -> (u16, Value) {
    status_and_body(b.post_json("/api/v1/tokens", body).await).await
}

/// Issues a token that must succeed; returns `(id, value)`.
async fn issued(b: &Browser, body: Value) -> (String, String) {
    let (status, body) = issue(b, body).await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

/// A request with a bearer token and no cookies.
fn bearer(
    a: &Appliance,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    a.client()
        .request(method, a.url(path))
        .header("authorization", format!("Bearer {token}"))
}

async fn me_as(a: &Appliance, token: &str) -> (u16, Value) {
    status_and_body(
        bearer(a, reqwest::Method::GET, "/api/v1/me", token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post_as(a: &Appliance, token: &str, body: Value) -> (u16, Value) {
    let req = bearer(a, reqwest::Method::POST, "/api/v1/tokens", token).json(&body);
    status_and_body(req.send().await.unwrap()).await
}

async fn delete(b: &Browser, a: &Appliance, id: &str) -> (u16, Value) {
    let res = b
        .client
        .delete(a.url(&format!("/api/v1/tokens/{id}")))
        .header("x-csrf-token", b.csrf().await)
        .send()
        .await
        .unwrap();
    status_and_body(res).await
}

async fn list(b: &Browser) -> Vec<Value> {
    let (status, body) = status_and_body(b.get("/api/v1/tokens").await).await;
    assert_eq!(status, 200, "{body}");
    body["tokens"].as_array().unwrap().clone()
}

fn records(a: &Appliance, action: &str) -> Vec<Value> {
    a.audit_records()
        .into_iter()
        .filter(|r| r["action"] == action)
        .collect()
}

#[tokio::test]
async fn a_token_is_shown_once_and_acts_with_its_role() {
    let a = start().await;
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    let b = login(&a, "alice@example.com").await;
    let (status, body) = issue(&b, json!({"name": "deploy", "role": "operator"})).await;
    assert_eq!(status, 201, "{body}");
    let value = body["token"].as_str().unwrap().to_string();
    let id = body["id"].as_str().unwrap().to_string();
    assert!(
        value.starts_with("tnd_live_") && value.len() == "tnd_live_".len() + 43,
        "{value}"
    );
    assert!(id.starts_with("tok_") && id.len() == 36, "{id}");
    assert_eq!(body["role"], "operator");
    assert_eq!(body["expires"], Value::Null);

    let listed = list(&b).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["last_used"], Value::Null, "not used yet");
    assert!(listed[0].get("token").is_none(), "{}", listed[0]);
    let page = b.get("/api/v1/tokens").await.text().await.unwrap();
    assert!(!page.contains(&value[9..]), "the value is shown once only");

    let (status, me) = me_as(&a, &value).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["role"], "operator",
        "the token's role, not alice's admin"
    );
    assert_eq!(me["user"]["email"], "alice@example.com");

    // last_used appears after use and is written at most once a minute.
    let first = list(&b).await[0]["last_used"]
        .as_i64()
        .expect("last_used set");
    a.clock.advance(time::Duration::seconds(30));
    assert_eq!(me_as(&a, &value).await.0, 200);
    assert_eq!(list(&b).await[0]["last_used"].as_i64(), Some(first));
    a.clock.advance(time::Duration::seconds(61));
    assert_eq!(me_as(&a, &value).await.0, 200);
    let later = list(&b).await[0]["last_used"].as_i64().unwrap();
    assert!(later >= first + 91, "{first} -> {later}");

    let created = records(&a, "api_token.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["kind"], "user");
    assert_eq!(created[0]["target"], format!("api_token:{id}"));
    assert_eq!(created[0]["detail"]["role"], "operator");
    let all = serde_json::to_string(&a.audit_records()).unwrap();
    assert!(!all.contains(&value[9..]), "the value is never audited");
}

#[tokio::test]
async fn admin_scope_tokens_need_a_fresh_password_confirmation() {
    let a = start().await;
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    let alice = login(&a, "alice@example.com").await;
    // Signing in counts as a password confirmation.
    issued(&alice, json!({"name": "admin-now", "role": "admin"})).await;

    a.clock.advance(time::Duration::minutes(6));
    assert_eq!(
        alice.get("/api/v1/me").await.status(),
        200,
        "the session is alive"
    );
    let (status, body) = issue(&alice, json!({"name": "admin-later", "role": "admin"})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "reauth_required");
    issued(&alice, json!({"name": "ops-later", "role": "operator"})).await;
    let (status, body) = issue(&alice, json!({"name": "owner", "role": "owner"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    let bob = login(&a, "bob@example.com").await;
    let (status, body) = issue(&bob, json!({"name": "mine", "role": "admin"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    issued(&bob, json!({"name": "mine", "role": "operator"})).await;
    issued(&bob, json!({"name": "read", "role": "viewer"})).await;
    // Others see only their own tokens; admins see the team's.
    assert_eq!(list(&bob).await.len(), 2);
    assert_eq!(list(&alice).await.len(), 4);

    let reasons: Vec<Value> = records(&a, "api_token.refused")
        .iter()
        .map(|r| {
            json!([
                r["actor"]["kind"],
                r["detail"]["reason"],
                r["detail"]["role"]
            ])
        })
        .collect();
    assert_eq!(
        reasons,
        [
            json!(["user", "reauth_required", "admin"]),
            json!(["user", "role_above_issuer", "owner"]),
            json!(["user", "role_above_issuer", "admin"]),
        ]
    );
    assert_eq!(records(&a, "api_token.created").len(), 4);
}

#[tokio::test]
async fn a_token_cannot_mint_a_broader_token() {
    let a = start().await;
    a.add_user("Ops", "carol@example.com", Role::Viewer, PW);
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    let carol = login(&a, "carol@example.com").await;
    let (status, _) = issue(&carol, json!({"name": "wider", "role": "operator"})).await;
    assert_eq!(status, 403);
    let (viewer_id, viewer) = issued(&carol, json!({"name": "read", "role": "viewer"})).await;

    // Bearer requests need no CSRF token; the role still binds.
    for role in ["operator", "admin"] {
        let (status, body) = post_as(&a, &viewer, json!({"name": "x", "role": role})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{role}: {body}"
        );
    }
    let (status, body) = post_as(&a, &viewer, json!({"name": "child", "role": "viewer"})).await;
    assert_eq!(status, 201, "{body}");

    // An admin-scope token cannot issue admin scope: that needs a password confirmation.
    let alice = login(&a, "alice@example.com").await;
    let (_, robot) = issued(&alice, json!({"name": "robot", "role": "admin"})).await;
    let (status, body) = post_as(&a, &robot, json!({"name": "x", "role": "admin"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = post_as(&a, &robot, json!({"name": "ops", "role": "operator"})).await;
    assert_eq!(status, 201, "{body}");

    let (status, parent) = issue(
        &alice,
        json!({"name": "ci", "role": "operator", "expires_in_days": 10, "agents": ["agent-1"]}),
    )
    .await;
    assert_eq!(status, 201, "{parent}");
    let ci = parent["token"].as_str().unwrap();
    for (body, why) in [
        (
            json!({"name": "x", "role": "admin", "agents": ["agent-1"]}),
            "above its role",
        ),
        (
            json!({"name": "x", "role": "operator", "expires_in_days": 30, "agents": ["agent-1"]}),
            "outlives",
        ),
        (
            json!({"name": "x", "role": "operator"}),
            "drops the agent restriction",
        ),
        (
            json!({"name": "x", "role": "operator", "agents": ["agent-2"]}),
            "another agent",
        ),
    ] {
        let (status, res) = post_as(&a, ci, body).await;
        assert_eq!(
            (status, res["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{why}: {res}"
        );
    }
    let (status, child) = post_as(
        &a,
        ci,
        json!({"name": "child", "role": "viewer", "agents": ["agent-1"]}),
    )
    .await;
    assert_eq!(status, 201, "{child}");
    assert_eq!(
        child["expires"], parent["expires"],
        "expires with its parent"
    );

    let created = records(&a, "api_token.created");
    let by_token: Vec<&Value> = created
        .iter()
        .filter(|r| r["actor"]["kind"] == "api_token")
        .collect();
    assert_eq!(by_token.len(), 3);
    assert_eq!(by_token[0]["actor"]["id"], viewer_id.as_str());
    let refused: Vec<(String, String)> = records(&a, "api_token.refused")
        .iter()
        .map(|r| {
            (
                r["actor"]["kind"].as_str().unwrap().to_string(),
                r["detail"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("user", "role_above_issuer"),
        ("api_token", "role_above_issuer"),
        ("api_token", "role_above_issuer"),
        ("api_token", "token_cannot_issue_admin_scope"),
        ("api_token", "role_above_issuer"),
        ("api_token", "expires_after_parent"),
        ("api_token", "wider_than_parent"),
        ("api_token", "wider_than_parent"),
    ]
    .map(|(k, r)| (k.to_string(), r.to_string()));
    assert_eq!(refused, expect);
}

#[tokio::test]
async fn another_teams_token_is_not_found_like_a_missing_one() {
    let a = start().await;
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    a.add_user("Other", "erin@example.com", Role::Admin, PW);
    let erin = login(&a, "erin@example.com").await;
    let (erin_id, erin_token) = issued(&erin, json!({"name": "theirs", "role": "viewer"})).await;
    let alice = login(&a, "alice@example.com").await;
    let (alice_id, _) = issued(&alice, json!({"name": "ours", "role": "viewer"})).await;

    let (s1, other_team) = delete(&alice, &a, &erin_id).await;
    let (s2, missing) = delete(&alice, &a, "tok_00000000000000000000000000000000").await;
    let (s3, malformed) = delete(&alice, &a, "not-a-token-id").await;
    assert_eq!((s1, s2, s3), (404, 404, 404));
    assert_eq!(other_team, missing);
    assert_eq!(missing, malformed);
    assert_eq!(
        me_as(&a, &erin_token).await.0,
        200,
        "erin's token is untouched"
    );
    assert!(list(&alice)
        .await
        .iter()
        .all(|t| t["id"] != erin_id.as_str()));

    // Within a team: operators manage only their own tokens; admins manage any.
    let bob = login(&a, "bob@example.com").await;
    let (bob_id, _) = issued(&bob, json!({"name": "bobs", "role": "viewer"})).await;
    let (status, body) = delete(&bob, &a, &alice_id).await;
    assert_eq!((status, &body), (404, &missing));
    assert_eq!(delete(&alice, &a, &bob_id).await.0, 204);

    let refused = records(&a, "api_token.refused");
    let reasons: Vec<&str> = refused
        .iter()
        .map(|r| r["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["not_found", "not_found", "not_found", "not_permitted"]
    );
    let alice_team =
        alice.get("/api/v1/me").await.json::<Value>().await.unwrap()["team"]["id"].clone();
    assert!(refused
        .iter()
        .all(|r| r["team"] == alice_team && r["actor"]["kind"] == "user"));
    assert_eq!(refused[0]["target"], format!("api_token:{erin_id}"));
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once() {
    let a = start().await;
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    let bob = login(&a, "bob@example.com").await;
    let (id1, t1) = issued(&bob, json!({"name": "one", "role": "operator"})).await;
    let (id2, t2) = issued(&bob, json!({"name": "two", "role": "viewer"})).await;
    assert_eq!(me_as(&a, &t1).await.0, 200);
    assert_eq!(delete(&bob, &a, &id1).await.0, 204);
    let (status, body) = me_as(&a, &t1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(delete(&bob, &a, &id1).await.0, 404, "gone");

    // A token may revoke itself, without CSRF (it carries no cookie).
    let res = bearer(
        &a,
        reqwest::Method::DELETE,
        &format!("/api/v1/tokens/{id2}"),
        &t2,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(me_as(&a, &t2).await.0, 401);
    assert!(list(&bob).await.is_empty());

    let revoked = records(&a, "api_token.revoked");
    let actors: Vec<(&str, &str)> = revoked
        .iter()
        .map(|r| {
            (
                r["actor"]["kind"].as_str().unwrap(),
                r["detail"]["token"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actors,
        [("user", id1.as_str()), ("api_token", id2.as_str())]
    );
    assert_eq!(revoked[1]["actor"]["id"], id2.as_str());
}

#[tokio::test]
async fn an_expired_token_is_refused_and_bad_input_is_named() {
    let a = start().await;
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    let bob = login(&a, "bob@example.com").await;
    for (body, field) in [
        (
            json!({"name": "x", "role": "viewer", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "role": "viewer", "expires_in_days": 366}),
            "expires_in_days",
        ),
        (json!({"name": "  ", "role": "viewer"}), "name"),
        (json!({"name": "x".repeat(65), "role": "viewer"}), "name"),
        (json!({"name": "x", "role": "superuser"}), "role"),
        (
            json!({"name": "x", "role": "viewer", "agents": [""]}),
            "agents",
        ),
        (
            json!({"name": "x", "role": "viewer", "team_id": "team_x"}),
            "team_id",
        ),
    ] {
        let (status, res) = issue(&bob, body).await;
        assert_eq!(status, 400, "{field}: {res}");
        let message = res["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }

    let (status, body) = issue(
        &bob,
        json!({"name": "day", "role": "viewer", "expires_in_days": 1}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (id, token) = (
        body["id"].as_str().unwrap(),
        body["token"].as_str().unwrap(),
    );
    assert_eq!(me_as(&a, token).await.0, 200);
    a.clock.advance(time::Duration::hours(23));
    assert_eq!(me_as(&a, token).await.0, 200);
    a.clock.advance(time::Duration::hours(2));
    assert_eq!(me_as(&a, token).await.0, 401, "expired");
    let rejected = records(&a, "api_token.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["detail"]["reason"], "expired");
    assert_eq!(rejected[0]["actor"]["kind"], "api_token");
    assert_eq!(rejected[0]["actor"]["id"], id);
}

#[tokio::test]
async fn tokens_in_the_url_are_refused_and_a_bad_bearer_never_falls_back() {
    let a = start().await;
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    let bob = login(&a, "bob@example.com").await;
    let (_, token) = issued(&bob, json!({"name": "t", "role": "viewer"})).await;
    for param in ["access_token", "token", "api_token", "Access_Token"] {
        let path = format!("/api/v1/me?{param}={token}");
        let (status, body) =
            status_and_body(a.client().get(a.url(&path)).send().await.unwrap()).await;
        assert_eq!(status, 400, "{param}: {body}");
        assert_eq!(body["error"]["code"], "token_in_query");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization"));
        let with_header = bearer(&a, reqwest::Method::GET, &path, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            with_header.status(),
            400,
            "refused even beside a good header"
        );
        assert_eq!(
            bob.get(&path).await.status(),
            400,
            "and beside a good session"
        );
    }
    assert_eq!(
        list(&bob).await[0]["last_used"],
        Value::Null,
        "never even looked up"
    );

    // With an Authorization header, only the header counts — never the session cookie.
    for header in [
        "Bearer tnd_live_nope",
        "Bearer ",
        "Basic Ym9iOnB3",
        &format!("Bearer {token}x"),
    ] {
        let res = bob
            .client
            .get(a.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{header}");
    }
    let res = bob
        .client
        .get(a.url("/api/v1/me"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        me["role"], "viewer",
        "the token wins over the operator's cookie"
    );
    assert!(
        records(&a, "api_token.rejected").is_empty(),
        "unknown tokens name nobody"
    );
}

#[tokio::test]
async fn disabling_the_creator_invalidates_their_tokens() {
    let a = start().await;
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    let bob = login(&a, "bob@example.com").await;
    let (id, token) = issued(&bob, json!({"name": "cron", "role": "operator"})).await;
    assert_eq!(me_as(&a, &token).await.0, 200);
    let out = a.cli(&["user", "disable", "bob@example.com"]).await;
    assert!(out.status.success(), "{}", crate::fixture::stderr(&out));
    let (status, body) = me_as(&a, &token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let rejected = records(&a, "api_token.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["detail"]["reason"], "creator_disabled");
    assert_eq!(rejected[0]["target"], format!("api_token:{id}"));
}
