//! Commands end to end: the real agent (as `tundra agent run` runs it, in-process) enrolls,
//! connects over gRPC/mTLS and runs what the pipeline sends it with `/bin/sh`; the result,
//! signed by the agent's identity key, is stored with its output sealed. Idempotency holds
//! across a forced reconnect and an appliance restart, the output cap holds, and the agent's
//! own `agent.toml` can refuse.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tundra::agent::RunOptions;
use tundra::commands::CommandRow;
use tundra::crypto::digest::sha256;
use tundra::crypto::PublicKey;
use tundra::fleet::AgentRow;
use tundra::model::AgentId;
use tundra::proto::agent::{CommandResult, CommandStatus, COMMAND_RESULT_DOMAIN};
use tundra::store::Table;

use crate::agents::{enroll_and_run, wait_online, TestAgent};
use crate::commands_api::{call, records, run, team};
use crate::fixture::{Appliance, Browser};
use crate::fleet_api::login;

fn fast() -> RunOptions {
    RunOptions {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..RunOptions::default()
    }
}

/// A team with a connected agent (in team Ops, tagged `web`).
async fn live(
    tweak: impl FnOnce(&mut tundra::config::Config),
    dir: &Path,
) -> (Appliance, TestAgent, Browser) {
    let a = team(tweak).await;
    let agent = enroll_and_run(&a, dir, fast()).await;
    wait_online(&a, &agent.id, true).await;
    let otto = login(&a, "otto@example.com").await;
    (a, agent, otto)
}

/// Polls `GET /api/v1/commands/{id}?wait_s=…` until the command is final (at most 20 s).
async fn finished(b: &Browser, a: &Appliance, id: &str) -> Value {
    for _ in 0..10 {
        let path = format!("/api/v1/commands/{id}?wait_s=2&encoding=base64");
        let (s, v) = call(b, a, Method::GET, &path, None).await;
        assert_eq!(s, 200, "{v}");
        if v["final"] == true {
            return v;
        }
    }
    panic!("command {id} did not finish");
}

fn b64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn row(a: &Appliance, id: &str) -> CommandRow {
    a.core()
        .store
        .read(|tx| tx.row::<CommandRow>(Table::Commands, id))
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_command_runs_on_the_agent_and_its_signed_result_is_stored_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, agent, otto) = live(|_| {}, dir.path()).await;
    let cmd = "echo out-$((40+2)); echo err >&2; exit 3";
    let (s, v) = run(&otto, &a, &agent.id, cmd, "e2e-1").await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let done = finished(&otto, &a, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["exit_code"], 3);
    assert_eq!(b64(&done["stdout_base64"]), b"out-42\n");
    assert_eq!(b64(&done["stderr_base64"]), b"err\n");
    assert_eq!(done["result"]["output_complete"], true);
    assert_eq!(done["result"]["truncated"], false);

    // The output is sealed at rest: the stored bytes do not contain it.
    let sealed = a
        .core()
        .store
        .read(|tx| tx.command_output(&id))
        .unwrap()
        .unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"out-42"));

    // The agent's signature covers the command and the output digests, and verifies with
    // its enrolled identity key.
    let r = row(&a, &id).result.unwrap();
    let agent_row: AgentRow = a
        .core()
        .store
        .read(|tx| tx.row(Table::Agents, &agent.id))
        .unwrap()
        .unwrap();
    let key = PublicKey::from_hex(&agent_row.identity_key).unwrap();
    let signed = CommandResult {
        command_id: id.clone(),
        status: CommandStatus::Exited as i32,
        exit_code: 3,
        signal: 0,
        started_ms: r.started_ms,
        finished_ms: r.finished_ms,
        stdout_len: 7,
        stderr_len: 4,
        truncated: false,
        command_sha256: sha256(cmd.as_bytes()).to_vec(),
        stdout_sha256: sha256(b"out-42\n").to_vec(),
        stderr_sha256: sha256(b"err\n").to_vec(),
        ..CommandResult::default()
    };
    let sig: [u8; 64] = hex::decode(&r.agent_signature).unwrap().try_into().unwrap();
    key.verify(COMMAND_RESULT_DOMAIN, &signed.payload(&agent.id), &sig)
        .expect("the stored result is the one the agent signed");

    // Audited: submitted by the operator, finished by the agent, in that order.
    let fin = records(&a, "command.finished");
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["actor"]["kind"], "agent");
    assert_eq!(fin[0]["detail"]["exit_code"], 3);
    assert_eq!(
        fin[0]["detail"]["agent_signature"],
        r.agent_signature.as_str()
    );
    assert_eq!(fin[0]["command"], cmd);
    assert!(records(&a, "command.submitted")[0]["seq"].as_u64() < fin[0]["seq"].as_u64());
    agent.stop().await;
}

#[tokio::test]
async fn output_beyond_the_cap_is_dropped_and_the_command_still_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, agent, otto) = live(|c| c.command_output_max_bytes = 1000, dir.path()).await;
    let (_, v) = run(
        &otto,
        &a,
        &agent.id,
        "head -c 200000 /dev/zero | tr '\\0' a; echo done >&2",
        "big",
    )
    .await;
    let done = finished(&otto, &a, v["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["exit_code"], 0);
    assert_eq!(done["result"]["truncated"], true);
    let out = b64(&done["stdout_base64"]);
    let err = b64(&done["stderr_base64"]);
    assert_eq!(
        out.len() + err.len(),
        1000,
        "stdout and stderr share the cap"
    );
    assert!(out.iter().all(|b| *b == b'a'));
    assert_eq!(done["result"]["output_complete"], true);
    agent.stop().await;
}

/// Lines in `file` (0 when it does not exist).
fn lines(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |s| s.lines().count())
}

#[tokio::test]
async fn a_retry_across_a_forced_reconnect_runs_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (a, agent, otto) = live(|_| {}, dir.path()).await;
    let mark = dir.path().join("ran");
    let cmd = format!("echo x >> {}; sleep 1", mark.display());
    let (s, v) = run(&otto, &a, &agent.id, &cmd, "once").await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // Cut the agent's stream while the command runs: it reconnects, the appliance sends the
    // command again, and the agent's journal keeps it from running twice.
    for _ in 0..100 {
        if lines(&mark) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hub = &a.running.as_ref().unwrap().hub;
    hub.kick(
        &AgentId(agent.id.clone()),
        tonic::Code::Unavailable,
        "test: cut",
    );
    let done = finished(&otto, &a, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    // The operator's client retries the same request: the first result, nothing new.
    let (s, again) = run(&otto, &a, &agent.id, &cmd, "once").await;
    assert_eq!(s, 200);
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["status"], "completed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines(&mark), 1, "ran exactly once");
    assert_eq!(records(&a, "command.finished").len(), 1);
    agent.stop().await;
}

#[tokio::test]
async fn queued_commands_survive_an_appliance_restart_and_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, agent, otto) = live(|_| {}, dir.path()).await;
    let mark = dir.path().join("ran");
    // One command finishes before the restart, one is queued while the agent is away.
    let done_cmd = format!("echo before >> {}", mark.display());
    let (_, v) = run(&otto, &a, &agent.id, &done_cmd, "before").await;
    let before = v["id"].as_str().unwrap().to_string();
    assert_eq!(finished(&otto, &a, &before).await["status"], "completed");
    agent.stop().await;
    wait_online(&a, &row(&a, &before).agent.0, false).await;
    let queued_cmd = format!("echo after >> {}", mark.display());
    let (_, v) = run(&otto, &a, &row(&a, &before).agent.0, &queued_cmd, "after").await;
    assert_eq!(v["status"], "queued");
    let queued = v["id"].as_str().unwrap().to_string();

    a.restart().await;
    let agent_id = row(&a, &before).agent.0;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let state = tundra::agent::StateDir::new(dir.path());
    let task = tokio::spawn(async move { tundra::agent::run(&state, fast(), rx).await });
    wait_online(&a, &agent_id, true).await;

    let otto = login(&a, "otto@example.com").await;
    let done = finished(&otto, &a, &queued).await;
    assert_eq!(done["status"], "completed", "{done}");
    // Retries of both requests, after the restart, answer their first results.
    for (req, cmd, id) in [
        ("before", &done_cmd, &before),
        ("after", &queued_cmd, &queued),
    ] {
        let (s, v) = run(&otto, &a, &agent_id, cmd, req).await;
        assert_eq!((s, v["id"].as_str()), (200, Some(id.as_str())), "{v}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&mark).unwrap();
    assert_eq!(text, "before\nafter\n", "each ran once, in order");
    let _ = stop.send(true);
    let _ = task.await;
}

#[tokio::test]
async fn the_agents_own_config_refuses_commands_and_a_timeout_kills_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, agent, otto) = live(|_| {}, dir.path()).await;
    let (_, v) = call(
        &otto,
        &a,
        Method::POST,
        &format!("/api/v1/agents/{}/commands", agent.id),
        Some(json!({"command": "sleep 30", "request_id": "slow", "timeout_s": 1})),
    )
    .await;
    let done = finished(&otto, &a, v["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "timed_out", "{done}");

    // The host turns commands off: the agent refuses whatever the appliance allowed.
    let toml = dir.path().join("agent.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("commands = true", "commands = false")).unwrap();
    let (_, v) = run(&otto, &a, &agent.id, "uptime", "off").await;
    let done = finished(&otto, &a, v["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "refused", "{done}");
    assert!(
        done["result"]["message"]
            .as_str()
            .unwrap()
            .contains("commands = false"),
        "{done}"
    );
    agent.stop().await;
}
