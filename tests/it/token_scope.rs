//! API tokens restricted to agents (by id and/or tag) through HTTPS with a bearer token:
//! the fleet lists only the agents in scope, and every other agent of the team answers 404
//! like another team's, changes nothing and is audited `access.denied` / `out_of_scope`.

use serde_json::{json, Value};
use tundra::model::AgentId;

use crate::fixture::{Appliance, Browser};
use crate::fleet_api::{enroll, fleet_with_people, login, reg_token, status_and_body};

/// A request with a bearer token and no cookies (so no CSRF token either).
async fn as_token(
    a: &Appliance,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = a
        .client()
        .request(method, a.url(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    status_and_body(req.send().await.unwrap()).await
}

async fn get_as(a: &Appliance, token: &str, path: &str) -> (u16, Value) {
    as_token(a, token, reqwest::Method::GET, path, None).await
}

/// Issues an API token from a signed-in browser; returns `(id, value)`.
async fn issue(b: &Browser, body: Value) -> (String, String) {
    let (status, body) = status_and_body(b.post_json("/api/v1/tokens", body).await).await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

/// The ids a token's `GET /api/v1/agents` lists, sorted.
async fn listed(a: &Appliance, token: &str) -> Vec<String> {
    let (status, body) = get_as(a, token, "/api/v1/agents").await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    v.sort();
    v
}

/// `access.denied` records naming `agent`.
fn denials(a: &Appliance, agent: &str) -> Vec<Value> {
    a.audit_records()
        .into_iter()
        .filter(|r| r["action"] == "access.denied" && r["target"] == format!("agent:{agent}"))
        .collect()
}

/// Team Ops with agents web-1 and web-2 (tagged `web`) and db-1 (tagged `db`), all also
/// tagged `linux` by the enrolling agent; returns the appliance, admin ada's browser and
/// the three ids.
async fn ops_fleet() -> (Appliance, Browser, [String; 3]) {
    let a = fleet_with_people().await;
    let ada = login(&a, "ada@example.com").await;
    let web = reg_token(&ada, json!({"uses": 2, "tags": ["web"]})).await;
    let web = web["token"].as_str().unwrap();
    let db = reg_token(&ada, json!({"tags": ["db"]})).await;
    let db = db["token"].as_str().unwrap();
    let web1 = enroll(&a, web, "web-1", "0.1.0").await;
    let web2 = enroll(&a, web, "web-2", "0.1.0").await;
    let db1 = enroll(&a, db, "db-1", "0.1.0").await;
    (a, ada, [web1, web2, db1])
}

#[tokio::test]
async fn a_tag_restricted_token_reaches_only_agents_with_that_tag() {
    let (a, ada, [web1, web2, db1]) = ops_fleet().await;
    // An admin-role token (ada just signed in, which counts as a password confirmation),
    // so a refusal below comes from the scope, never from the role.
    let (token_id, token) = issue(
        &ada,
        json!({"name": "web-ops", "role": "admin", "tags": ["web"]}),
    )
    .await;

    assert_eq!(listed(&a, &token).await, sorted(&[&web1, &web2]));

    // The db agent is a 404 like a missing one, for every single-agent route.
    let missing = "agt_00000000000000000000000000";
    for path in [
        format!("/api/v1/agents/{db1}"),
        format!("/api/v1/agents/{db1}/metrics?range=1h"),
        format!("/api/v1/agents/{missing}"),
    ] {
        let (status, body) = get_as(&a, &token, &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {body}"
        );
    }
    let denied = denials(&a, &db1);
    assert_eq!(denied.len(), 2, "the GET and the metrics probe: {denied:?}");
    for r in &denied {
        assert_eq!(r["detail"]["reason"], "out_of_scope", "{r}");
        assert_eq!(r["actor"]["kind"], "api_token", "{r}");
        assert_eq!(r["actor"]["id"], token_id.as_str(), "{r}");
    }
    assert_eq!(
        denials(&a, missing)[0]["detail"]["reason"],
        "missing",
        "only the record tells the two apart"
    );

    // Deactivating it is a 404 too, and changes nothing.
    let (status, body) = as_token(
        &a,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/agents/{db1}/deactivate"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    assert!(a.core().fleet.is_active(&AgentId(db1.clone())));
    let (_, seen_by_ada) = status_and_body(ada.get(&format!("/api/v1/agents/{db1}")).await).await;
    assert_eq!(seen_by_ada["status"], "active", "{seen_by_ada}");

    // Nor can the token widen its reach by tagging an agent outside it `web`.
    let (status, _) = as_token(
        &a,
        &token,
        reqwest::Method::PUT,
        &format!("/api/v1/agents/{db1}/tags"),
        Some(json!({"tags": ["web"]})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(seen_by_ada["tags"], json!(["db", "linux"]));
    let (_, again) = status_and_body(ada.get(&format!("/api/v1/agents/{db1}")).await).await;
    assert_eq!(again["tags"], json!(["db", "linux"]), "unchanged");
    assert_eq!(listed(&a, &token).await, sorted(&[&web1, &web2]));
    assert_eq!(denials(&a, &db1).len(), 4, "every refusal audited");

    // Within its scope the same token acts with its role.
    let (status, body) = as_token(
        &a,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/agents/{web1}/deactivate"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("deactivated"))
    );
    assert!(!a.core().fleet.is_active(&AgentId(web1.clone())));

    // Retagging an agent out of its scope is allowed (it only narrows the token's reach);
    // from then on the token no longer sees it.
    let (status, body) = as_token(
        &a,
        &token,
        reqwest::Method::PUT,
        &format!("/api/v1/agents/{web2}/tags"),
        Some(json!({"tags": ["cache"]})),
    )
    .await;
    assert_eq!((status, body["tags"].clone()), (200, json!(["cache"])));
    assert_eq!(listed(&a, &token).await, vec![web1.clone()]);
    assert_eq!(
        get_as(&a, &token, &format!("/api/v1/agents/{web2}"))
            .await
            .0,
        404
    );
    assert_eq!(denials(&a, &web2)[0]["detail"]["reason"], "out_of_scope");
}

#[tokio::test]
async fn an_id_restricted_token_sees_exactly_that_agent() {
    let (a, ada, [web1, web2, db1]) = ops_fleet().await;
    let (_, token) = issue(
        &ada,
        json!({"name": "db-watch", "role": "viewer", "agents": [db1]}),
    )
    .await;

    assert_eq!(listed(&a, &token).await, vec![db1.clone()]);
    let (status, one) = get_as(&a, &token, &format!("/api/v1/agents/{db1}")).await;
    assert_eq!((status, one["hostname"].as_str()), (200, Some("db-1")));
    let (status, _) = get_as(&a, &token, &format!("/api/v1/agents/{db1}/metrics")).await;
    assert_eq!(status, 200);
    for other in [&web1, &web2] {
        let (status, _) = get_as(&a, &token, &format!("/api/v1/agents/{other}")).await;
        assert_eq!(status, 404, "{other}");
        assert_eq!(denials(&a, other)[0]["detail"]["reason"], "out_of_scope");
    }

    // Ids and tags read as "either matches": adding the `web` tag reaches web-1 and web-2 too.
    let (_, either) = issue(
        &ada,
        json!({"name": "db-or-web", "role": "viewer", "agents": [db1], "tags": ["web"]}),
    )
    .await;
    assert_eq!(listed(&a, &either).await, sorted(&[&web1, &web2, &db1]));
}

#[tokio::test]
async fn an_unrestricted_token_and_a_session_see_every_agent() {
    let (a, ada, [web1, web2, db1]) = ops_fleet().await;
    let all = sorted(&[&web1, &web2, &db1]);
    let (_, token) = issue(&ada, json!({"name": "all", "role": "viewer"})).await;
    assert_eq!(listed(&a, &token).await, all);
    for id in &all {
        assert_eq!(
            get_as(&a, &token, &format!("/api/v1/agents/{id}")).await.0,
            200
        );
    }

    // A restricted token does not narrow anyone else: ada's session still sees them all.
    let (_, narrow) = issue(
        &ada,
        json!({"name": "web", "role": "viewer", "tags": ["web"]}),
    )
    .await;
    assert_eq!(listed(&a, &narrow).await.len(), 2);
    let (status, body) = status_and_body(ada.get("/api/v1/agents").await).await;
    assert_eq!(status, 200);
    assert_eq!(body["agents"].as_array().unwrap().len(), 3);
    assert!(
        a.audit_records()
            .iter()
            .all(|r| r["action"] != "access.denied"),
        "nothing was refused"
    );
}
