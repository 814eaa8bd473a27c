//! The fleet end to end: a real agent (the `agent` module, as `tundra agent` runs it) enrolls
//! against the in-process appliance over HTTPS, connects over gRPC/mTLS and heartbeats; and
//! every way in that must be refused is.

use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tundra::agent::{self, AgentError, EnrollOptions, RunOptions, StateDir, Stopped};
use tundra::audit::AuditContext;
use tundra::clock::Clock;
use tundra::crypto::{issue, random, token, SigningKey};
use tundra::fleet::NewRegToken;
use tundra::model::{Actor, AgentId, TeamId};
use tundra::proto::agent::ENROLL_DOMAIN;
use tundra::proto::enroll::EnrollRequest;
use tundra::store::{Resolution, Table};

use crate::fixture::Appliance;

/// A registration token for team `team` (created if new) with `uses`.
pub fn reg_token(a: &Appliance, team: &str, uses: u32) -> String {
    let ctx = AuditContext::actor(Actor::LocalCli);
    let core = a.core();
    let _ = core.identity.create_team(&ctx, team);
    let team: TeamId = core.identity.team_id_by_name(team).unwrap();
    let req = NewRegToken {
        uses: Some(uses),
        ..NewRegToken::default()
    };
    let (value, _) = core
        .fleet
        .create_registration_token_local(&team, &ctx, req)
        .unwrap();
    value.expose().clone()
}

fn options(a: &Appliance, token: &str) -> EnrollOptions {
    EnrollOptions {
        server: a.url(""),
        token: token.into(),
        ca_sha256: a.core().fleet.ca_fingerprint().into(),
        name: None,
        tags: vec!["web".into()],
        hostname: Some("web-1".into()),
    }
}

/// A running agent.
pub struct TestAgent {
    pub id: String,
    stop: watch::Sender<bool>,
    pub task: JoinHandle<Result<Stopped, AgentError>>,
}

impl TestAgent {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn fast() -> RunOptions {
    RunOptions {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..RunOptions::default()
    }
}

/// Enrolls a new agent (team `ops`) into `dir` and starts it.
pub async fn enroll_and_run(a: &Appliance, dir: &Path, opts: RunOptions) -> TestAgent {
    let state = StateDir::new(dir);
    let id = agent::enroll(&state, &options(a, &reg_token(a, "ops", 1)))
        .await
        .unwrap();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move { agent::run(&state, opts, rx).await });
    TestAgent { id, stop, task }
}

/// Waits (up to 10 s) until the hub's view of `id` is `online`.
pub async fn wait_online(a: &Appliance, id: &str, online: bool) {
    let hub = &a.running.as_ref().unwrap().hub;
    for _ in 0..200 {
        if hub.status(&AgentId(id.into())).online == online {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent {id} never became online={online}");
}

fn actions(a: &Appliance) -> Vec<(String, serde_json::Value)> {
    a.audit_records()
        .into_iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["detail"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_enrolled_agent_connects_heartbeats_and_its_metrics_are_stored() {
    let a = Appliance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ag = enroll_and_run(&a, dir.path(), fast()).await;
    wait_online(&a, &ag.id, true).await;
    // The first heartbeat is sent on connect; flush writes it.
    let hub = &a.running.as_ref().unwrap().hub;
    for _ in 0..100 {
        if hub.status(&AgentId(ag.id.clone())).latest.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let latest = hub
        .status(&AgentId(ag.id.clone()))
        .latest
        .expect("a health sample");
    assert!(latest.memory_total_bytes > 0, "{latest:?}");
    assert!(hub.flush().unwrap() >= 1);
    let stored = a
        .core()
        .store
        .read(|tx| tx.samples(Resolution::Raw, &ag.id, 0, u64::MAX))
        .unwrap();
    assert!(!stored.is_empty());
    // State files are private; the row is in the token's team with the token's tags.
    for f in ["identity.key", "mtls.key", "agent.crt", "enrollment.json"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let row: tundra::fleet::AgentRow = a
        .core()
        .store
        .read(|tx| tx.row(Table::Agents, &ag.id))
        .unwrap()
        .unwrap();
    assert_eq!(row.team, a.core().identity.team_id_by_name("ops").unwrap());
    assert_eq!(row.hostname, "web-1");
    assert!(actions(&a)
        .iter()
        .any(|(act, d)| act == "agent.enrolled" && d["agent"] == ag.id.as_str()));
    ag.stop().await;
    wait_online(&a, &row.id.0, false).await;
}

/// A signed enrollment request for `token` made at `ts_ms`.
fn signed_request(token: &str, ts_ms: i64, key: &SigningKey) -> EnrollRequest {
    let (csr_pem, _) = issue::agent_csr("host-x").unwrap();
    let mut r = EnrollRequest {
        identity_key: key.public().to_hex(),
        csr_pem,
        hostname: "host-x".into(),
        os: "Linux".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        name: None,
        tags: vec![],
        timestamp_ms: ts_ms,
        nonce: hex::encode(random::bytes::<32>()),
        signature: String::new(),
    };
    r.signature = hex::encode(key.sign(ENROLL_DOMAIN, &r.payload(&token::token_hash_hex(token))));
    r
}

async fn post_enroll(a: &Appliance, token: &str, body: &EnrollRequest) -> (u16, serde_json::Value) {
    let r = a
        .client()
        .post(a.url("/api/v1/agents/enroll"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

fn now_ms(a: &Appliance) -> i64 {
    (a.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
}

#[tokio::test]
async fn enrollment_refusals_are_answered_audited_and_change_nothing() {
    let a = Appliance::start().await;
    let key = SigningKey::generate();
    let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("").to_string();

    // Unknown token.
    let (s, v) = post_enroll(
        &a,
        "tnd_reg_nope",
        &signed_request("tnd_reg_nope", now_ms(&a), &key),
    )
    .await;
    assert_eq!((s, code(&v).as_str()), (401, "unknown_token"));

    // Bad signature (signed for another token), clock skew, then a good one, then its replay.
    let t = reg_token(&a, "ops", 5);
    let (s, v) = post_enroll(&a, &t, &signed_request("tnd_reg_other", now_ms(&a), &key)).await;
    assert_eq!((s, code(&v).as_str()), (400, "bad_signature"));
    let (s, v) = post_enroll(&a, &t, &signed_request(&t, now_ms(&a) - 61_000, &key)).await;
    assert_eq!((s, code(&v).as_str()), (400, "clock_skew"));
    let good = signed_request(&t, now_ms(&a), &key);
    let (s, _) = post_enroll(&a, &t, &good).await;
    assert_eq!(s, 200);
    let (s, v) = post_enroll(&a, &t, &good).await;
    assert_eq!((s, code(&v).as_str()), (400, "replayed_nonce"));

    // Used up.
    let once = reg_token(&a, "ops", 1);
    assert_eq!(
        post_enroll(&a, &once, &signed_request(&once, now_ms(&a), &key))
            .await
            .0,
        200
    );
    let (s, v) = post_enroll(&a, &once, &signed_request(&once, now_ms(&a), &key)).await;
    assert_eq!((s, code(&v).as_str()), (401, "token_used_up"));

    // Expired: the default lifetime is one hour.
    let late = reg_token(&a, "ops", 1);
    a.clock.advance(time::Duration::seconds(3601));
    let (s, v) = post_enroll(&a, &late, &signed_request(&late, now_ms(&a), &key)).await;
    assert_eq!((s, code(&v).as_str()), (401, "token_expired"));

    let agents = a
        .core()
        .store
        .read(|tx| tx.rows::<tundra::fleet::AgentRow>(Table::Agents, ""))
        .unwrap();
    assert_eq!(agents.len(), 2, "only the two good requests enrolled");
    let refused: Vec<String> = actions(&a)
        .into_iter()
        .filter(|(act, _)| act == "agent.enrollment_refused")
        .map(|(_, d)| d["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refused,
        [
            "unknown_token",
            "bad_signature",
            "clock_skew",
            "replayed_nonce",
            "token_used_up",
            "token_expired"
        ]
    );
    let log = serde_json::to_string(&a.audit_records()).unwrap();
    assert!(
        !log.contains(&t) && !log.contains(&once),
        "token values are never logged"
    );
}

#[tokio::test]
async fn twenty_parallel_uses_of_a_one_use_token_enroll_exactly_one_agent() {
    let a = Appliance::start().await;
    let t = reg_token(&a, "ops", 1);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let body = signed_request(&t, now_ms(&a), &SigningKey::generate());
        let (client, url, t) = (a.client(), a.url("/api/v1/agents/enroll"), t.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 401).count(), 19, "{codes:?}");
}

#[tokio::test]
async fn a_wrong_ca_pin_stops_enrollment_before_the_token_is_sent() {
    let a = Appliance::start().await;
    let t = reg_token(&a, "ops", 1);
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("s"));
    let mut opts = options(&a, &t);
    opts.ca_sha256 = "00".repeat(32);
    let err = agent::enroll(&state, &opts).await.unwrap_err();
    assert!(matches!(err, AgentError::PinMismatch(_)), "{err}");
    assert!(!state.enrolled());
    // The token was never presented: it still enrolls.
    agent::enroll(&state, &options(&a, &t)).await.unwrap();
}

/// `openssl s_client` (a real, independent TLS peer) against the agent port with optional
/// client cert/key files; returns what it printed.
async fn s_client(a: &Appliance, cert_key: Option<(&Path, &Path)>) -> String {
    let addr = a.agent.to_string();
    let files = cert_key.map(|(c, k)| (c.to_owned(), k.to_owned()));
    tokio::task::spawn_blocking(move || s_client_blocking(&addr, files))
        .await
        .unwrap()
}

fn s_client_blocking(
    addr: &str,
    cert_key: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> String {
    let mut cmd = std::process::Command::new("timeout");
    cmd.args([
        "10", "openssl", "s_client", "-connect", addr, "-tls1_3", "-alpn", "h2",
    ]);
    if let Some((c, k)) = cert_key {
        cmd.arg("-cert").arg(&c).arg("-key").arg(&k);
    }
    // Send a byte after the handshake so a TLS 1.3 server's certificate verdict arrives.
    let out = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let _ = stdin.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            std::thread::sleep(Duration::from_millis(300));
            drop(stdin);
            child.wait_with_output()
        })
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the server ended the handshake with a TLS alert (certificate required, bad
/// certificate, decrypt error for a signature from another CA…).
fn refused(out: &str) -> bool {
    out.contains("SSL alert number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_port_refuses_no_cert_a_foreign_ca_and_a_revoked_cert() {
    let a = Appliance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ag = enroll_and_run(&a, dir.path(), fast()).await;
    wait_online(&a, &ag.id, true).await;
    let (cert, key) = (dir.path().join("agent.crt"), dir.path().join("mtls.key"));

    let none = s_client(&a, None).await;
    assert!(refused(&none), "no certificate must be refused:\n{none}");

    // A certificate for the same agent id from another CA.
    let other = tundra::crypto::x509::new_agent_ca(time::OffsetDateTime::now_utc()).unwrap();
    let other = issue::AgentCa::load(&other.cert_pem, &other.key_pem).unwrap();
    let (csr, k) = issue::agent_csr("x").unwrap();
    let (pem, _) = other
        .issue_client(&csr, &ag.id, time::OffsetDateTime::now_utc(), 30)
        .unwrap();
    let fdir = tempfile::tempdir().unwrap();
    std::fs::write(fdir.path().join("c.pem"), pem).unwrap();
    std::fs::write(fdir.path().join("k.pem"), k.expose()).unwrap();
    let foreign = s_client(
        &a,
        Some((&fdir.path().join("c.pem"), &fdir.path().join("k.pem"))),
    )
    .await;
    assert!(
        refused(&foreign),
        "a foreign CA must be refused:\n{foreign}"
    );

    // The agent's own certificate works until it is deactivated.
    let ok = s_client(&a, Some((&cert, &key))).await;
    assert!(
        !refused(&ok) && ok.contains("TLSv1.3"),
        "the enrolled cert is accepted:\n{ok}"
    );
    let ctx = AuditContext::actor(Actor::LocalCli);
    let started = std::time::Instant::now();
    a.core().fleet.deactivate_local(&ctx, &ag.id).unwrap();
    wait_online(&a, &ag.id, false).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the live stream closes within a second"
    );
    let revoked = s_client(&a, Some((&cert, &key))).await;
    assert!(
        refused(&revoked),
        "a revoked certificate must be refused:\n{revoked}"
    );
    ag.stop().await;
}

#[tokio::test]
async fn an_old_agent_is_told_update_required_and_stops() {
    let a = Appliance::start_with(|c| c.min_agent_version = "99.0.0".into()).await;
    let dir = tempfile::tempdir().unwrap();
    let ag = enroll_and_run(&a, dir.path(), fast()).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), ag.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(ended, Err(AgentError::UpdateRequired { ref min_version }) if min_version == "99.0.0"),
        "{ended:?}"
    );
    assert!(actions(&a)
        .iter()
        .any(|(act, d)| act == "agent.handshake_refused" && d["reason"] == "update_required"));
}

#[tokio::test]
async fn a_replayed_hello_is_refused_and_audited() {
    use tundra::proto::agent::{
        agent_message, rendezvous_client::RendezvousClient, AgentMessage, Hello, HELLO_DOMAIN,
    };
    let a = Appliance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let id = agent::enroll(&state, &options(&a, &reg_token(&a, "ops", 1)))
        .await
        .unwrap();
    let seed = hex::decode(
        std::fs::read_to_string(dir.path().join("identity.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let identity = SigningKey::from_seed(&seed.try_into().unwrap());
    let mut hello = Hello {
        protocol_version: 1,
        agent_id: id.clone(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
        timestamp_ms: now_ms(&a),
        nonce: random::bytes::<16>().to_vec(),
        signature: vec![],
    };
    hello.signature = identity.sign(HELLO_DOMAIN, &hello.payload()).to_vec();
    let channel = tundra::agent::channel_for(&state, &format!("localhost:{}", a.agent.port()))
        .await
        .unwrap();
    let msg = AgentMessage {
        kind: Some(agent_message::Kind::Hello(hello)),
    };
    let mut client = RendezvousClient::new(channel);
    let first = client.connect(tokio_stream::iter(vec![msg.clone()])).await;
    assert!(first.is_ok(), "{first:?}");
    let second = client
        .connect(tokio_stream::iter(vec![msg]))
        .await
        .unwrap_err();
    assert_eq!(second.code(), tonic::Code::PermissionDenied);
    assert_eq!(second.message(), "stale_timestamp");
    assert!(actions(&a)
        .iter()
        .any(|(act, d)| act == "agent.handshake_refused" && d["reason"] == "stale_timestamp"));
}

#[tokio::test]
async fn agents_reconnect_after_the_appliance_restarts() {
    let mut a = Appliance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ag = enroll_and_run(&a, dir.path(), fast()).await;
    wait_online(&a, &ag.id, true).await;
    a.restart().await;
    wait_online(&a, &ag.id, true).await;
    ag.stop().await;
}

#[tokio::test]
async fn break_glass_cli_issues_tokens_and_deactivates_agents_through_the_socket() {
    let a = Appliance::start().await;
    let _ = reg_token(&a, "ops", 1); // creates the team
    let out = a
        .cli(&[
            "fleet",
            "token-add",
            "--team",
            "ops",
            "--uses",
            "2",
            "--tags",
            "db",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().next().unwrap().trim().to_string();
    assert!(token.starts_with("tnd_reg_"), "{text}");
    let fp = a.core().fleet.ca_fingerprint().to_string();
    assert!(
        text.contains(&format!("--token {token} --ca-sha256 {fp}")),
        "{text}"
    );

    // The token enrolls, with its tags.
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let id = agent::enroll(&state, &options(&a, &token)).await.unwrap();
    let row: tundra::fleet::AgentRow = a
        .core()
        .store
        .read(|tx| tx.row(Table::Agents, &id))
        .unwrap()
        .unwrap();
    assert_eq!(row.tags, ["db", "web"]);

    let out = a.cli(&["fleet", "deactivate", &id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!a.core().fleet.is_active(&AgentId(id.clone())));
    let out = a.cli(&["fleet", "deactivate", "agt_nope"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no agent"));
    let deactivations = actions(&a)
        .into_iter()
        .filter(|(act, _)| act == "agent.deactivated")
        .count();
    assert_eq!(deactivations, 1);
}

/// Whether the agent port closes a fresh TCP connection before any TLS byte (an accepted one
/// waits for the ClientHello instead).
async fn closed_before_tls(addr: std::net::SocketAddr) -> bool {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn the_agent_port_closes_untrusted_sources_and_handshake_floods_before_tls() {
    let outside = Appliance::start_with(|c| {
        c.trusted_agent_cidrs = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert!(
        closed_before_tls(outside.agent).await,
        "127.0.0.1 is not trusted"
    );

    let a = Appliance::start_with(|c| c.agent_handshakes_per_ip_per_min = 2).await;
    assert!(
        !closed_before_tls(a.agent).await,
        "first handshake is let through"
    );
    assert!(
        !closed_before_tls(a.agent).await,
        "second handshake is let through"
    );
    assert!(
        closed_before_tls(a.agent).await,
        "the third within a minute is closed"
    );
}

#[tokio::test]
async fn health_history_keeps_a_day_at_full_resolution_and_averages_what_is_older() {
    use tundra::fleet::{Sample, COARSE_STEP_SECS, RAW_RETENTION_SECS};
    let a = Appliance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let id = agent::enroll(&state, &options(&a, &reg_token(&a, "ops", 1)))
        .await
        .unwrap();
    let agent = AgentId(id.clone());
    let now = a.clock.now().unix_timestamp() as u64;
    let old = now - 2 * RAW_RETENTION_SECS;
    let old = old - old % COARSE_STEP_SECS; // the start of a five-minute bucket
    let s = |cpu| Sample {
        cpu_percent: cpu,
        ..Sample::default()
    };
    let fleet = &a.core().fleet;
    fleet
        .record_samples(&[
            (agent.clone(), old, s(10.0)),
            (agent.clone(), old + 10, s(30.0)),
            (agent.clone(), now - 60, s(50.0)),
        ])
        .unwrap();
    assert_eq!(
        fleet.compact_metrics().unwrap(),
        2,
        "two samples older than a day"
    );
    let read = |r| {
        a.core()
            .store
            .read(|tx| tx.samples(r, &id, 0, u64::MAX))
            .unwrap()
    };
    let raw = read(Resolution::Raw);
    assert_eq!(raw.len(), 1, "the last day stays at full resolution");
    let coarse = read(Resolution::Coarse);
    assert_eq!(
        coarse.len(),
        1,
        "the older two became one five-minute average"
    );
    let avg = Sample::decode(&coarse[0].1).unwrap();
    assert_eq!((coarse[0].0, avg.cpu_percent), (old, 20.0));
    // Nothing older than 30 days survives.
    a.clock.advance(time::Duration::days(31));
    fleet.compact_metrics().unwrap();
    assert!(read(Resolution::Coarse).is_empty() && read(Resolution::Raw).is_empty());
}
