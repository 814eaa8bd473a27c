//! The operator CLI as an operator runs it: the real `tundra` binary with its own config
//! file (`TUNDRA_OPERATOR_CONFIG` in a temp dir) against the in-process appliance over
//! HTTPS — login with each trust mode and with TOTP, the saved file's mode and content,
//! `agents`, and `logout` revoking the token. `tundra exec`: `exec`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tundra::clock::Clock;
use tundra::model::Role;

use crate::fixture::{stderr, stdout, Appliance};
use crate::fleet_api::{enroll, fleet_with_people, login as browser_login, reg_token, PW};

mod exec;

/// One operator's laptop: a config file location of its own.
struct Laptop {
    dir: TempDir,
}

impl Laptop {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Where the CLI keeps the login (in a dir that does not exist yet).
    fn config(&self) -> PathBuf {
        self.dir.path().join("conf/tundra/operator.json")
    }

    /// Runs `tundra ARGS` with `input` on stdin.
    async fn run(&self, args: &[&str], input: &str) -> Output {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
            .args(args)
            .env("TUNDRA_OPERATOR_CONFIG", self.config())
            .env("TUNDRA_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        child.wait_with_output().await.unwrap()
    }

    /// Starts `tundra ARGS` with stdout and stderr piped and nothing on stdin.
    fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
            .args(args)
            .env("TUNDRA_OPERATOR_CONFIG", self.config())
            .env("TUNDRA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// `tundra login --server … TRUST… --email E --password-stdin` that must succeed.
    async fn login(&self, a: &Appliance, trust: &[&str], email: &str) -> Output {
        let url = a.url("");
        let mut args = vec!["login", "--server", &url];
        args.extend_from_slice(trust);
        args.extend(["--email", email, "--password-stdin"]);
        let out = self.run(&args, &format!("{PW}\n")).await;
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        out
    }

    /// The saved file as JSON.
    fn saved(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.config()).unwrap()).unwrap()
    }

    fn token(&self) -> String {
        self.saved()["token"].as_str().unwrap().to_string()
    }
}

/// Writes the appliance's panel certificate where `--ca` can read it.
fn ca_file(a: &Appliance, dir: &Path) -> String {
    let path = dir.join("panel-cert.pem");
    std::fs::write(&path, a.cert_pem()).unwrap();
    path.display().to_string()
}

/// The panel certificate's SHA-256 as `tundra serve` prints it.
fn panel_pin(a: &Appliance) -> String {
    let pem = String::from_utf8(a.cert_pem()).unwrap();
    tundra::crypto::x509::fingerprint(&tundra::crypto::x509::first_cert_der(&pem).unwrap())
}

/// `GET path` with a bearer token: status and JSON.
async fn bearer_get(a: &Appliance, token: &str, path: &str) -> (u16, Value) {
    let res = a
        .client()
        .get(a.url(path))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Enrolls an agent named `hostname` with `tags` (through admin ada); returns its id.
async fn agent(a: &Appliance, hostname: &str, tags: &[&str]) -> String {
    let ada = browser_login(a, "ada@example.com").await;
    let reg = reg_token(&ada, json!({ "tags": tags })).await;
    enroll(a, reg["token"].as_str().unwrap(), hostname, "0.1.0").await
}

#[tokio::test]
async fn login_with_the_panel_cert_saves_a_0600_token_without_the_password() {
    let a = fleet_with_people().await;
    let id = agent(&a, "web-1", &["web"]).await;
    let laptop = Laptop::new();
    let ca = ca_file(&a, laptop.dir.path());
    let out = laptop.login(&a, &["--ca", &ca], "otto@example.com").await;
    let said = stdout(&out);
    assert!(
        said.contains("otto@example.com") && said.contains("role operator"),
        "{said}"
    );
    assert!(said.contains("expires"), "{said}");

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&laptop.config()), 0o600);
    assert_eq!(mode(laptop.config().parent().unwrap()), 0o700);
    let text = std::fs::read_to_string(laptop.config()).unwrap();
    assert!(!text.contains(PW), "the password is never saved");
    let token = laptop.token();
    assert!(token.starts_with("tnd_live_"), "{text}");
    assert!(
        !said.contains(&token) && !stderr(&out).contains(&token),
        "never printed"
    );
    let saved = laptop.saved();
    assert_eq!(saved["trust"]["mode"], "ca");
    // 30 days by default, from the appliance's clock.
    let now = a.clock.now().unix_timestamp();
    assert_eq!(saved["expires"].as_i64().unwrap(), now + 30 * 86_400);

    let (status, me) = bearer_get(&a, &token, "/api/v1/me").await;
    assert_eq!((status, me["role"].as_str()), (200, Some("operator")));
    // The token is named for this machine; the session used to issue it was ended.
    let (_, tokens) = bearer_get(&a, &token, "/api/v1/tokens").await;
    let name = tokens["tokens"][0]["name"].as_str().unwrap();
    assert!(name.starts_with("tundra CLI on "), "{tokens}");
    let logouts = a
        .audit_records()
        .iter()
        .filter(|r| r.to_string().contains("otto@example.com") && r["action"] == "auth.logout")
        .count();
    assert_eq!(logouts, 1, "the sign-in session was signed out");

    let out = laptop.run(&["agents"], "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("LAST SEEN"),
        "{table}"
    );
    assert!(
        lines[1].contains("web-1") && lines[1].contains(&id),
        "{table}"
    );
    assert!(
        lines[1].contains("offline") && lines[1].contains("web"),
        "{table}"
    );

    let out = laptop.run(&["agents", "--json"], "").await;
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["agents"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_pin_is_accepted_with_colons_and_a_wrong_one_saves_nothing() {
    let a = fleet_with_people().await;
    let laptop = Laptop::new();
    let url = a.url("");

    let wrong = "00".repeat(32);
    let args = [
        "login",
        "--server",
        &url,
        "--pin-sha256",
        &wrong,
        "--email",
        "otto@example.com",
        "--password-stdin",
    ];
    let out = laptop.run(&args, &format!("{PW}\n")).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("does not match the pinned SHA-256"), "{err}");
    assert!(
        err.contains(&panel_pin(&a)),
        "names what the server presented: {err}"
    );
    assert!(!laptop.config().exists(), "nothing saved");
    let attempts = a
        .audit_records()
        .iter()
        .filter(|r| r["action"].as_str().unwrap_or("").starts_with("auth."))
        .count();
    assert_eq!(attempts, 0, "the password was never sent");

    // A CA that did not issue the panel's certificate is refused too.
    let other = tundra::crypto::x509::self_signed_server(
        &["localhost".into()],
        time::OffsetDateTime::now_utc(),
        1,
    )
    .unwrap();
    let other_ca = laptop.dir.path().join("other.pem");
    std::fs::write(&other_ca, other.cert_pem).unwrap();
    let other_ca = other_ca.display().to_string();
    let args = [
        "login",
        "--server",
        &url,
        "--ca",
        &other_ca,
        "--email",
        "otto@example.com",
        "--password-stdin",
    ];
    let out = laptop.run(&args, &format!("{PW}\n")).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not trusted"), "{}", stderr(&out));
    assert!(!laptop.config().exists());

    let pin = panel_pin(&a).to_uppercase();
    let colons: Vec<String> = pin
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let colons = colons.join(":");
    laptop
        .login(&a, &["--pin-sha256", &colons], "otto@example.com")
        .await;
    assert_eq!(laptop.saved()["trust"]["sha256"], panel_pin(&a).as_str());
    let (status, _) = bearer_get(&a, &laptop.token(), "/api/v1/me").await;
    assert_eq!(status, 200);
}

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

#[tokio::test]
async fn login_asks_for_the_two_factor_code_on_the_next_stdin_line() {
    let a = fleet_with_people().await;
    a.add_user("Ops", "tess@example.com", Role::Operator, PW);
    let b = browser_login(&a, "tess@example.com").await;
    let setup: Value = b
        .post_json("/api/v1/account/totp/setup", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = setup["secret"].as_str().unwrap().to_string();
    let code = oathtool(&a, &secret);
    let res = b
        .post_json("/api/v1/account/totp/confirm", json!({ "code": code }))
        .await;
    assert_eq!(res.status(), 200);
    a.clock.advance(time::Duration::seconds(30));

    let laptop = Laptop::new();
    let pin = panel_pin(&a);
    let url = a.url("");
    let args = [
        "login",
        "--server",
        &url,
        "--pin-sha256",
        &pin,
        "--email",
        "tess@example.com",
        "--password-stdin",
    ];
    let out = laptop.run(&args, &format!("{PW}\n")).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("next line"), "{}", stderr(&out));
    assert!(!laptop.config().exists());

    let out = laptop
        .run(&args, &format!("{PW}\n{}\n", oathtool(&a, &secret)))
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("tess@example.com"));
    let (status, me) = bearer_get(&a, &laptop.token(), "/api/v1/me").await;
    assert_eq!(
        (status, me["user"]["email"].as_str()),
        (200, Some("tess@example.com"))
    );
}

#[tokio::test]
async fn an_admin_may_ask_for_an_admin_token_and_a_viewer_gets_a_viewer_one() {
    let a = fleet_with_people().await;
    let pin = panel_pin(&a);
    let laptop = Laptop::new();
    laptop
        .login(
            &a,
            &["--pin-sha256", &pin, "--role", "admin"],
            "ada@example.com",
        )
        .await;
    assert_eq!(laptop.saved()["role"], "admin");
    let (_, me) = bearer_get(&a, &laptop.token(), "/api/v1/me").await;
    assert_eq!(me["role"], "admin");

    let viewer = Laptop::new();
    viewer
        .login(&a, &["--pin-sha256", &pin], "vera@example.com")
        .await;
    assert_eq!(
        viewer.saved()["role"],
        "viewer",
        "never above the user's own role"
    );
}

#[tokio::test]
async fn logout_revokes_the_token_and_deletes_the_file() {
    let a = fleet_with_people().await;
    let laptop = Laptop::new();
    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;
    let token = laptop.token();
    assert_eq!(bearer_get(&a, &token, "/api/v1/me").await.0, 200);

    let out = laptop.run(&["logout"], "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Revoked token tok_"),
        "{}",
        stdout(&out)
    );
    assert!(!laptop.config().exists());
    assert_eq!(bearer_get(&a, &token, "/api/v1/me").await.0, 401);

    let out = laptop.run(&["logout"], "").await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("Not logged in"));
}

#[tokio::test]
async fn a_config_other_users_can_read_is_refused_with_the_fix() {
    let a = fleet_with_people().await;
    let laptop = Laptop::new();
    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;
    std::fs::set_permissions(laptop.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = laptop.run(&["agents"], "").await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");

    // A token given on stdin is checked before it is saved.
    std::fs::remove_file(laptop.config()).unwrap();
    let url = a.url("");
    let pin = panel_pin(&a);
    let args = [
        "login",
        "--server",
        &url,
        "--pin-sha256",
        &pin,
        "--token-stdin",
    ];
    let out = laptop.run(&args, "tnd_live_not-a-real-token\n").await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused this token"),
        "{}",
        stderr(&out)
    );
    assert!(!laptop.config().exists());
}
