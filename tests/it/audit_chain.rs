//! The audit chain: any edit, deletion, reordering, insertion or truncation of an export is
//! caught and named by sequence number; a failed audit write leaves the change unapplied.

use std::sync::Arc;

use proptest::prelude::*;
use tundra::audit::{
    self, verify_jsonl, AuditContext, AuditEvent, AuditLog, Problem, Record, SignedHead,
};
use tundra::clock::{ManualClock, SharedClock};
use tundra::crypto::{PublicKey, SigningKey};
use tundra::model::Actor;
use tundra::store::Store;

struct Log {
    _dir: tempfile::TempDir,
    store: Store,
    audit: AuditLog,
}

fn log_with(n: u64) -> Log {
    log_signed_by(n, SigningKey::generate(), "0.0")
}

fn log_signed_by(n: u64, key: SigningKey, label: &str) -> Log {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("t.redb")).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let audit = AuditLog::new(key, clock);
    store
        .write(|tx| {
            for i in 0..n {
                audit.append(
                    tx,
                    &AuditContext::actor(Actor::System),
                    &AuditEvent::ApplianceStarted {
                        version: format!("{label}.{i}"),
                    },
                )?;
            }
            Ok::<_, audit::AuditError>(())
        })
        .unwrap();
    Log {
        _dir: dir,
        store,
        audit,
    }
}

fn export(log: &Log) -> Vec<String> {
    log.store
        .read(|tx| audit::export_page(tx, 0, usize::MAX))
        .unwrap()
}

fn verify(
    lines: &[String],
    key: &PublicKey,
    head: Option<&SignedHead>,
) -> Result<u64, (Option<u64>, Problem)> {
    let text = lines.join("\n");
    verify_jsonl(text.as_bytes(), key, head)
        .map(|r| r.last)
        .map_err(|f| (f.seq, f.problem))
}

fn edit(line: &str, f: impl FnOnce(&mut Record)) -> String {
    let mut r: Record = serde_json::from_str(line).unwrap();
    f(&mut r);
    serde_json::to_string(&r).unwrap()
}

#[test]
fn an_untouched_export_verifies_with_its_head() {
    let log = log_with(50);
    let lines = export(&log);
    let head = log.audit.head(&log.store).unwrap();
    assert_eq!(verify(&lines, &log.audit.public_key(), Some(&head)), Ok(50));
}

#[test]
fn another_key_is_refused() {
    let log = log_with(3);
    let other = SigningKey::generate().public();
    assert_eq!(
        verify(&export(&log), &other, None),
        Err((Some(1), Problem::BadSignature))
    );
}

#[test]
fn a_saved_head_from_another_key_is_refused() {
    let log = log_with(3);
    let forged = SignedHead::sign(3, "00".repeat(32), "now".into(), &SigningKey::generate());
    assert!(matches!(
        verify(&export(&log), &log.audit.public_key(), Some(&forged)),
        Err((_, Problem::BadHeadSignature))
    ));
}

#[test]
fn a_rewritten_log_does_not_match_its_saved_head() {
    let key = SigningKey::generate();
    let seed = key.seed();
    let original = log_signed_by(5, key, "1.0");
    let head = original.audit.head(&original.store).unwrap();
    // Someone holding the signing key rewrites history: every record verifies on its own,
    // but the saved head pins the original.
    let rewritten = log_signed_by(5, SigningKey::from_seed(seed.expose()), "6.6");
    let key = original.audit.public_key();
    assert_eq!(verify(&export(&rewritten), &key, None), Ok(5));
    assert_eq!(
        verify(&export(&rewritten), &key, Some(&head)),
        Err((Some(5), Problem::HeadMismatch))
    );
}

#[test]
fn a_failed_audit_write_leaves_the_change_unapplied() {
    let log = log_with(2);
    // Corrupt the newest audit record: the next append cannot chain to it and must fail.
    log.store
        .write(|tx| tx.audit_insert(3, b"not json"))
        .unwrap();
    let result = log.store.write(|tx| {
        tx.put_public("change", b"applied")?;
        log.audit.append(
            tx,
            &AuditContext::actor(Actor::LocalCli),
            &AuditEvent::ApplianceStopped {
                reason: "test".into(),
            },
        )?;
        Ok::<_, audit::AuditError>(())
    });
    assert!(result.is_err());
    assert_eq!(log.store.read(|tx| tx.public("change")).unwrap(), None);
    assert_eq!(log.store.read(|tx| tx.audit_last()).unwrap().unwrap().0, 3);
}

const N: u64 = 12;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_edit_is_named(i in 0..N as usize, field in 0..4u8) {
        let log = log_with(N);
        let mut lines = export(&log);
        lines[i] = edit(&lines[i], |r| match field {
            0 => r.action = "appliance.tampered".into(),
            1 => r.ts = "2001-01-01T00:00:00.000Z".into(),
            2 => r.detail = serde_json::json!({"version": "evil"}),
            _ => r.source_ip = Some("203.0.113.9".into()),
        });
        prop_assert_eq!(
            verify(&lines, &log.audit.public_key(), None),
            Err((Some(i as u64 + 1), Problem::Edited))
        );
    }

    #[test]
    fn an_edit_with_its_hash_recomputed_fails_its_signature(i in 0..N as usize) {
        let log = log_with(N);
        let mut lines = export(&log);
        lines[i] = edit(&lines[i], |r| {
            r.target = Some("forged".into());
            r.hash = hex::encode(r.compute_hash().unwrap());
        });
        prop_assert_eq!(
            verify(&lines, &log.audit.public_key(), None),
            Err((Some(i as u64 + 1), Problem::BadSignature))
        );
    }

    #[test]
    fn any_deletion_is_named(i in 1..(N as usize - 1)) {
        let log = log_with(N);
        let mut lines = export(&log);
        lines.remove(i);
        let seq = i as u64 + 1;
        prop_assert_eq!(
            verify(&lines, &log.audit.public_key(), None),
            Err((Some(seq + 1), Problem::Dropped { from: seq, to: seq }))
        );
    }

    #[test]
    fn any_reordering_is_named(i in 0..N as usize, j in 0..N as usize) {
        prop_assume!(i != j);
        let (i, j) = (i.min(j), i.max(j));
        let log = log_with(N);
        let mut lines = export(&log);
        lines.swap(i, j);
        let result = verify(&lines, &log.audit.public_key(), None);
        let first_displaced = i as u64 + 1;
        if i == 0 {
            // The export now starts later; the displaced first record shows up out of order.
            prop_assert!(matches!(result, Err((_, Problem::Reordered { .. }))), "{:?}", result);
        } else {
            prop_assert!(
                matches!(result, Err((Some(s), Problem::Reordered { .. })) if s == first_displaced),
                "{:?}", result
            );
        }
    }

    #[test]
    fn any_duplicate_insertion_is_named(i in 0..N as usize) {
        let log = log_with(N);
        let mut lines = export(&log);
        lines.insert(i + 1, lines[i].clone());
        prop_assert_eq!(
            verify(&lines, &log.audit.public_key(), None),
            Err((Some(i as u64 + 1), Problem::Duplicated))
        );
    }

    #[test]
    fn any_forged_insertion_is_named(i in 0..(N as usize - 1)) {
        let log = log_with(N);
        let mut lines = export(&log);
        // A well-formed record chained to line i, with a plausible but unsigned body.
        let forged = edit(&lines[i], |r| {
            r.prev_hash = r.hash.clone();
            r.seq += 1;
            r.action = "appliance.forged".into();
            r.hash = hex::encode(r.compute_hash().unwrap());
        });
        lines.insert(i + 1, forged);
        prop_assert_eq!(
            verify(&lines, &log.audit.public_key(), None),
            Err((Some(i as u64 + 2), Problem::BadSignature))
        );
    }

    #[test]
    fn any_truncation_is_caught_by_a_saved_head(k in 1..(N as usize)) {
        let log = log_with(N);
        let head = log.audit.head(&log.store).unwrap();
        let mut lines = export(&log);
        lines.truncate(N as usize - k);
        prop_assert_eq!(
            verify(&lines, &log.audit.public_key(), Some(&head)),
            Err((Some((N as usize - k) as u64), Problem::Truncated { last: (N as usize - k) as u64, head: N }))
        );
    }
}

#[test]
fn the_cli_names_the_bad_record_and_exits_non_zero() {
    let log = log_with(6);
    let dir = tempfile::tempdir().unwrap();
    let mut lines = export(&log);
    lines[3] = edit(&lines[3], |r| r.action = "x".into());
    let file = dir.path().join("audit.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .args(["audit", "verify", file.to_str().unwrap(), "--pubkey"])
        .arg(log.audit.public_key().to_hex())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("seq 4") && text.contains("edited"), "{text}");
}
