//! Fleet load tool: starts the real `tundra serve` (release build) on a temp data dir,
//! enrolls N agents through the HTTPS API, connects them all over mTLS gRPC with heartbeats,
//! and reports the server's memory per connected agent, its CPU for heartbeats and the
//! enrollment rate.
//!
//! `cargo bench --bench agents_load -- --count 1000 [--window 60]`

// A measuring tool prints its results.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tundra::agent::{self, EnrollOptions, StateDir};
use tundra::proto::agent::rendezvous_client::RendezvousClient;
use tundra::proto::agent::{agent_message, AgentMessage, Heartbeat, Metrics};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn tundra(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tundra"))
        .args(args)
        .env("TUNDRA_CONFIG", dir.join("tundra.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Server {
    child: Child,
    panel: u16,
    agent: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path, count: u64) -> Server {
    let (panel, redirect, agent) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("tundra.toml"),
        format!(
            "data_dir = \"{}\"\npanel_addr = \"127.0.0.1:{panel}\"\nredirect_addr = \"127.0.0.1:{redirect}\"\n\
             agent_addr = \"127.0.0.1:{agent}\"\nmax_agent_connections = {}\n\
             agent_handshakes_per_ip_per_min = 1000000\nmax_connections = 100000\n\
             max_connections_per_ip = 100000\nself_check_interval_secs = 0\n",
            dir.join("data").display(),
            count + 100
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tundra"))
        .arg("serve")
        .env("TUNDRA_CONFIG", dir.join("tundra.toml"))
        .env("TUNDRA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", agent)).is_ok() {
            return Server {
                child,
                panel,
                agent,
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("serve did not start");
}

fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let max = cur.maximum.unwrap_or(1 << 20);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(max),
            maximum: Some(max),
        },
    );
    max
}

/// One simulated agent: the real hello and heartbeats (fixed health values), no sysinfo.
async fn simulated(state: StateDir, addr: String, connected: Arc<AtomicUsize>) {
    let loaded = state.load().unwrap();
    let channel = agent::channel_for(&state, &addr).await.unwrap();
    let mut client = RendezvousClient::new(channel);
    let (tx, rx) = mpsc::channel::<AgentMessage>(2);
    let hello = agent::signed_hello(&loaded, agent::VERSION);
    tx.send(AgentMessage {
        kind: Some(agent_message::Kind::Hello(hello)),
    })
    .await
    .unwrap();
    let mut inbound = client
        .connect(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let _welcome = inbound.message().await.unwrap().unwrap();
    connected.fetch_add(1, Ordering::Relaxed);
    drop(loaded);
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        let hb = AgentMessage {
            kind: Some(agent_message::Kind::Heartbeat(Heartbeat {
                timestamp_ms: 0,
                metrics: Some(Metrics {
                    cpu_percent: 3.0,
                    memory_used_bytes: 1 << 30,
                    memory_total_bytes: 4 << 30,
                    disk_used_bytes: 10 << 30,
                    disk_total_bytes: 40 << 30,
                    uptime_s: 1000,
                    ..Metrics::default()
                }),
            })),
        };
        if tx.send(hb).await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let count = arg("--count", 1000);
    let window = arg("--window", 60);
    let fds = raise_fd_limit();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let server = start_server(&dir, count);
    let pid = server.child.id();
    println!("agents_load: N={count}, fd limit {fds}, server pid {pid}");
    tundra(&dir, &["team", "add", "load"]);
    let out = tundra(
        &dir,
        &[
            "fleet",
            "token-add",
            "--team",
            "load",
            "--uses",
            &count.to_string(),
        ],
    );
    let token = out.lines().next().unwrap().trim().to_string();
    let ca = out
        .split("--ca-sha256 ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    // Enroll.
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..count {
        let (gate, token, ca) = (Arc::clone(&gate), token.clone(), ca.clone());
        let state_dir: PathBuf = dir.join("agents").join(i.to_string());
        let server = format!("https://localhost:{}", server.panel);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let state = StateDir::new(&state_dir);
            let opts = EnrollOptions {
                server,
                token,
                ca_sha256: ca,
                name: None,
                tags: vec![],
                hostname: Some(format!("sim-{i}")),
            };
            agent::enroll(&state, &opts).await.unwrap();
            state
        }));
    }
    let mut states = Vec::new();
    for t in tasks {
        states.push(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "enrolled {count} agents in {secs:.1} s: {:.0} enrollments/s",
        count as f64 / secs
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_rss = proc_status_kib(pid, "VmRSS:");
    println!("server RSS before connections: {} KiB", base_rss);

    // Connect.
    let connected = Arc::new(AtomicUsize::new(0));
    let addr = format!("localhost:{}", server.agent);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    for state in states {
        let (gate, addr, connected) = (Arc::clone(&gate), addr.clone(), Arc::clone(&connected));
        let permit = gate.acquire_owned().await.unwrap();
        tokio::spawn(async move {
            let c = Arc::clone(&connected);
            let before = c.load(Ordering::Relaxed);
            let sim = tokio::spawn(simulated(state, addr, connected));
            // Hold the permit until this agent is welcomed (or failed).
            while c.load(Ordering::Relaxed) == before && !sim.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(permit);
            let _ = sim.await;
        });
    }
    while connected.load(Ordering::Relaxed) < count as usize {
        if started.elapsed() > Duration::from_secs(600) {
            println!(
                "only {} of {count} connected after 600 s",
                connected.load(Ordering::Relaxed)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let n = connected.load(Ordering::Relaxed);
    println!(
        "connected {n} agents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Let the connection ramp's garbage settle and the first heartbeats pass.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let rss = proc_status_kib(pid, "VmRSS:");
    let per = (rss.saturating_sub(base_rss)) as f64 / n.max(1) as f64;
    println!("server RSS with {n} agents: {rss} KiB; {per:.1} KiB per connected agent");

    let ticks = clock_ticks_per_sec();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    tokio::time::sleep(Duration::from_secs(window)).await;
    let used = (cpu_ticks(pid) - c0) as f64 / ticks;
    let pct = 100.0 * used / t0.elapsed().as_secs_f64();
    println!("server CPU over {window} s of heartbeats (every 10 s): {pct:.2} % of one core");
    let rss_end = proc_status_kib(pid, "VmRSS:");
    println!(
        "server RSS at the end: {rss_end} KiB; peak {} KiB",
        proc_status_kib(pid, "VmHWM:")
    );
    drop(server);
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux in practice).
fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
