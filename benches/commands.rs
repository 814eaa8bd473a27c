//! Command round trip on a connected agent: the real appliance (in-process, system clock),
//! a real agent (the release `tundra agent run` in its own process, enrolled over HTTPS,
//! connected over gRPC/mTLS, running each command with `/bin/sh`), and N commands one after
//! another.
//!
//! Reports, per command, "accepted → result stored": from the moment the pipeline's
//! transaction committed (what `POST …/commands` answers 202 for) to the moment the agent's
//! signed result, the sealed output and the audit record are committed. Also the submit
//! itself, and the whole trip as an API client sees it (POST, then a long-poll GET).
//!
//! `cargo bench --bench commands -- [--count 1000] [--http 200]`

// A measuring tool prints its results.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tundra::agent::{self, EnrollOptions, StateDir};
use tundra::app::{self, Listeners};
use tundra::audit::AuditContext;
use tundra::clock::{SharedClock, SystemClock};
use tundra::commands::{NewCommand, Target};
use tundra::config::Config;
use tundra::crypto::Secret;
use tundra::fleet::NewRegToken;
use tundra::identity::{LoginOutcome, LoginRequest};
use tundra::model::{Actor, AgentId, Role};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    let q = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<44} n={:<5} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        v.len(),
        ms(q(0.50)),
        ms(q(0.90)),
        ms(q(0.99)),
        ms(v[v.len() - 1])
    );
}

const PW: &str = "correct horse battery staple";

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn main() {
    let count = arg("--count", 1000);
    let http = arg("--http", 200);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(bench(count, http));
}

async fn bench(count: usize, http: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: tmp.path().join("data"),
        panel_addr: "127.0.0.1:0".parse().unwrap(),
        redirect_addr: "127.0.0.1:0".parse().unwrap(),
        agent_addr: "127.0.0.1:0".parse().unwrap(),
        require_two_factor: false,
        self_check_interval_secs: 0,
        command_rate_limit_per_hour: 1_000_000,
        ..Config::default()
    };
    let panel = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = panel.local_addr().unwrap().port();
    let mut config = config;
    config.public_port = Some(port);
    let listeners = Listeners {
        panel,
        redirect: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        agent: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let running = app::start(config, clock, listeners).await.unwrap();
    let core = Arc::clone(&running.core);
    let ctx = AuditContext::actor(Actor::LocalCli);
    let team = core.identity.create_team(&ctx, "bench").unwrap();
    let phc = tundra::crypto::password::hash_password(PW).unwrap();
    core.identity
        .add_user(&ctx, "bench", "op@example.com", Role::Operator, Some(phc))
        .unwrap();
    let (token, _) = core
        .fleet
        .create_registration_token_local(&team, &ctx, NewRegToken::default())
        .unwrap();

    let state_dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(state_dir.path());
    let agent_id = agent::enroll(
        &state,
        &EnrollOptions {
            server: format!("https://localhost:{port}"),
            token: token.expose().clone(),
            ca_sha256: core.fleet.ca_fingerprint().into(),
            name: None,
            tags: vec![],
            hostname: Some("bench-host".into()),
        },
    )
    .await
    .unwrap();
    // The agent runs as its own process, as `tundra agent run` does on a managed host (a
    // fork of the whole appliance process would cost far more than one of the small agent).
    let mut agent_process = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .args(["agent", "run", "--state-dir"])
        .arg(state.path())
        .env("TUNDRA_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let id = AgentId(agent_id.clone());
    while !running.hub.status(&id).online {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let outcome = core
        .identity
        .login(LoginRequest {
            email: "op@example.com".into(),
            password: Secret::new(PW.into()),
            second_factor: None,
            ip: None,
            request_id: None,
        })
        .await
        .unwrap();
    let LoginOutcome::SignedIn {
        principal,
        session_id,
    } = outcome
    else {
        panic!("sign-in refused")
    };
    let commands = Arc::clone(&running.commands);

    let mut round_trips = Vec::with_capacity(count);
    let mut submits = Vec::with_capacity(count);
    // Where the time goes, from the row's wall-clock stamps (milliseconds): accepted → the
    // agent started it, the run itself, the agent finished → the appliance stored it.
    let (mut to_start, mut run_time, mut to_store) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..(count + 20) {
        let mut changes = commands.subscribe();
        let (c, p, ctx) = (
            Arc::clone(&commands),
            principal.clone(),
            principal.audit_context(),
        );
        let (a, req) = (
            agent_id.clone(),
            NewCommand {
                command: Some("true".into()),
                request_id: format!("bench-{i}"),
                ..NewCommand::default()
            },
        );
        let t0 = Instant::now();
        let submitted =
            tokio::task::spawn_blocking(move || c.submit(&p, &ctx, Target::Agent(a), req))
                .await
                .unwrap()
                .unwrap();
        let accepted = Instant::now();
        let accepted_ms = unix_ms();
        let cmd = submitted[0].row.id.clone();
        let stored = loop {
            let changed = changes.recv().await.unwrap();
            if changed != cmd {
                continue;
            }
            let row = core
                .store
                .read(|tx| {
                    tx.row::<tundra::commands::CommandRow>(tundra::store::Table::Commands, &cmd)
                })
                .unwrap()
                .unwrap();
            if let Some(r) = row.result {
                break (Instant::now(), r);
            }
        };
        let (stored, r) = stored;
        if i >= 20 {
            round_trips.push(stored - accepted);
            submits.push(accepted - t0);
            let ms = |a: f64, b: i64| Duration::from_secs_f64(((b as f64) - a).max(0.0) / 1e3);
            to_start.push(ms(accepted_ms, r.started_ms));
            run_time.push(ms(r.started_ms as f64, r.finished_ms));
            to_store.push(ms(r.finished_ms as f64, r.stored_ms));
        }
    }
    println!("commands on one connected agent (`true`), one after another:");
    report("accepted -> result stored", round_trips);
    report("submit (pipeline + commit, before 202)", submits);
    report("  accepted -> agent started it (ms clock)", to_start);
    report("  agent ran it (ms clock)", run_time);
    report("  agent finished -> stored (ms clock)", to_store);

    // The same as an API client sees it: POST, then GET with a long poll until final.
    let cert = std::fs::read(tmp.path().join("data").join("panel-cert.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let cookie = format!(
        "__Host-tundra_session={}; __Host-tundra_csrf=bench",
        session_id.expose()
    );
    let mut trips = Vec::with_capacity(http);
    for i in 0..(http + 10) {
        let t0 = Instant::now();
        let res = client
            .post(format!("{base}/api/v1/agents/{agent_id}/commands"))
            .header("cookie", &cookie)
            .header("x-csrf-token", "bench")
            .json(&serde_json::json!({"command": "true", "request_id": format!("http-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let v: serde_json::Value = res.json().await.unwrap();
        let cmd = v["id"].as_str().unwrap().to_string();
        loop {
            let v: serde_json::Value = client
                .get(format!("{base}/api/v1/commands/{cmd}?wait_s=10"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["final"] == true {
                break;
            }
        }
        if i >= 10 {
            trips.push(t0.elapsed());
        }
    }
    report("HTTPS POST + long-poll GET until final", trips);

    let _ = agent_process.kill().await;
    running.stop().await.unwrap();
}
