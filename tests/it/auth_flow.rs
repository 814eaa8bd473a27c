//! Signing in and out: the first-owner setup page, the login API, cookies as browsers see
//! them, CSRF, session fixation and expiry, lockout and spraying — through HTTPS.

use tundra::model::Role;

use crate::fixture::Appliance;

const PW: &str = "correct horse battery staple";

fn issue_setup_code(a: &Appliance) -> String {
    a.core()
        .identity
        .issue_setup_code()
        .unwrap()
        .expect("no team yet")
        .expose()
        .clone()
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn actions(a: &Appliance) -> Vec<String> {
    a.audit_records()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_first_owner_is_created_on_the_setup_page_once() {
    let a = Appliance::start().await;
    let code = issue_setup_code(&a);
    let b = a.browser();
    let page = b.get("/setup").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"csrf_token\""), "{html}");
    assert!(
        !html.contains(&code),
        "the code is never shown by the server"
    );

    let wrong = b
        .post_form(
            "/setup",
            &[
                ("code", "AAAA-BBBB-CCCC-DDDD-EEEE"),
                ("team", "Ops"),
                ("email", "root@example.com"),
                ("password", PW),
                ("password_again", PW),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    assert!(
        a.core().identity.setup_pending().unwrap(),
        "a wrong code changes nothing"
    );

    let weak = b
        .post_form(
            "/setup",
            &[
                ("code", &code),
                ("team", "Ops"),
                ("email", "root@example.com"),
                ("password", "password1"),
                ("password_again", "password1"),
            ],
        )
        .await;
    assert_eq!(weak.status(), 400);
    let text = weak.text().await.unwrap();
    assert!(text.contains("common passwords"), "{text}");

    let typed_loosely = code.to_lowercase().replace('-', " ");
    let ok = b
        .post_form(
            "/setup",
            &[
                ("code", &typed_loosely),
                ("team", "Ops"),
                ("email", "Root@Example.com"),
                ("password", PW),
                ("password_again", PW),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303, "{}", ok.text().await.unwrap());
    assert_eq!(ok.headers()["location"], "/");
    let home = b.get("/").await.text().await.unwrap();
    assert!(
        home.contains("Signed in as <strong>root@example.com</strong>, owner"),
        "{home}"
    );

    assert_eq!(
        b.get("/setup").await.status(),
        404,
        "setup is gone once a team exists"
    );
    let again = b
        .post_form(
            "/setup",
            &[
                ("code", &code),
                ("team", "Evil"),
                ("email", "evil@example.com"),
                ("password", PW),
                ("password_again", PW),
            ],
        )
        .await;
    assert_eq!(again.status(), 404);
    let acts = actions(&a);
    for wanted in [
        "setup.code_issued",
        "setup.refused",
        "team.created",
        "setup.completed",
        "auth.login_succeeded",
    ] {
        assert!(acts.iter().any(|x| x == wanted), "{wanted} not in {acts:?}");
    }
}

#[tokio::test]
async fn an_expired_setup_code_is_refused() {
    let a = Appliance::start().await;
    let code = issue_setup_code(&a);
    a.clock.advance(time::Duration::minutes(61));
    let b = a.browser();
    let res = b
        .post_form(
            "/setup",
            &[
                ("code", &code),
                ("team", "Ops"),
                ("email", "root@example.com"),
                ("password", PW),
                ("password_again", PW),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(a.core().identity.setup_pending().unwrap());
}

#[tokio::test]
async fn login_sets_strict_cookies_and_me_and_logout_work() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    let b = a.browser();
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "Alice@example.com", "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-tundra_session="))
        .expect("session cookie");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.to_lowercase().contains("domain"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["csrf_token"].as_str().unwrap(), b.csrf().await);

    let me: serde_json::Value = b.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    assert!(me["team"]["id"].as_str().unwrap().starts_with("team_"));

    let out = b
        .post_json("/api/v1/auth/logout", serde_json::json!({}))
        .await;
    assert_eq!(out.status(), 204);
    let me = b.get("/api/v1/me").await;
    assert_eq!(me.status(), 401);
    let body: serde_json::Value = me.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn wrong_unknown_and_disabled_get_one_answer() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    a.add_user("Ops", "bob@example.com", Role::Operator, PW);
    a.core()
        .identity
        .disable_user(
            &tundra::audit::AuditContext::actor(tundra::model::Actor::LocalCli),
            "bob@example.com",
        )
        .unwrap();
    let mut bodies = Vec::new();
    for (email, pw) in [
        ("alice@example.com", "wrong password!"),
        ("nobody@example.com", PW),
        ("bob@example.com", PW),
    ] {
        let res = a
            .browser()
            .post_json(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": pw}),
            )
            .await;
        assert_eq!(res.status(), 401, "{email}");
        assert!(set_cookies(&res)
            .iter()
            .all(|c| !c.starts_with("__Host-tundra_session")));
        bodies.push(res.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert!(bodies[0].contains("invalid_credentials"));
    let reasons: Vec<String> = a
        .audit_records()
        .iter()
        .filter(|r| r["action"] == "auth.login_failed")
        .map(|r| r["detail"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["bad_password", "unknown_user", "disabled"]);
}

#[tokio::test]
async fn mutating_requests_need_the_csrf_token() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Admin, PW);
    let b = a.browser();
    let token = b.csrf().await;
    let login = serde_json::json!({"email": "alice@example.com", "password": PW});
    let missing = b
        .client
        .post(a.url("/api/v1/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_failed");
    let wrong = b
        .client
        .post(a.url("/api/v1/auth/login"))
        .header("x-csrf-token", format!("{token}x"))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let other = a.browser();
    let foreign = other.csrf().await;
    let res = b
        .client
        .post(a.url("/api/v1/auth/login"))
        .header("x-csrf-token", foreign)
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "another client's token does not fit this cookie"
    );
    assert!(
        !actions(&a).iter().any(|x| x == "auth.login_succeeded"),
        "nothing happened"
    );
    assert_eq!(b.post_json("/api/v1/auth/login", login).await.status(), 200);
    // The signed-in session is no exception.
    let out = b
        .client
        .post(a.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 403);
    assert_eq!(
        b.get("/api/v1/me").await.status(),
        200,
        "the refused logout changed nothing"
    );
    // Refusals are audited (off the request path).
    for _ in 0..50 {
        if actions(&a)
            .iter()
            .filter(|x| *x == "request.csrf_refused")
            .count()
            >= 4
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("CSRF refusals not audited: {:?}", actions(&a));
}

#[tokio::test]
async fn a_planted_session_id_is_never_adopted() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Viewer, PW);
    let b = a.browser();
    let url: reqwest::Url = a.url("/").parse().unwrap();
    b.jar.add_cookie_str(
        "__Host-tundra_session=planted-by-attacker; Path=/; Secure",
        &url,
    );
    assert_eq!(b.get("/api/v1/me").await.status(), 401);
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "alice@example.com", "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let new = b.cookie("__Host-tundra_session").unwrap();
    assert_ne!(new, "planted-by-attacker");
    assert_eq!(new.len(), 43, "256-bit id, base64url");
    // A second login gets yet another id.
    let again = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "alice@example.com", "password": PW}),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_ne!(b.cookie("__Host-tundra_session").unwrap(), new);
}

#[tokio::test]
async fn a_session_expires_after_thirty_idle_minutes() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Viewer, PW);
    let b = a.browser();
    let login = serde_json::json!({"email": "alice@example.com", "password": PW});
    assert_eq!(b.post_json("/api/v1/auth/login", login).await.status(), 200);
    a.clock.advance(time::Duration::minutes(29));
    assert_eq!(b.get("/api/v1/me").await.status(), 200);
    a.clock.advance(time::Duration::minutes(29));
    assert_eq!(
        b.get("/api/v1/me").await.status(),
        200,
        "each request restarts the idle clock"
    );
    a.clock.advance(time::Duration::minutes(31));
    assert_eq!(
        b.get("/api/v1/me").await.status(),
        401,
        "idle for 31 minutes"
    );
}

#[tokio::test]
async fn a_busy_session_still_ends_after_twelve_hours() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Viewer, PW);
    let b = a.browser();
    let login = serde_json::json!({"email": "alice@example.com", "password": PW});
    assert_eq!(b.post_json("/api/v1/auth/login", login).await.status(), 200);
    let mut minutes = 0;
    let mut last_ok = 0;
    while minutes < 13 * 60 {
        a.clock.advance(time::Duration::minutes(25));
        minutes += 25;
        if b.get("/api/v1/me").await.status() == 200 {
            last_ok = minutes;
        }
    }
    assert!(
        (11 * 60..12 * 60).contains(&last_ok),
        "last success at {last_ok} min"
    );
}

#[tokio::test]
async fn five_failures_lock_the_pair_even_for_the_right_password() {
    let a = Appliance::start_with(|c| c.login_delay_after_failures = 100).await;
    a.add_user("Ops", "alice@example.com", Role::Viewer, PW);
    let b = a.browser();
    for _ in 0..5 {
        let res = b
            .post_json(
                "/api/v1/auth/login",
                serde_json::json!({"email": "alice@example.com", "password": "not the password"}),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let right = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "alice@example.com", "password": PW}),
        )
        .await;
    assert_eq!(right.status(), 401, "locked: refused with the same answer");
    let body: serde_json::Value = right.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    let reasons: Vec<String> = a
        .audit_records()
        .iter()
        .filter(|r| r["action"] == "auth.login_failed")
        .map(|r| r["detail"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.contains(&"lockout_started".to_string()),
        "{reasons:?}"
    );
    assert_eq!(reasons.last().unwrap(), "locked");
    a.clock.advance(time::Duration::minutes(16));
    let later = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "alice@example.com", "password": PW}),
        )
        .await;
    assert_eq!(later.status(), 200, "the lock lifts after 15 minutes");
}

#[tokio::test]
async fn spraying_from_one_address_gets_429_with_retry_after() {
    let a = Appliance::start_with(|c| {
        c.login_ip_max_failures = 4;
        c.login_delay_after_failures = 100;
    })
    .await;
    let b = a.browser();
    for i in 0..4 {
        let res = b
            .post_json(
                "/api/v1/auth/login",
                serde_json::json!({"email": format!("user{i}@example.com"), "password": PW}),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "user9@example.com", "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions() {
    let a = Appliance::start().await;
    a.add_user("Ops", "alice@example.com", Role::Operator, PW);
    let b = a.browser();
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "alice@example.com", "password": PW}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let out = a.cli(&["user", "disable", "alice@example.com"]).await;
    assert!(out.status.success());
    assert_eq!(b.get("/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn malformed_login_bodies_are_named() {
    let a = Appliance::start().await;
    let b = a.browser();
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": "x@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
}

#[tokio::test]
async fn twenty_parallel_logins_stay_within_the_hashing_pool() {
    let a = Appliance::start_with(|c| {
        c.hash_pool_slots = 2;
        c.hash_queue_timeout_ms = 400;
        c.login_ip_max_failures = 1000;
        c.login_lockout_failures = 1000;
        c.login_delay_after_failures = 1000;
    })
    .await;
    a.add_user("Ops", "alice@example.com", Role::Viewer, PW);
    let pool = std::sync::Arc::clone(a.core().identity.pool());
    assert_eq!(pool.slots(), 2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (pool, stop) = (std::sync::Arc::clone(&pool), std::sync::Arc::clone(&stop));
        tokio::spawn(async move {
            let mut max = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(pool.in_use());
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            max
        })
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let b = a.browser();
        tasks.push(tokio::spawn(async move {
            let email = if i % 2 == 0 {
                "alice@example.com".to_string()
            } else {
                format!("nobody{i}@example.com")
            };
            let res = b
                .post_json(
                    "/api/v1/auth/login",
                    serde_json::json!({"email": email, "password": PW}),
                )
                .await;
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (res.status().as_u16(), retry)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_in_use = sampler.await.unwrap();
    assert!(
        max_in_use <= 2,
        "at most two 64 MiB hashes at once, saw {max_in_use}"
    );
    assert!(max_in_use >= 1);
    for (status, retry) in &outcomes {
        match status {
            200 | 401 => {}
            503 => assert!(retry.is_some(), "503 carries Retry-After"),
            other => panic!("unexpected {other}: {outcomes:?}"),
        }
    }
    assert!(
        outcomes.iter().any(|(s, _)| *s == 503),
        "a 400 ms queue cannot hold 20 hashes: {outcomes:?}"
    );
    assert!(outcomes.iter().any(|(s, _)| *s == 200), "{outcomes:?}");
}
