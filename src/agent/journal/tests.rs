use std::os::unix::fs::PermissionsExt;

use super::log::TMP;
use super::migrate::mtime_ms;
use super::record::{key_of, Record, Seal};
use super::*;
use crate::crypto::digest::sha256;

const T0: i64 = 1_800_000_000_000;
const HOUR_MS: i64 = 60 * 60 * 1000;

fn result(id: &str, exit_code: i32) -> CommandResult {
    CommandResult {
        command_id: id.into(),
        exit_code,
        stdout_len: 5,
        stderr_len: 3,
        command_sha256: sha256(b"echo").to_vec(),
        signature: vec![9; 64],
        ..Default::default()
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn files(j: &Journal) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(j.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Where the one-file-per-id layout of earlier agents kept `id`.
fn j_path(state: &tempfile::TempDir, id: &str) -> PathBuf {
    state.path().join(DIR).join(file_name(id))
}

fn file_name(id: &str) -> String {
    hex::encode(key_of(id))
}

/// The length of the record that holds the state of `id`.
fn record_len(j: &Journal, id: &str) -> u64 {
    j.lock().index[&key_of(id)].span.len
}

#[test]
fn started_survives_a_restart_and_blocks_a_second_start() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    assert_eq!(j.lookup("c1").unwrap(), Entry::Unknown);
    assert!(j.begin("c1", "req-1", &[7; 32], T0).unwrap());
    assert!(!j.begin("c1", "req-1", &[7; 32], T0).unwrap());
    assert_eq!(mode(j.dir()), 0o700);
    assert_eq!(mode(&j.log_path()), 0o600);
    drop(j);

    let j = Journal::open(state.path(), T0 + 1).unwrap();
    assert_eq!(
        j.lookup("c1").unwrap(),
        Entry::Started {
            started_ms: T0,
            command_sha256: vec![7; 32],
            damaged: None
        }
    );
    assert!(!j.begin("c1", "req-1", &[7; 32], T0 + 1).unwrap());
}

#[test]
fn a_result_is_kept_byte_for_byte_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(j.begin("c1", "", &[1; 32], T0).unwrap());
    let stdout: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    j.finish("c1", &result("c1", 4), &stdout, b"err", T0 + 5)
        .unwrap();
    let bytes = fs::read(j.log_path()).unwrap();
    drop(j);

    // Opening reads the log without rewriting it.
    let j = Journal::open(state.path(), T0 + 10).unwrap();
    assert_eq!(fs::read(j.log_path()).unwrap(), bytes);
    assert_eq!(mode(&j.log_path()), 0o600);
    assert_eq!(
        j.lookup("c1").unwrap(),
        Entry::Finished {
            result: result("c1", 4),
            stdout,
            stderr: b"err".to_vec()
        }
    );
    assert!(!j.begin("c1", "", &[1; 32], T0 + 10).unwrap());
}

#[test]
fn an_ack_leaves_a_small_tombstone() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(!j.ack("c1", T0).unwrap(), "nothing to acknowledge yet");
    j.finish("c1", &result("c1", 0), &vec![b'x'; 1 << 20], b"", T0)
        .unwrap();
    assert!(j.ack("c1", T0 + 1).unwrap());
    assert!(
        !j.ack("c1", T0 + 2).unwrap(),
        "a second ack changes nothing"
    );
    assert!(record_len(&j, "c1") < 512);
    drop(j);
    let j = Journal::open(state.path(), T0 + 3).unwrap();
    assert_eq!(
        j.lookup("c1").unwrap(),
        Entry::Forgotten {
            result: result("c1", 0),
            acked: true
        }
    );
    assert!(!j.begin("c1", "", &[], T0).unwrap());
    assert_eq!(files(&j).len(), 1, "no temporary files are left");
}

/// Files of the one-file-per-id layout an upgraded agent finds: the damaged ones are
/// moved into the log as damaged, never as unknown.
#[test]
fn damaged_files_read_as_started_and_never_as_unknown() {
    let state = tempfile::tempdir().unwrap();
    drop(Journal::open(state.path(), T0).unwrap());
    let good = Record::Finished {
        command_id: "good".into(),
        result: result("good", 0),
        stdout: b"hello".to_vec(),
        stderr: Vec::new(),
        at_ms: T0,
    }
    .encode(Seal::File);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"not a journal file at all".to_vec()),
        ("torn", good[..good.len() / 2].to_vec()),
        ("moved", good.clone()), // a valid file under another id's name
        ("edited", {
            let mut b = good.clone();
            let i = b.len() - 40;
            b[i] ^= 1;
            b
        }),
    ];
    fs::write(j_path(&state, "good"), &good).unwrap();
    for (id, bytes) in &cases {
        fs::write(j_path(&state, id), bytes).unwrap();
    }
    // Opening indexes them without failing; each is "started, no result". (A file without a
    // readable header is aged by its mtime, so open "now".)
    let now = mtime_ms(&fs::metadata(j_path(&state, "empty")).unwrap());
    for _restart in 0..2 {
        let j = Journal::open(state.path(), now).unwrap();
        for (id, _) in &cases {
            match j.lookup(id).unwrap() {
                Entry::Started {
                    damaged: Some(why), ..
                } => assert!(!why.is_empty()),
                other => panic!("{id}: {other:?}"),
            }
            assert!(!j.begin(id, "", &[], now).unwrap(), "{id} must not start");
        }
        assert!(matches!(j.lookup("good").unwrap(), Entry::Finished { .. }));
        assert_eq!(files(&j), [LOG], "the old files are gone once moved");
    }
}

#[test]
fn a_loose_journal_dir_is_refused_and_leftover_temp_files_are_removed() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    // One an old agent's replacement left, and one from a compaction that never renamed.
    let tmp = j.dir().join(format!(".{}.tmp", file_name("c1")));
    fs::write(&tmp, b"half").unwrap();
    fs::write(j.dir().join(TMP), b"half a log").unwrap();
    drop(j);
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(!tmp.exists());
    assert_eq!(files(&j), [LOG]);
    fs::set_permissions(j.dir(), fs::Permissions::from_mode(0o755)).unwrap();
    match Journal::open(state.path(), T0) {
        Err(AgentError::Corrupt { message, .. }) => assert!(message.contains("chmod 0700")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unacknowledged_results_lose_their_output_after_a_day() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    j.finish("old", &result("old", 1), b"out", b"err", T0)
        .unwrap();
    j.finish("new", &result("new", 2), b"out", b"err", T0 + 2 * HOUR_MS)
        .unwrap();
    assert_eq!(j.prune(T0 + 24 * HOUR_MS), Pruned::default());
    let pruned = j.prune(T0 + 25 * HOUR_MS);
    assert_eq!(pruned.stripped, 1);
    assert_eq!(
        j.lookup("old").unwrap(),
        Entry::Forgotten {
            result: result("old", 1),
            acked: false
        }
    );
    assert!(matches!(j.lookup("new").unwrap(), Entry::Finished { .. }));
}

#[test]
fn results_over_the_byte_bound_lose_their_output_oldest_first() {
    let state = tempfile::tempdir().unwrap();
    let bounds = Bounds {
        results_bytes_max: 250_000,
        ..Bounds::default()
    };
    let j = Journal::open_with(state.path(), bounds, T0).unwrap();
    let out = vec![b'o'; 100_000];
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        j.finish(id, &result(id, 0), &out, b"", T0 + i as i64)
            .unwrap();
    }
    // Three results of ~100 kB exceed 250 kB: the oldest goes.
    assert!(matches!(
        j.lookup("a").unwrap(),
        Entry::Forgotten { acked: false, .. }
    ));
    assert!(matches!(j.lookup("b").unwrap(), Entry::Finished { .. }));
    assert!(matches!(j.lookup("c").unwrap(), Entry::Finished { .. }));
}

#[test]
fn tombstones_are_bounded_by_count_and_age_and_started_records_by_age() {
    let state = tempfile::tempdir().unwrap();
    let bounds = Bounds {
        tombstones_max: 3,
        ..Bounds::default()
    };
    let j = Journal::open_with(state.path(), bounds, T0).unwrap();
    assert!(j.begin("running", "", &[], T0).unwrap());
    for i in 0..5 {
        let id = format!("t{i}");
        j.finish(&id, &result(&id, 0), b"", b"", T0 + i).unwrap();
        assert!(j.ack(&id, T0 + i).unwrap());
    }
    // The newest three tombstones stay; the started record does not count against them.
    let kinds: Vec<bool> = (0..5)
        .map(|i| j.lookup(&format!("t{i}")).unwrap() == Entry::Unknown)
        .collect();
    assert_eq!(kinds, [true, true, false, false, false]);
    assert!(matches!(
        j.lookup("running").unwrap(),
        Entry::Started { .. }
    ));

    let day = 24 * HOUR_MS;
    assert_eq!(j.prune(T0 + 30 * day).removed, 0);
    assert_eq!(j.prune(T0 + 30 * day + 10).removed, 4);
    assert_eq!(j.known_ids(), 0);
    drop(j);

    // The same bounds hold for what a restart finds on disk.
    let j = Journal::open_with(state.path(), bounds, T0).unwrap();
    for i in 0..5 {
        let id = format!("u{i}");
        j.finish(&id, &result(&id, 0), b"", b"", T0 + i).unwrap();
    }
    drop(j);
    let j = Journal::open_with(state.path(), bounds, T0 + 40 * day).unwrap();
    // A day past their result TTL they became tombstones, which are then young again.
    assert_eq!(j.known_ids(), 3);
}
