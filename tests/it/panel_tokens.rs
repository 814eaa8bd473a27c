//! The panel's API tokens page, driven like a browser: a token is created from the form, its
//! value is shown once on a page without inline code, it works as a bearer token with the
//! chosen role, and a revoke button ends it at once.

use tundra::model::Role;

use crate::fixture::{Appliance, Browser};

const PW: &str = "correct horse battery staple";

async fn signed_in(a: &Appliance, email: &str) -> Browser {
    let b = a.browser();
    let res = b
        .post_form("/login", &[("email", email), ("password", PW)])
        .await;
    assert_eq!(res.status(), 303, "{email}");
    b
}

/// No inline script, style or event handler: every `<script` loads a file.
fn no_inline_code(html: &str) {
    for (i, _) in html.match_indices("<script") {
        assert!(
            html[i..].starts_with("<script src=\"/assets/"),
            "inline script: {html}"
        );
    }
    assert!(!html.contains("style="), "inline style: {html}");
    assert!(!html.contains("onclick"), "inline handler: {html}");
}

/// The value in the created page's read-only input.
fn shown_value(html: &str) -> String {
    html.split("value=\"tnd_live_")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|v| format!("tnd_live_{v}"))
        .unwrap_or_else(|| panic!("no token value in {html}"))
}

/// The revoke form actions on a tokens page.
fn revoke_actions(html: &str) -> Vec<String> {
    html.split("action=\"/tokens/")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(|r| format!("/tokens/{r}"))
        .collect()
}

async fn me_as(a: &Appliance, token: &str) -> (u16, serde_json::Value) {
    let res = a
        .client()
        .get(a.url("/api/v1/me"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

fn token_count(a: &Appliance) -> usize {
    a.audit_records()
        .iter()
        .filter(|r| r["action"] == "api_token.created")
        .count()
}

#[tokio::test]
async fn a_token_created_on_the_page_is_shown_once_and_acts_with_its_role() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    let b = signed_in(&a, "alice@example.com").await;

    let page = b.get("/tokens").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    no_inline_code(&html);
    assert!(html.contains("No tokens yet."), "{html}");
    assert!(
        html.contains("<option value=\"operator\""),
        "own role offered"
    );
    assert!(
        !html.contains("<option value=\"admin\""),
        "higher roles not offered"
    );
    assert!(
        html.contains("<option value=\"viewer\" selected>"),
        "viewer by default"
    );
    for field in ["name", "role", "expires_in_days", "agents", "tags"] {
        assert!(html.contains(&format!("<label for=\"{field}\"")), "{field}");
    }

    let created = b
        .post_form(
            "/tokens",
            &[
                ("name", "deploy bot"),
                ("role", "operator"),
                ("expires_in_days", "30"),
                ("agents", ""),
                ("tags", " web , db ,"),
            ],
        )
        .await;
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let html = created.text().await.unwrap();
    no_inline_code(&html);
    assert!(html.contains("<script src=\"/assets/copy.js\" defer></script>"));
    assert!(html.contains("data-copy-target=\"token-value\""));
    assert!(html.contains("will not be shown again"), "{html}");
    let value = shown_value(&html);
    assert_eq!(value.len(), "tnd_live_".len() + 43, "{value}");
    assert_eq!(html.matches(&value[9..]).count(), 1, "shown exactly once");
    assert!(html.contains("db, web"), "tags listed: {html}");

    for _ in 0..2 {
        let list = b.get("/tokens").await.text().await.unwrap();
        no_inline_code(&list);
        assert!(list.contains("deploy bot"));
        assert!(
            !list.contains(&value[9..]),
            "the list never shows the value"
        );
        assert!(list.contains("tags: db, web"), "{list}");
        assert_eq!(revoke_actions(&list).len(), 1);
    }

    let (status, me) = me_as(&a, &value).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "operator");
    assert_eq!(me["user"]["email"], "alice@example.com");
    let list = b.get("/tokens").await.text().await.unwrap();
    assert!(!list.contains("not yet"), "last use shown: {list}");
}

#[tokio::test]
async fn a_viewer_cannot_create_a_token_with_a_higher_role() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "vera@example.com", Role::Viewer, PW);
    let b = signed_in(&a, "vera@example.com").await;
    let html = b.get("/tokens").await.text().await.unwrap();
    assert!(!html.contains("<option value=\"operator\""), "{html}");

    let refused = b
        .post_form("/tokens", &[("name", "sneaky"), ("role", "admin")])
        .await;
    assert_eq!(refused.status(), 403);
    let html = refused.text().await.unwrap();
    no_inline_code(&html);
    assert!(html.contains("cannot be higher than yours"), "{html}");
    assert!(
        html.contains("value=\"sneaky\""),
        "the form keeps its input"
    );
    assert!(!html.contains("tnd_live_"));
    assert_eq!(token_count(&a), 0, "nothing created");
    assert!(b
        .get("/tokens")
        .await
        .text()
        .await
        .unwrap()
        .contains("No tokens yet."));
}

#[tokio::test]
async fn bad_form_input_is_explained() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    let b = signed_in(&a, "alice@example.com").await;
    for (fields, expected) in [
        (
            vec![
                ("name", "x"),
                ("role", "viewer"),
                ("expires_in_days", "366"),
            ],
            "Expires in days",
        ),
        (
            vec![("name", "x"), ("role", "viewer"), ("expires_in_days", "0")],
            "Expires in days",
        ),
        (vec![("name", "  "), ("role", "viewer")], "Name:"),
        (vec![("name", "x"), ("role", "emperor")], "Choose a role."),
    ] {
        let res = b.post_form("/tokens", &fields).await;
        assert_eq!(res.status(), 400, "{fields:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains(expected), "{fields:?}: {html}");
    }
    assert_eq!(token_count(&a), 0);
}

#[tokio::test]
async fn admin_tokens_need_a_recent_password_confirmation() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "owner@example.com", Role::Owner, PW);
    let b = signed_in(&a, "owner@example.com").await;
    a.clock.advance(time::Duration::minutes(6));
    let refused = b
        .post_form("/tokens", &[("name", "ci"), ("role", "admin")])
        .await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("Account page"));
    let re = b
        .post_form("/account/reauth", &[("password", PW), ("back", "/account")])
        .await;
    assert_eq!(re.status(), 303);
    let created = b
        .post_form("/tokens", &[("name", "ci"), ("role", "admin")])
        .await;
    assert_eq!(created.status(), 200);
    let value = shown_value(&created.text().await.unwrap());
    assert_eq!(me_as(&a, &value).await.1["role"], "admin");
}

#[tokio::test]
async fn revoking_from_the_page_ends_the_token_at_once() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    let b = signed_in(&a, "alice@example.com").await;
    let html = b
        .post_form("/tokens", &[("name", "laptop"), ("role", "viewer")])
        .await
        .text()
        .await
        .unwrap();
    let value = shown_value(&html);
    assert_eq!(me_as(&a, &value).await.0, 200);
    let action = revoke_actions(&b.get("/tokens").await.text().await.unwrap())
        .pop()
        .unwrap();

    let bob = signed_in(&a, "bob@example.com").await;
    assert_eq!(
        bob.post_form(&action, &[]).await.status(),
        404,
        "another member's token"
    );
    assert_eq!(me_as(&a, &value).await.0, 200);

    let res = b.post_form(&action, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/tokens?done=revoked");
    assert_eq!(me_as(&a, &value).await.0, 401);
    let html = b.get("/tokens?done=revoked").await.text().await.unwrap();
    assert!(html.contains("The token was revoked"), "{html}");
    assert!(html.contains("No tokens yet."));
    assert_eq!(
        b.post_form(&action, &[]).await.status(),
        404,
        "already gone"
    );
}

#[tokio::test]
async fn the_copy_script_is_served_as_javascript() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    let res = a
        .client()
        .get(a.url("/assets/copy.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/javascript"), "{ct}");
    let js = res.text().await.unwrap();
    assert!(js.contains("button[data-copy-target]"));
    assert!(js.contains("navigator.clipboard.writeText"));
}
