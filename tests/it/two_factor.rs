//! Two-factor: enrollment with the QR code and key, sign-in with codes computed by
//! `oathtool` (an independent TOTP implementation), replay refusal, the three-wrong-codes
//! lock, recovery codes, the panel's two-step sign-in and re-authentication.

use tundra::clock::Clock;
use tundra::model::Role;

use crate::fixture::{Appliance, Browser};

const PW: &str = "correct horse battery staple";

/// The code `oathtool` computes for `secret` at the appliance's current time.
fn oathtool(a: &Appliance, secret: &str) -> String {
    let now = a.clock.now().unix_timestamp();
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N"])
        .arg(format!("@{now}"))
        .output()
        .expect("oathtool must be installed (packaging/test.sh installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn login(b: &Browser, totp: Option<&str>) -> reqwest::Response {
    let mut body = serde_json::json!({"email": "alice@example.com", "password": PW});
    if let Some(t) = totp {
        body["totp"] = t.into();
    }
    b.post_json("/api/v1/auth/login", body).await
}

/// Starts an appliance with an admin who enrolls TOTP; returns the base32 secret and the
/// recovery codes.
async fn enrolled() -> (Appliance, String, Vec<String>) {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    let b = a.browser();
    assert_eq!(login(&b, None).await.status(), 200);
    let me: serde_json::Value = b.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(
        me["two_factor_required"], true,
        "an admin without 2FA cannot act yet"
    );
    let setup: serde_json::Value = b
        .post_json("/api/v1/account/totp/setup", serde_json::json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32, "160-bit key in base32");
    assert!(setup["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Tundra:alice%40example.com?secret="));
    let svg = setup["qr_svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg") && !svg.contains("style=") && !svg.contains("<script"));

    let wrong = b
        .post_json(
            "/api/v1/account/totp/confirm",
            serde_json::json!({"code": "000000"}),
        )
        .await;
    assert_eq!(wrong.status(), 400);
    let code = oathtool(&a, &secret);
    let confirmed: serde_json::Value = b
        .post_json(
            "/api/v1/account/totp/confirm",
            serde_json::json!({"code": code}),
        )
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let me: serde_json::Value = b.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["two_factor_required"], false);
    a.clock.advance(time::Duration::seconds(30));
    (a, secret, codes)
}

#[tokio::test]
async fn a_totp_code_signs_in_once() {
    let (a, secret, _) = enrolled().await;
    let b = a.browser();
    let res = login(&b, None).await;
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "totp_required");

    let code = oathtool(&a, &secret);
    assert_eq!(login(&b, Some(&code)).await.status(), 200);
    let replay = login(&a.browser(), Some(&code)).await;
    assert_eq!(replay.status(), 401, "a code works once");
    let body: serde_json::Value = replay.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    a.clock.advance(time::Duration::seconds(30));
    let next = oathtool(&a, &secret);
    assert_eq!(login(&a.browser(), Some(&next)).await.status(), 200);
}

#[tokio::test]
async fn three_wrong_codes_lock_totp_until_the_step_ends() {
    let (a, secret, _) = enrolled().await;
    // Stay at the start of a step so the lock and the retry fall in the same one.
    let now = a.clock.now().unix_timestamp();
    a.clock
        .advance(time::Duration::seconds(30 - now.rem_euclid(30)));
    for wrong in ["111111", "222222", "333333"] {
        assert_eq!(login(&a.browser(), Some(wrong)).await.status(), 401);
    }
    let right = oathtool(&a, &secret);
    assert_eq!(
        login(&a.browser(), Some(&right)).await.status(),
        401,
        "locked in this step"
    );
    a.clock.advance(time::Duration::seconds(30));
    let right = oathtool(&a, &secret);
    assert_eq!(login(&a.browser(), Some(&right)).await.status(), 200);
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let (a, _, codes) = enrolled().await;
    let loose = codes[3].to_lowercase().replace('-', " ");
    assert_eq!(login(&a.browser(), Some(&loose)).await.status(), 200);
    assert_eq!(login(&a.browser(), Some(&codes[3])).await.status(), 401);
    assert_eq!(
        a.core()
            .identity
            .recovery_codes_left(
                &a.core()
                    .identity
                    .user_by_email("alice@example.com")
                    .unwrap()
                    .unwrap()
                    .id
            )
            .unwrap(),
        9
    );
}

#[tokio::test]
async fn the_panel_asks_for_the_code_in_a_second_step() {
    let (a, secret, _) = enrolled().await;
    let b = a.browser();
    let step1 = b
        .post_form(
            "/login",
            &[("email", "alice@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(step1.status(), 200);
    let html = step1.text().await.unwrap();
    assert!(html.contains("action=\"/login/code\""), "{html}");
    assert!(!html.contains(PW), "the password is never echoed");
    let pending = html
        .split("name=\"pending\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let code = oathtool(&a, &secret);
    let step2 = b
        .post_form("/login/code", &[("pending", &pending), ("code", &code)])
        .await;
    assert_eq!(step2.status(), 303);
    assert!(b
        .get("/")
        .await
        .text()
        .await
        .unwrap()
        .contains("Signed in as"));
    // The handle is single use.
    let again = a
        .browser()
        .post_form("/login/code", &[("pending", &pending), ("code", &code)])
        .await;
    assert_eq!(again.status(), 401);
}

#[tokio::test]
async fn reauth_needs_password_and_code_and_guards_replacing_the_key() {
    let (a, secret, _) = enrolled().await;
    let b = a.browser();
    let code = oathtool(&a, &secret);
    assert_eq!(login(&b, Some(&code)).await.status(), 200);
    a.clock.advance(time::Duration::minutes(6));
    let replace = b
        .post_json("/api/v1/account/totp/setup", serde_json::json!({}))
        .await;
    assert_eq!(replace.status(), 403);
    let body: serde_json::Value = replace.json().await.unwrap();
    assert_eq!(body["error"]["code"], "reauth_required");

    let no_code = b
        .post_json("/api/v1/auth/reauth", serde_json::json!({"password": PW}))
        .await;
    assert_eq!(no_code.status(), 401);
    let wrong_pw = b
        .post_json(
            "/api/v1/auth/reauth",
            serde_json::json!({"password": "nope nope nope", "totp": oathtool(&a, &secret)}),
        )
        .await;
    assert_eq!(wrong_pw.status(), 401);
    a.clock.advance(time::Duration::seconds(30));
    let ok = b
        .post_json(
            "/api/v1/auth/reauth",
            serde_json::json!({"password": PW, "totp": oathtool(&a, &secret)}),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let replace = b
        .post_json("/api/v1/account/totp/setup", serde_json::json!({}))
        .await;
    assert_eq!(replace.status(), 200);
    let actions: Vec<String> = a
        .audit_records()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"auth.reauthenticated".to_string()));
    assert!(actions.contains(&"user.two_factor_enrolled".to_string()));
}

#[tokio::test]
async fn switching_teams_needs_a_membership_and_rotates_the_session() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    a.add_user("Lab", "alice@example.com", Role::Viewer, PW);
    a.add_user("Other", "bob@example.com", Role::Viewer, PW);
    let b = a.browser();
    assert_eq!(login(&b, None).await.status(), 200);
    let before = b.cookie("__Host-tundra_session").unwrap();
    let teams = a
        .core()
        .identity
        .memberships(
            &a.core()
                .identity
                .user_by_email("alice@example.com")
                .unwrap()
                .unwrap()
                .id,
        )
        .unwrap();
    let me: serde_json::Value = b.get("/api/v1/me").await.json().await.unwrap();
    let other_team = teams
        .iter()
        .find(|(t, _)| t.id.0 != me["team"]["id"].as_str().unwrap())
        .unwrap();
    let res = b
        .post_json(
            "/api/v1/auth/team",
            serde_json::json!({"team_id": other_team.0.id.0}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_ne!(
        b.cookie("__Host-tundra_session").unwrap(),
        before,
        "new id on privilege change"
    );
    let me: serde_json::Value = b.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["team"]["id"], other_team.0.id.0.as_str());
    assert_eq!(me["role"], other_team.1.as_str());

    let bob_team = a
        .core()
        .identity
        .memberships(
            &a.core()
                .identity
                .user_by_email("bob@example.com")
                .unwrap()
                .unwrap()
                .id,
        )
        .unwrap()[0]
        .0
        .id
        .0
        .clone();
    for target in [bob_team.as_str(), "team_does_not_exist"] {
        let res = b
            .post_json("/api/v1/auth/team", serde_json::json!({"team_id": target}))
            .await;
        assert_eq!(res.status(), 404, "{target}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}
