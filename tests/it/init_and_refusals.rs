//! `tundra init`: what it creates, with which modes, idempotency, and every start-up refusal
//! (each names the file, the problem and the fix, and writes nothing).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tundra::store::{Store, SCHEMA_VERSION};

use crate::fixture::{stderr, stdout, tundra_cli};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every file in the dir with its size, mode and content hash: "nothing written" means this
/// is identical before and after.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, u32, [u8; 32])> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() && m.mode() & 0o400 != 0 {
            tundra::crypto::digest::sha256(&std::fs::read(&p).unwrap_or_default())
        } else {
            [0; 32]
        };
        out.insert(p, (m.len(), m.mode(), content));
    }
    out
}

async fn init(dir: &Path) -> std::process::Output {
    tundra_cli(dir, &["init"]).await
}

#[tokio::test]
async fn init_creates_everything_with_tight_modes_then_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = init(&dir).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Initialized"), "{text}");
    assert!(text.contains("Agent CA SHA-256"), "{text}");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("master.key")), 0o400);
    assert_eq!(std::fs::metadata(dir.join("master.key")).unwrap().len(), 64);
    assert_eq!(mode(&dir.join("tundra.redb")), 0o600);
    assert_eq!(mode(&dir.join("panel-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("panel-cert.pem")), 0o600);

    let before = snapshot(&dir);
    let again = init(&dir).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already initialized; nothing changed"),
        "{}",
        stdout(&again)
    );
    assert_eq!(before, snapshot(&dir), "a second init writes nothing");
}

#[tokio::test]
async fn init_is_the_first_audited_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(init(&dir).await.status.success());
    let out = tundra_cli(&dir, &["audit", "export"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["action"], "appliance.initialized");
    assert_eq!(first["actor"]["kind"], "local_cli");
    assert_eq!(first["prev_hash"], "0".repeat(64));
}

/// Initializes a data dir, breaks it with `harm`, and checks `serve` refuses with a message
/// containing every `needle`, exits non-zero and writes nothing.
async fn refused(harm: impl FnOnce(&Path), needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(init(&dir).await.status.success());
    harm(&dir);
    let before = snapshot(&dir);
    let out = tundra_cli(&dir, &["serve"]).await;
    assert!(!out.status.success(), "serve must refuse");
    let err = stderr(&out);
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert_eq!(before, snapshot(&dir), "a refusal writes nothing");
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn rewrite_key(dir: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let p = dir.join("master.key");
    let mut bytes = std::fs::read(&p).unwrap();
    chmod(&p, 0o600);
    f(&mut bytes);
    std::fs::write(&p, bytes).unwrap();
    chmod(&p, 0o400);
}

#[tokio::test]
async fn refuses_a_loose_master_key() {
    refused(
        |d| chmod(&d.join("master.key"), 0o644),
        &["master.key", "0644", "chmod 0400"],
    )
    .await;
}

#[tokio::test]
async fn refuses_a_master_key_owned_by_someone_else() {
    refused(
        |d| std::os::unix::fs::chown(d.join("master.key"), Some(4242), None).unwrap(),
        &["master.key", "uid 4242", "chown"],
    )
    .await;
}

#[tokio::test]
async fn refuses_a_truncated_master_key() {
    refused(
        |d| rewrite_key(d, |b| b.truncate(40)),
        &["master.key", "40 bytes", "expected 64"],
    )
    .await;
}

#[tokio::test]
async fn refuses_a_master_key_with_a_bad_trailer() {
    refused(
        |d| rewrite_key(d, |b| b[63] ^= 0x55),
        &["master.key", "BLAKE3", "restore"],
    )
    .await;
}

#[tokio::test]
async fn refuses_a_loose_data_dir() {
    refused(|d| chmod(d, 0o755), &["data", "0755", "chmod 0700"]).await;
}

#[tokio::test]
async fn refuses_a_store_from_a_newer_binary() {
    refused(
        |d| {
            let store = Store::open(&d.join("tundra.redb")).unwrap();
            store
                .write(|tx| tx.set_schema_version(SCHEMA_VERSION + 1))
                .unwrap();
        },
        &["tundra.redb", "schema version", "newer tundra binary"],
    )
    .await;
}

#[tokio::test]
async fn refuses_a_store_without_its_master_key() {
    refused(
        |d| std::fs::remove_file(d.join("master.key")).unwrap(),
        &["master.key", "missing", "restore"],
    )
    .await;
}

#[tokio::test]
async fn refuses_a_master_key_from_another_data_dir() {
    let other = tempfile::tempdir().unwrap();
    let other_dir = other.path().join("data");
    assert!(init(&other_dir).await.status.success());
    let foreign = std::fs::read(other_dir.join("master.key")).unwrap();
    refused(
        move |d| rewrite_key(d, |b| *b = foreign),
        &["audit_signing_key", "master key that initialized"],
    )
    .await;
}

#[tokio::test]
async fn local_commands_do_not_initialize() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("never");
    let out = tundra_cli(&dir, &["audit", "pubkey"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not initialized"), "{}", stderr(&out));
    assert!(!dir.exists());
}

#[tokio::test]
async fn the_generated_certificate_follows_public_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(init(&dir).await.status.success());
    let old = std::fs::read(dir.join("panel-cert.pem")).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .arg("--data-dir")
        .arg(&dir)
        .arg("init")
        .env("TUNDRA_PUBLIC_HOST", "panel.example.com")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("does not cover panel.example.com"),
        "{}",
        stdout(&out)
    );
    let new = std::fs::read(dir.join("panel-cert.pem")).unwrap();
    assert_ne!(old, new);
    let summary = tundra::crypto::x509::summarize_pem(&new).unwrap();
    assert!(summary.covers("panel.example.com") && summary.covers("localhost"));
    assert_eq!(mode(&dir.join("panel-key.pem")), 0o600);
}

#[tokio::test]
async fn the_generated_certificate_is_renewed_before_it_expires() {
    use std::sync::Arc;
    use tundra::app::{Core, OpenMode};
    use tundra::clock::{Clock, ManualClock};
    let tmp = tempfile::tempdir().unwrap();
    let config = crate::fixture::test_config(tmp.path());
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let first = Core::open(config.clone(), clock.clone(), OpenMode::Initialize).unwrap();
    let fingerprint = first.report.panel_cert_sha256.clone();
    drop(first);
    clock.advance(time::Duration::days(300));
    let same = Core::open(config.clone(), clock.clone(), OpenMode::Initialize).unwrap();
    assert!(same.report.created.is_empty(), "{:?}", same.report.created);
    drop(same);
    clock.advance(time::Duration::days(80));
    let renewed = Core::open(config, clock.clone(), OpenMode::Initialize).unwrap();
    assert_ne!(renewed.report.panel_cert_sha256, fingerprint);
    assert!(renewed.report.created[0].contains("expires within 30 days"));
    let pem = std::fs::read(tmp.path().join("data/panel-cert.pem")).unwrap();
    let summary = tundra::crypto::x509::summarize_pem(&pem).unwrap();
    assert!(summary.not_after > clock.now() + time::Duration::days(300));
}
