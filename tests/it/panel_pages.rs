//! The panel's account and members pages, driven like a browser: forms with the CSRF
//! field, redirects, and what the pages show.

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

fn no_inline_code(html: &str) {
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "inline code: {html}"
    );
}

#[tokio::test]
async fn the_account_page_changes_the_password_and_ends_other_sessions() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    let laptop = signed_in(&a, "alice@example.com").await;
    let phone = signed_in(&a, "alice@example.com").await;
    let page = laptop.get("/account").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    no_inline_code(&html);
    assert_eq!(html.matches("this session").count(), 1);
    assert_eq!(
        html.matches("action=\"/account/sessions/revoke\"").count(),
        1,
        "the phone"
    );

    let new = "a different long passphrase";
    let bad = laptop
        .post_form(
            "/account/password",
            &[
                ("current", "wrong wrong"),
                ("new", new),
                ("new_again", new),
                ("end_others", "1"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("current password is not right"));
    let ok = laptop
        .post_form(
            "/account/password",
            &[
                ("current", PW),
                ("new", new),
                ("new_again", new),
                ("end_others", "1"),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(
        laptop.get("/api/v1/me").await.status(),
        200,
        "this session stays"
    );
    assert_eq!(
        phone.get("/api/v1/me").await.status(),
        401,
        "the other one ended"
    );
    let relogin = a
        .browser()
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "alice@example.com", "password": new}),
        )
        .await;
    assert_eq!(relogin.status(), 200);
}

#[tokio::test]
async fn two_factor_is_enrolled_from_the_account_page() {
    let a = Appliance::start().await;
    a.add_user("Ops", "owner@example.com", Role::Owner, PW);
    let b = signed_in(&a, "owner@example.com").await;
    let home = b.get("/").await.text().await.unwrap();
    assert!(
        home.contains("need two-factor authentication"),
        "banner for owners without 2FA"
    );
    let page = b.post_form("/account/totp", &[]).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    no_inline_code(&html);
    assert!(html.contains("<svg"), "QR code inline");
    let secret = html
        .split("<code class=\"fingerprint\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    use tundra::clock::Clock;
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", &secret, "-N"])
        .arg(format!("@{}", a.clock.now().unix_timestamp()))
        .output()
        .unwrap();
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let done = b
        .post_form("/account/totp/confirm", &[("code", &code)])
        .await;
    assert_eq!(done.status(), 200);
    let html = done.text().await.unwrap();
    assert_eq!(
        html.matches("<li><code>").count(),
        10,
        "ten recovery codes shown once"
    );
    let home = b.get("/").await.text().await.unwrap();
    assert!(!home.contains("need two-factor authentication"));
}

#[tokio::test]
async fn the_members_page_adds_members_and_changes_roles_after_reauth() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "owner@example.com", Role::Owner, PW);
    let b = signed_in(&a, "owner@example.com").await;
    let added = b
        .post_form(
            "/members",
            &[
                ("email", "new@example.com"),
                ("role", "operator"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(added.status(), 303);
    let html = b.get("/members").await.text().await.unwrap();
    no_inline_code(&html);
    assert!(html.contains("new@example.com"));
    let id = a
        .core()
        .identity
        .user_by_email("new@example.com")
        .unwrap()
        .unwrap()
        .id
        .0;
    a.clock.advance(time::Duration::minutes(6));
    let refused = b
        .post_form(&format!("/members/{id}/role"), &[("role", "admin")])
        .await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Confirm your password first"));
    let re = b
        .post_form("/account/reauth", &[("password", PW), ("back", "/members")])
        .await;
    assert_eq!(re.status(), 303);
    assert_eq!(re.headers()["location"], "/members?done=reauth");
    let changed = b
        .post_form(&format!("/members/{id}/role"), &[("role", "admin")])
        .await;
    assert_eq!(changed.status(), 303);
    let (_, role) = a
        .core()
        .identity
        .memberships(
            &a.core()
                .identity
                .user_by_email("new@example.com")
                .unwrap()
                .unwrap()
                .id,
        )
        .unwrap()[0]
        .clone();
    assert_eq!(role, Role::Admin);
    let html = signed_in(&a, "new@example.com")
        .await
        .get("/members")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Add a member"), "admins manage members");
}

#[tokio::test]
async fn a_signed_out_visitor_is_sent_to_sign_in() {
    let a = Appliance::start().await;
    for path in ["/account", "/members", "/tokens"] {
        let res = a.browser().get(path).await;
        assert_eq!(res.status(), 401, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("href=\"/login\""), "{path}: {html}");
    }
}
