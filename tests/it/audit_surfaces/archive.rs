//! `tundra audit archive`: the oldest records move to a file and leave the store; the file,
//! the remaining log and the two together all verify; a tampered archive is caught; a refused
//! archive removes nothing; the store's file stops growing once old records are archived.

use std::os::unix::fs::PermissionsExt;

use tundra::audit::{AuditContext, AuditEvent};
use tundra::model::{Actor, TeamId};

use super::verify;
use crate::fixture::{stderr, stdout, Appliance};

/// Appends `n` records of team `team` (in one transaction: quick).
fn append_many(a: &Appliance, team: &str, n: usize) {
    let core = a.core();
    let ctx = AuditContext {
        team: Some(TeamId(team.into())),
        ..AuditContext::actor(Actor::System)
    };
    core.store
        .write(|tx| {
            for i in 0..n {
                let e = AuditEvent::TeamCreated {
                    name: format!("filler-{i}"),
                };
                core.audit.append(tx, &ctx, &e)?;
            }
            Ok::<_, tundra::audit::AuditError>(())
        })
        .unwrap();
}

fn last_seq(a: &Appliance) -> u64 {
    a.audit_records().last().unwrap()["seq"].as_u64().unwrap()
}

#[tokio::test]
async fn archive_round_trip_keeps_every_part_verifiable() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    // More than one export page (1000) on each side of the cut.
    append_many(&a, "t_fill", 2_500);
    let dir = tempfile::tempdir().unwrap();
    let pubkey = dir.path().join("audit.pub");
    let out = a.cli(&["audit", "pubkey"]).await;
    std::fs::write(&pubkey, stdout(&out)).unwrap();
    let total = last_seq(&a);
    let before = 1_200u64;

    let archive = dir.path().join("archive-1.jsonl");
    let arg = archive.to_str().unwrap();
    let out = a
        .cli(&[
            "audit",
            "archive",
            "--before",
            &before.to_string(),
            "--out",
            arg,
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrote 1199 records"),
        "{}",
        stderr(&out)
    );
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!dir.path().join("archive-1.jsonl.partial").exists());

    // The archive verifies on its own.
    let (code, text) = verify(&a.data_dir(), &archive, &pubkey, &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("records 1..1199"), "{text}");

    // The store starts at `before` and ends with the anchor naming the archive.
    let left = a.audit_records();
    assert_eq!(left[0]["seq"], before);
    let anchor = left.last().unwrap();
    assert_eq!(anchor["action"], "audit.archived");
    assert_eq!(anchor["seq"], total + 1);
    assert_eq!(anchor["detail"]["records"], 1199);
    let digest = hex::encode(tundra::crypto::digest::sha256(
        &std::fs::read(&archive).unwrap(),
    ));
    assert_eq!(anchor["detail"]["file_sha256"], digest.as_str());

    // `audit export` pages correctly past the gap (the log no longer starts at 1).
    let rest = dir.path().join("rest.jsonl");
    let out = a
        .cli(&["audit", "export", "--out", rest.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rest_text = std::fs::read_to_string(&rest).unwrap();
    assert_eq!(rest_text.lines().count() as u64, total + 1 - before + 1);
    let (code, text) = verify(&a.data_dir(), &rest, &pubkey, &[]).await;
    assert_eq!(code, 0, "{text}");

    // Together they are one chain.
    let whole = dir.path().join("whole.jsonl");
    let archived_text = std::fs::read_to_string(&archive).unwrap();
    std::fs::write(&whole, format!("{archived_text}{rest_text}")).unwrap();
    let (code, text) = verify(&a.data_dir(), &whole, &pubkey, &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("records 1..{}", total + 1)),
        "{text}"
    );

    // A tampered archive is caught, naming the record.
    let tampered = archived_text.replacen("filler-7\"", "filler-8\"", 1);
    assert_ne!(tampered, archived_text);
    std::fs::write(&archive, tampered).unwrap();
    let (code, text) = verify(&a.data_dir(), &archive, &pubkey, &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("FAILED"), "{text}");
    // A record dropped from the archive too.
    let dropped: String = archived_text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 500)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&archive, dropped).unwrap();
    let (code, text) = verify(&a.data_dir(), &archive, &pubkey, &[]).await;
    assert_eq!(code, 1, "{text}");

    // A second archive continues from the anchor.
    let second = dir.path().join("archive-2.jsonl");
    let out = a
        .cli(&[
            "audit",
            "archive",
            "--before",
            "2000",
            "--out",
            second.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, text) = verify(&a.data_dir(), &second, &pubkey, &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("records 1200..1999"), "{text}");
    assert_eq!(a.audit_records()[0]["seq"], 2000);
}

#[tokio::test]
async fn a_refused_archive_removes_nothing() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    append_many(&a, "t_fill", 20);
    let dir = tempfile::tempdir().unwrap();
    let count = a.audit_records().len();
    let past = (last_seq(&a) + 5).to_string();
    let out_path = dir.path().join("a.jsonl");
    let arg = out_path.to_str().unwrap();
    for (before, why) in [(past.as_str(), "newest record"), ("1", "above 1")] {
        let out = a
            .cli(&["audit", "archive", "--before", before, "--out", arg])
            .await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
        assert!(!out_path.exists(), "no file left behind");
    }
    std::fs::write(&out_path, "keep me").unwrap();
    let out = a
        .cli(&["audit", "archive", "--before", "5", "--out", arg])
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "keep me");
    assert_eq!(a.audit_records().len(), count, "nothing removed");
}

#[tokio::test]
async fn archiving_keeps_the_store_file_from_growing() {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    let db = a.data_dir().join(tundra::store::FILE_NAME);
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for round in 0..4 {
        append_many(&a, "t_busy", 3_000);
        let before = (last_seq(&a) + 1).to_string();
        let out_path = dir.path().join(format!("a{round}.jsonl"));
        let out = a
            .cli(&[
                "audit",
                "archive",
                "--before",
                &before,
                "--out",
                out_path.to_str().unwrap(),
            ])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        sizes.push(std::fs::metadata(&db).unwrap().len());
    }
    // Freed pages are reused: after the first round the file does not keep growing.
    assert!(
        sizes[3] <= sizes[1] + sizes[1] / 4,
        "store size per round: {sizes:?}"
    );
}
