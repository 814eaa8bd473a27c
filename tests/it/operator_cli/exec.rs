//! `tundra exec` through the real binary: what the pipeline refuses or holds (blocked → 126
//! with the rule, approval and queue with `--no-wait`, idempotent retries), and commands on
//! live in-process agents (the remote exit code and output, signals, timeouts, a tag
//! fan-out with prefixed lines).

use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStderr;
use tokio::sync::watch;
use tundra::agent::{self, EnrollOptions, RunOptions, StateDir};

use super::{agent, bearer_get, browser_login, panel_pin, Laptop};
use crate::agents::{reg_token, wait_online};
use crate::fixture::{stderr, stdout, Appliance};
use crate::fleet_api::{fleet_with_people, status_and_body};

/// A real agent daemon, in-process, enrolled in team Ops as `name` with `tags`; once
/// started it runs until the test ends.
struct LiveAgent {
    id: String,
    state: Option<StateDir>,
    _stop: Option<watch::Sender<bool>>,
    _dir: TempDir,
}

impl LiveAgent {
    /// Enrolls it (not running yet: offline).
    async fn enroll(a: &Appliance, name: &str, tags: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let opts = EnrollOptions {
            server: a.url(""),
            token: reg_token(a, "Ops", 1),
            ca_sha256: a.core().fleet.ca_fingerprint().into(),
            name: Some(name.into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            hostname: Some(name.into()),
        };
        let id = agent::enroll(&state, &opts).await.unwrap();
        Self {
            id,
            state: Some(state),
            _stop: None,
            _dir: dir,
        }
    }

    /// Starts the daemon and waits until the appliance sees it online.
    async fn start(&mut self, a: &Appliance) {
        let state = self.state.take().unwrap();
        let (stop, rx) = watch::channel(false);
        let run = RunOptions {
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            ..RunOptions::default()
        };
        tokio::spawn(async move { agent::run(&state, run, rx).await });
        wait_online(a, &self.id, true).await;
        self._stop = Some(stop);
    }
}

async fn live_agent(a: &Appliance, name: &str) -> LiveAgent {
    let mut agent = LiveAgent::enroll(a, name, &["web"]).await;
    agent.start(a).await;
    agent
}

/// The next line the CLI writes to stderr (within 20 s).
async fn next_line(lines: &mut Lines<BufReader<ChildStderr>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the CLI said nothing")
        .unwrap()
        .expect("stderr closed")
}

/// The rest of stderr, once the CLI has exited.
async fn rest(mut lines: Lines<BufReader<ChildStderr>>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        out.push(l);
    }
    out
}

/// An appliance with live agents named `names` and operator otto logged in on a laptop.
async fn live(names: &[&str]) -> (Appliance, Vec<LiveAgent>, Laptop) {
    let a = fleet_with_people().await;
    let mut agents = Vec::new();
    for n in names {
        agents.push(live_agent(&a, n).await);
    }
    let laptop = Laptop::new();
    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;
    (a, agents, laptop)
}

#[tokio::test]
async fn exec_hands_back_the_remote_output_and_exit_code() {
    let (_a, agents, laptop) = live(&["web-1"]).await;
    let id = &agents[0].id;
    // The words after -- are joined with spaces, as ssh does: quoting the whole command
    // keeps its inner quotes for the remote shell.
    let out = laptop
        .run(&["exec", id, "--", "sh -c 'echo hi; exit 3'"], "")
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");

    // stdout to stdout, stderr to stderr, byte for byte; by name as well as by id.
    let out = laptop
        .run(
            &["exec", "web-1", "--", "printf", "'a\\nb'; echo err >&2"],
            "",
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a\nb", "no newline added");
    assert_eq!(stderr(&out), "err\n");

    let out = laptop.run(&["exec", id, "--", "kill -9 $$"], "").await;
    assert_eq!(out.status.code(), Some(128 + 9), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("killed by signal 9"),
        "{}",
        stderr(&out)
    );

    let out = laptop
        .run(&["exec", "--timeout", "1", id, "--", "sleep 30"], "")
        .await;
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
}

#[tokio::test]
async fn exec_on_a_tag_prefixes_each_agents_lines_with_its_name() {
    let (_a, _agents, laptop) = live(&["web-1", "web-2"]).await;
    let out = laptop
        .run(&["exec", "tag:web", "--", "echo one; echo two"], "")
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for name in ["web-1", "web-2"] {
        let own: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(&format!("[{name}] ")))
            .collect();
        assert_eq!(
            own,
            [format!("[{name}] one"), format!("[{name}] two")],
            "{text}"
        );
        // Each agent's lines come together, as it finishes.
        let first = lines.iter().position(|l| *l == own[0]).unwrap();
        assert_eq!(lines[first + 1], own[1], "{text}");
    }

    let out = laptop
        .run(&["exec", "tag:web", "--", "echo oops >&2; exit 4"], "")
        .await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("[web-1] oops\n") && err.contains("[web-2] oops\n"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn exec_of_a_blocked_command_exits_126_and_names_the_rule() {
    let a = fleet_with_people().await;
    let id = agent(&a, "web-1", &["web"]).await;
    let laptop = Laptop::new();
    let out = laptop.run(&["exec", &id, "--", "uptime"], "").await;
    assert_eq!(out.status.code(), Some(255), "not logged in");
    assert!(stderr(&out).contains("not logged in"), "{}", stderr(&out));

    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;
    let out = laptop.run(&["exec", &id, "--", "rm", "-rf", "/"], "").await;
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("blocked by the engine stage, rule "), "{err}");
    assert!(stdout(&out).is_empty());

    // By name, the same; an unknown name lists the agents.
    let out = laptop.run(&["exec", "web-1", "--", "rm -rf /"], "").await;
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let out = laptop.run(&["exec", "mail-1", "--", "uptime"], "").await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains(&format!("web-1 ({id}, offline)")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn exec_no_wait_prints_the_id_of_a_command_waiting_for_approval() {
    let a = fleet_with_people().await;
    agent(&a, "db-1", &["require-approval"]).await;
    let offline = agent(&a, "web-1", &["web"]).await;
    let laptop = Laptop::new();
    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;

    let out = laptop
        .run(
            &[
                "exec",
                "--no-wait",
                "db-1",
                "--",
                "systemctl",
                "restart",
                "db",
            ],
            "",
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("cmd_"), "{id}");
    assert!(
        stderr(&out).contains("waiting for an approval"),
        "{}",
        stderr(&out)
    );
    let (_, c) = bearer_get(&a, &laptop.token(), &format!("/api/v1/commands/{id}")).await;
    assert_eq!(c["status"], "pending_approval");
    assert_eq!(
        c["command"], "systemctl restart db",
        "words joined with spaces"
    );

    // The same request id answers the first command and makes no second one.
    let args = [
        "exec",
        "--no-wait",
        "--request-id",
        "deploy-42",
        &offline,
        "--",
        "uptime",
    ];
    let first = laptop.run(&args, "").await;
    let again = laptop.run(&args, "").await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), stdout(&again));
    let (_, c) = bearer_get(
        &a,
        &laptop.token(),
        &format!("/api/v1/commands/{}", stdout(&first).trim()),
    )
    .await;
    assert_eq!(
        (c["status"].as_str(), c["request_id"].as_str()),
        (Some("queued"), Some("deploy-42"))
    );
}

#[tokio::test]
async fn exec_says_once_that_it_waits_for_an_approval_and_returns_when_it_ran() {
    let a = fleet_with_people().await;
    let mut db = LiveAgent::enroll(&a, "db-1", &["require-approval"]).await;
    db.start(&a).await;
    let laptop = Laptop::new();
    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;

    let mut child = laptop.spawn(&["exec", "db-1", "--", "echo approved"]);
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = next_line(&mut err).await;
    assert!(
        said.contains("waiting for an approval") && said.contains("require-approval"),
        "{said}"
    );
    assert!(said.contains("until 20"), "says until when: {said}");

    let ada = browser_login(&a, "ada@example.com").await;
    let (_, queue) = status_and_body(ada.get("/api/v1/approvals").await).await;
    let id = queue["approvals"][0]["id"].as_str().unwrap().to_string();
    let res = ada
        .post_json(
            &format!("/api/v1/approvals/{id}/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "approved\n");
    let later = rest(err).await;
    assert!(
        !later.iter().any(|l| l.contains("approval")),
        "said once: {later:?}"
    );

    // A denied one did not run: 126, and who denied it.
    let mut child = laptop.spawn(&["exec", "db-1", "--", "echo never"]);
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    next_line(&mut err).await;
    let (_, queue) = status_and_body(ada.get("/api/v1/approvals").await).await;
    let id = queue["approvals"][0]["id"].as_str().unwrap().to_string();
    let res = ada
        .post_json(
            &format!("/api/v1/approvals/{id}/deny"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(stdout(&out).is_empty());
    let later = rest(err).await.join("\n");
    assert!(later.contains("denied by ada@example.com"), "{later}");
}

#[tokio::test]
async fn exec_queued_for_an_offline_agent_says_so_and_runs_when_it_connects() {
    let a = fleet_with_people().await;
    let mut web = LiveAgent::enroll(&a, "web-3", &["web"]).await;
    let laptop = Laptop::new();
    laptop
        .login(&a, &["--pin-sha256", &panel_pin(&a)], "otto@example.com")
        .await;
    let mut child = laptop.spawn(&["exec", "web-3", "--", "echo late"]);
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = next_line(&mut err).await;
    assert!(
        said.contains("offline") && said.contains("queued"),
        "{said}"
    );

    web.start(&a).await;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "late\n");
    assert!(rest(err).await.is_empty(), "said once");
}
