//! The real binary under a service manager: `READY=1` via `NOTIFY_SOCKET`, SIGTERM drains and
//! exits 0, and the stop is audited.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::fixture::{stderr, stdout, tundra_cli};

fn wait_for(sock: &UnixDatagram, want: &str, limit: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {want} within {limit:?} (saw {seen:?}): {e}"));
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = msg.contains(want);
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn serve_notifies_ready_and_drains_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tundra.toml");
    std::fs::write(
        &config,
        "panel_addr = \"127.0.0.1:0\"\nredirect_addr = \"127.0.0.1:0\"\nshutdown_grace_secs = 2\n",
    )
    .unwrap();
    // Initialize first so the timing below is a warm start on an initialized dir.
    assert!(tundra_cli(&data, &["init"]).await.status.success());
    let notify_path = tmp.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();

    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("TUNDRA_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ready = tokio::task::spawn_blocking({
        let notify = notify.try_clone().unwrap();
        move || wait_for(&notify, "READY=1", Duration::from_secs(30))
    })
    .await
    .unwrap();
    println!(
        "serve READY after {:?} on an initialized data dir",
        started.elapsed()
    );
    assert!(ready.iter().any(|m| m == "READY=1"));

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("serve exits after SIGTERM")
        .unwrap();
    assert!(
        out.status.success(),
        "exit 0 after SIGTERM: {}",
        stderr(&out)
    );
    let stopping = wait_for(&notify, "STOPPING=1", Duration::from_secs(5));
    assert!(stopping.iter().any(|m| m == "STOPPING=1"));

    let export = tundra_cli(&data, &["audit", "export"]).await;
    let last: serde_json::Value =
        serde_json::from_str(stdout(&export).lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "appliance.stopped");
    assert_eq!(last["detail"]["reason"], "SIGTERM");
}
