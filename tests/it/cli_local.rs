//! Local CLI commands reach the store through the control socket while `serve` runs and
//! directly otherwise, with the same results.

use std::os::unix::fs::PermissionsExt;

use crate::fixture::{stderr, stdout, Appliance};

#[tokio::test]
async fn audit_commands_work_through_the_socket_and_directly() {
    let mut a = Appliance::start().await;
    let socket = a.data_dir().join("control.sock");
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // While serving, redb is locked by the server: these can only succeed via the socket.
    let live_export = a.cli(&["audit", "export"]).await;
    assert!(live_export.status.success(), "{}", stderr(&live_export));
    let live_lines: Vec<String> = stdout(&live_export).lines().map(String::from).collect();
    assert!(live_lines.len() >= 2, "init + started: {live_lines:?}");
    let live_key = a.cli(&["audit", "pubkey"]).await;
    assert!(live_key.status.success(), "{}", stderr(&live_key));
    let live_head = a.cli(&["audit", "head"]).await;
    let head: serde_json::Value = serde_json::from_str(&stdout(&live_head)).unwrap();
    assert_eq!(head["seq"].as_u64(), Some(live_lines.len() as u64));

    a.stop().await;
    assert!(!socket.exists(), "the socket is removed on shutdown");

    let direct_export = a.cli(&["audit", "export"]).await;
    assert!(direct_export.status.success(), "{}", stderr(&direct_export));
    let direct_lines: Vec<String> = stdout(&direct_export).lines().map(String::from).collect();
    assert_eq!(
        &direct_lines[..live_lines.len()],
        &live_lines[..],
        "same records either way"
    );
    assert!(direct_lines.last().unwrap().contains("appliance.stopped"));
    let direct_key = a.cli(&["audit", "pubkey"]).await;
    assert_eq!(stdout(&direct_key), stdout(&live_key));
}

#[tokio::test]
async fn export_since_and_to_a_new_private_file() {
    let a = Appliance::start().await;
    let out_path = a.tmp.path().join("export.jsonl");
    let out = a
        .cli(&[
            "audit",
            "export",
            "--since",
            "2",
            "--out",
            out_path.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_path).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 2);
    assert_eq!(
        std::fs::metadata(&out_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = a
        .cli(&["audit", "export", "--out", out_path.to_str().unwrap()])
        .await;
    assert!(!again.status.success(), "never overwrites an export");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), text);
}

/// Connects to the socket as uid/gid 65534 (`nobody`), sends one request, and prints
/// `refused`, `dropped` or `answered`.
fn connect_as_nobody(socket: &std::path::Path) -> String {
    use std::os::unix::process::CommandExt;
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError:
    print("refused"); sys.exit(0)
s.sendall(b'{"v":1,"op":"audit_pubkey"}\n')
s.settimeout(5)
try:
    data = s.recv(4096)
except OSError:
    data = b""
print("answered" if data else "dropped")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, socket.to_str().unwrap()])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("python3 runs the foreign-user client");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn another_user_cannot_use_the_socket() {
    let a = Appliance::start().await;
    let socket = a.data_dir().join("control.sock");
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    // Let `nobody` traverse the data dir so only the socket's own defences remain.
    set(&a.data_dir(), 0o711);
    assert_eq!(
        connect_as_nobody(&socket),
        "refused",
        "socket mode 0600 keeps others out"
    );
    // Even if the socket's mode were opened up, the peer uid check drops the connection.
    set(&socket, 0o666);
    assert_eq!(connect_as_nobody(&socket), "dropped", "peer uid is checked");
    set(&socket, 0o600);
    set(&a.data_dir(), 0o700);
    // The owner still gets answers.
    let out = a.cli(&["audit", "pubkey"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}
