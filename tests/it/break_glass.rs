//! Break-glass administration on the host: `tundra team add`, `tundra user add|disable|
//! reset-2fa`, through the control socket while serving and directly otherwise, audited as
//! `local-cli`, refusing bad input without changing anything.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::fixture::{stderr, stdout, tundra_cli, Appliance};

/// Runs `tundra ARGS` on `data_dir` with `input` on stdin.
async fn with_stdin(
    data_dir: &std::path::Path,
    args: &[&str],
    input: &str,
) -> std::process::Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
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

async fn audit_actions(data_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let out = tundra_cli(data_dir, &["audit", "export"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const GOOD: &str = "correct horse battery staple\n";

#[tokio::test]
async fn the_first_team_and_owner_directly_on_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(tundra_cli(&dir, &["init"]).await.status.success());

    let out = tundra_cli(&dir, &["team", "add", "Ops"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("created team \"Ops\""),
        "{}",
        stdout(&out)
    );

    let add = [
        "user",
        "add",
        "--team",
        "ops",
        "--email",
        "Alice@Example.com",
        "--role",
        "owner",
        "--password-stdin",
    ];
    let out = with_stdin(&dir, &add, GOOD).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created alice@example.com as owner of ops"));

    let records = audit_actions(&dir).await;
    let tail: Vec<&str> = records[records.len() - 3..]
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(tail, ["team.created", "user.created", "membership.granted"]);
    for r in &records[records.len() - 3..] {
        assert_eq!(r["actor"]["kind"], "local_cli");
        assert!(r["team"].as_str().unwrap().starts_with("team_"));
    }
    assert_eq!(records.last().unwrap()["detail"]["role"], "owner");

    let core = tundra::app::Core::open(
        crate::fixture::test_config_for(&dir),
        std::sync::Arc::new(tundra::clock::SystemClock),
        tundra::app::OpenMode::Existing,
    )
    .unwrap();
    let alice = core
        .identity
        .user_by_email("alice@example.com")
        .unwrap()
        .unwrap();
    assert!(
        alice
            .password_phc
            .starts_with("$argon2id$v=19$m=65536,t=3,p=1$"),
        "{}",
        alice.password_phc
    );
    assert!(!alice.password_phc.contains("horse"));
    let teams = core.identity.memberships(&alice.id).unwrap();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].0.name, "Ops");
    assert_eq!(teams[0].1, tundra::model::Role::Owner);
}

#[tokio::test]
async fn administration_through_the_socket_refuses_bad_input_and_changes_nothing() {
    let a = Appliance::start().await;
    let dir = a.data_dir();
    assert!(a.cli(&["team", "add", "Ops"]).await.status.success());
    assert!(a.cli(&["team", "add", "Lab"]).await.status.success());
    let before = audit_actions(&dir).await.len();

    let refusals: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["team", "add", "OPS"], "", "already exists"),
        (vec!["team", "add", "  "], "", "1 to 64"),
        (
            vec![
                "user",
                "add",
                "--team",
                "ops",
                "--email",
                "bob@example.com",
                "--role",
                "owner",
                "--password-stdin",
            ],
            "password\n",
            "common passwords",
        ),
        (
            vec![
                "user",
                "add",
                "--team",
                "ops",
                "--email",
                "bob@example.com",
                "--role",
                "owner",
                "--password-stdin",
            ],
            "short\n",
            "at least 8",
        ),
        (
            vec![
                "user",
                "add",
                "--team",
                "ops",
                "--email",
                "bob@example.com",
                "--role",
                "boss",
                "--password-stdin",
            ],
            GOOD,
            "not a role",
        ),
        (
            vec![
                "user",
                "add",
                "--team",
                "nope",
                "--email",
                "bob@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            GOOD,
            "no team named",
        ),
        (
            vec![
                "user",
                "add",
                "--team",
                "ops",
                "--email",
                "not-an-email",
                "--role",
                "admin",
                "--password-stdin",
            ],
            GOOD,
            "not an email address",
        ),
        (
            vec![
                "user",
                "add",
                "--team",
                "ops",
                "--email",
                "bob@example.com",
                "--role",
                "admin",
            ],
            "",
            "needs a password",
        ),
        (vec!["user", "disable", "ghost@example.com"], "", "no user"),
        (
            vec!["user", "reset-2fa", "ghost@example.com"],
            "",
            "no user",
        ),
    ];
    for (args, input, needle) in refusals {
        let out = with_stdin(&dir, &args, input).await;
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        audit_actions(&dir).await.len(),
        before,
        "refusals change nothing"
    );

    let add = |team: &'static str| {
        vec![
            "user",
            "add",
            "--team",
            team,
            "--email",
            "bob@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ]
    };
    let out = with_stdin(&dir, &add("ops"), GOOD).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = with_stdin(&dir, &add("ops"), GOOD).await;
    assert!(
        stderr(&out).contains("already a member"),
        "{}",
        stderr(&out)
    );
    let out = with_stdin(&dir, &add("lab"), "some other password\n").await;
    assert!(
        stdout(&out).contains("password unchanged"),
        "{}",
        stdout(&out)
    );

    let out = a.cli(&["user", "disable", "BOB@example.com"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = a.cli(&["user", "reset-2fa", "bob@example.com"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let records = audit_actions(&dir).await;
    let actions: Vec<&str> = records[before..]
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.created",
            "membership.granted",
            "membership.granted",
            "user.disabled",
            "user.two_factor_reset"
        ]
    );
    assert!(records[before..]
        .iter()
        .all(|r| r["actor"]["kind"] == "local_cli"));
}
