//! `/api/v1/users`: members and roles by the RBAC matrix, re-auth for role changes, and
//! other teams' users answering 404 exactly like missing ones (audited).

use tundra::model::Role;

use crate::fixture::{Appliance, Browser};

const PW: &str = "correct horse battery staple";

async fn signed_in(a: &Appliance, email: &str) -> Browser {
    let b = a.browser();
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": email, "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 200, "{email}");
    b
}

fn user_id(a: &Appliance, email: &str) -> String {
    a.core()
        .identity
        .user_by_email(email)
        .unwrap()
        .unwrap()
        .id
        .0
}

async fn lab() -> Appliance {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "owner@example.com", Role::Owner, PW);
    a.add_user("Ops", "admin@example.com", Role::Admin, PW);
    a.add_user("Ops", "viewer@example.com", Role::Viewer, PW);
    a.add_user("Other", "stranger@example.com", Role::Owner, PW);
    a
}

#[tokio::test]
async fn members_are_listed_and_added_by_the_matrix() {
    let a = lab().await;
    let admin = signed_in(&a, "admin@example.com").await;
    let list: serde_json::Value = admin.get("/api/v1/users").await.json().await.unwrap();
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "admin@example.com",
            "owner@example.com",
            "viewer@example.com"
        ]
    );
    assert!(
        !list.to_string().contains("stranger"),
        "no view spans teams"
    );
    assert!(!list.to_string().contains("argon2"), "no password hashes");

    let new = admin
        .post_json(
            "/api/v1/users",
            serde_json::json!({"email": "op@example.com", "role": "operator", "password": PW}),
        )
        .await;
    assert_eq!(new.status(), 201);
    let owner = admin
        .post_json(
            "/api/v1/users",
            serde_json::json!({"email": "boss@example.com", "role": "owner", "password": PW}),
        )
        .await;
    assert_eq!(owner.status(), 403, "admins cannot create owners");
    let weak = admin
        .post_json("/api/v1/users", serde_json::json!({"email": "weak@example.com", "role": "viewer", "password": "password"}))
        .await;
    assert_eq!(weak.status(), 400);
    let viewer = signed_in(&a, "viewer@example.com").await;
    let refused = viewer
        .post_json(
            "/api/v1/users",
            serde_json::json!({"email": "x@example.com", "role": "viewer", "password": PW}),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert!(a
        .core()
        .identity
        .user_by_email("x@example.com")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn role_changes_need_a_fresh_reauth_and_keep_an_owner() {
    let a = lab().await;
    let owner = signed_in(&a, "owner@example.com").await;
    let viewer = user_id(&a, "viewer@example.com");
    a.clock.advance(time::Duration::minutes(6));
    let url = a.url(&format!("/api/v1/users/{viewer}"));
    let client = owner.client.clone();
    let token = owner.csrf().await;
    let res = client
        .patch(&url)
        .header("x-csrf-token", &token)
        .json(&serde_json::json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "reauth_required");
    let re = owner
        .post_json("/api/v1/auth/reauth", serde_json::json!({"password": PW}))
        .await;
    assert_eq!(re.status(), 200);
    let res = client
        .patch(&url)
        .header("x-csrf-token", &token)
        .json(&serde_json::json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me = user_id(&a, "owner@example.com");
    let res = client
        .patch(a.url(&format!("/api/v1/users/{me}")))
        .header("x-csrf-token", &token)
        .json(&serde_json::json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "the last owner stays an owner");
    assert!(a
        .audit_records()
        .iter()
        .any(|r| r["action"] == "membership.role_changed" && r["detail"]["to"] == "admin"));
}

#[tokio::test]
async fn another_teams_user_answers_exactly_like_a_missing_one() {
    let a = lab().await;
    let owner = signed_in(&a, "owner@example.com").await;
    let token = owner.csrf().await;
    let stranger = user_id(&a, "stranger@example.com");
    let mut bodies = Vec::new();
    for id in [stranger.as_str(), "user_00000000000000000000000000000000"] {
        let url = a.url(&format!("/api/v1/users/{id}"));
        let del = owner
            .client
            .delete(&url)
            .header("x-csrf-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(del.status(), 404);
        bodies.push(del.text().await.unwrap());
        let patch = owner
            .client
            .patch(&url)
            .header("x-csrf-token", &token)
            .json(&serde_json::json!({"role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), 404);
        bodies.push(patch.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    let denied: Vec<String> = a
        .audit_records()
        .iter()
        .filter(|r| r["action"] == "access.denied")
        .map(|r| r["detail"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(denied, ["other_team", "other_team", "missing", "missing"]);
    assert!(a
        .core()
        .identity
        .user_by_email("stranger@example.com")
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn admins_without_two_factor_cannot_act() {
    let a = Appliance::start().await;
    a.add_user("Ops", "admin@example.com", Role::Admin, PW);
    let admin = signed_in(&a, "admin@example.com").await;
    let res = admin
        .post_json(
            "/api/v1/users",
            serde_json::json!({"email": "op@example.com", "role": "operator", "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "two_factor_required");
    assert_eq!(
        admin.get("/api/v1/users").await.status(),
        200,
        "viewing is still allowed"
    );
}
