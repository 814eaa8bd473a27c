//! The log itself: its layout, what a crash or damage leaves and how it reads back,
//! compaction interrupted anywhere, the move from the old layout, and the lock.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use super::compact::MIN_LOG;
use super::log::{Span, Stop, STEP, TMP};
use super::record::{self, key_of, Record, Seal};
use super::*;
use crate::crypto::digest::sha256;

const T0: i64 = 1_800_000_000_000;

fn result(id: &str) -> CommandResult {
    CommandResult {
        command_id: id.into(),
        exit_code: 1,
        command_sha256: sha256(b"x").to_vec(),
        signature: vec![9; 64],
        ..Default::default()
    }
}

/// One id in each state, plus dead records behind them.
fn populate(j: &Journal) -> Vec<String> {
    assert!(j.begin("running", "r", &[1; 32], T0).unwrap());
    j.finish("kept", &result("kept"), &[b'k'; 70_000], b"e", T0)
        .unwrap();
    for id in ["acked", "unacked"] {
        assert!(j.begin(id, "r", &[2; 32], T0).unwrap());
        j.finish(id, &result(id), &[b'o'; 50_000], b"", T0 + 1)
            .unwrap();
    }
    assert!(j.ack("acked", T0 + 2).unwrap());
    ["running", "kept", "acked", "unacked"]
        .map(String::from)
        .to_vec()
}

fn states(j: &Journal, ids: &[String]) -> Vec<Entry> {
    ids.iter().map(|id| j.lookup(id).unwrap()).collect()
}

fn end(j: &Journal) -> u64 {
    j.lock().log.end
}

fn span(j: &Journal, id: &str) -> Span {
    j.lock().index[&key_of(id)].span
}

/// Writes into the log behind the journal's back (as a crash or a bad disk would).
fn poke(log: &Path, at: u64, bytes: &[u8]) {
    let f = OpenOptions::new().write(true).open(log).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

fn is_damaged(e: &Entry) -> bool {
    matches!(
        e,
        Entry::Started {
            damaged: Some(_),
            ..
        }
    )
}

#[test]
fn records_are_written_into_zeroed_room_that_grows_in_steps() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    let len = || fs::metadata(j.log_path()).unwrap().len();
    assert_eq!(len(), STEP, "created with its first step of zeros");
    assert!(j.begin("c1", "", &[1; 32], T0).unwrap());
    j.finish("c1", &result("c1"), b"out", b"", T0).unwrap();
    assert_eq!(
        len(),
        STEP,
        "small records fit the room: the size does not change"
    );
    // A big output extends the file by what it needs, in whole steps, still zero-filled.
    j.finish("c2", &result("c2"), &vec![b'x'; 3 << 20], b"", T0)
        .unwrap();
    assert_eq!(len() % STEP, 0);
    assert!(len() >= end(&j));
    let bytes = fs::read(j.log_path()).unwrap();
    assert!(bytes[end(&j) as usize..].iter().all(|b| *b == 0));
}

#[test]
fn a_torn_last_record_is_discarded_and_the_next_one_goes_in_its_place() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    let ids = populate(&j);
    let before = states(&j, &ids);
    let tail = end(&j);
    let torn = record::encode_finished(
        j.lock().seal(),
        "torn",
        &result("torn"),
        &[7; 9000],
        b"",
        T0,
    );
    let log = j.log_path();
    drop(j);
    // What a crash mid-write leaves: some pages written, others still zero — with or
    // without the header.
    for (case, bytes) in [
        ("front written", torn[..torn.len() / 2].to_vec()),
        ("front missing", {
            let mut b = torn.clone();
            b[..4096].fill(0);
            b
        }),
    ] {
        poke(&log, tail, &bytes);
        let j = Journal::open(state.path(), T0).unwrap();
        assert_eq!(states(&j, &ids), before, "{case}");
        assert_eq!(j.lookup("torn").unwrap(), Entry::Unknown, "{case}");
        assert_eq!(
            end(&j),
            tail,
            "{case}: the next record goes where the torn one was"
        );
        let after = fs::read(j.log_path()).unwrap();
        assert!(
            after[tail as usize..].iter().all(|b| *b == 0),
            "{case}: zeroed"
        );
    }
    // A short record written over the place, then a reopen: nothing of the torn one is left
    // to pass for damage.
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(j.begin("next", "", &[], T0).unwrap());
    drop(j);
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(matches!(
        j.lookup("next").unwrap(),
        Entry::Started { damaged: None, .. }
    ));
    assert_eq!(states(&j, &ids), before);
}

#[test]
fn damage_followed_by_valid_records_marks_its_id_damaged_and_never_unknown() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    let ids = populate(&j);
    let before = states(&j, &ids);
    assert!(j.begin("victim", "r", &[3; 32], T0).unwrap());
    assert!(j.begin("after", "r", &[4; 32], T0).unwrap());
    let victim = span(&j, "victim");
    drop(j);
    // A changed byte in the middle of the log, past the id in the record's first field.
    poke(
        &state.path().join(DIR).join(LOG),
        victim.at + victim.len - 40,
        &[0xEE],
    );

    for _restart in 0..2 {
        let j = Journal::open(state.path(), T0).unwrap();
        assert!(is_damaged(&j.lookup("victim").unwrap()));
        assert!(
            !j.begin("victim", "r", &[3; 32], T0).unwrap(),
            "never runs again"
        );
        assert!(matches!(
            j.lookup("after").unwrap(),
            Entry::Started { damaged: None, .. }
        ));
        assert_eq!(states(&j, &ids), before);
    }
    // The mark outlives the damaged bytes: compaction copies the mark, not the bytes.
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(j.lock().compact(j.dir(), Stop::Never).unwrap());
    drop(j);
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(is_damaged(&j.lookup("victim").unwrap()));
    assert_eq!(states(&j, &ids), before);
}

#[test]
fn output_that_looks_like_a_record_is_never_taken_for_one() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(j.begin("victim", "r", &[3; 32], T0).unwrap());
    // A command prints records claiming the victim is done, under every key it could know.
    let forged = Record::Tombstone {
        command_id: "victim".into(),
        result: result("victim"),
        acked: true,
        at_ms: 0,
    };
    let mut stdout = b"noise".to_vec();
    for seal in [Seal::File, Seal::Log(&[0; 32]), Seal::Log(&[0xff; 32])] {
        stdout.extend(forged.encode(seal));
    }
    j.finish("printer", &result("printer"), &stdout, b"", T0)
        .unwrap();
    assert!(j.begin("after", "r", &[4; 32], T0).unwrap());
    // Damage to the printing command's header makes the scan search through its output.
    poke(&j.log_path(), span(&j, "printer").at, &[0; 16]);
    drop(j);
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(matches!(
        j.lookup("victim").unwrap(),
        Entry::Started { damaged: None, .. }
    ));
    assert!(matches!(
        j.lookup("after").unwrap(),
        Entry::Started { damaged: None, .. }
    ));
}

#[test]
fn compaction_keeps_every_state_and_drops_the_dead_records() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    let ids = populate(&j);
    let before = states(&j, &ids);
    let long = end(&j);
    assert!(j.lock().compact(j.dir(), Stop::Never).unwrap());
    // The acknowledged result's output (50 kB) and the replaced records are gone.
    assert!(end(&j) < long - 50_000, "{} of {long}", end(&j));
    assert_eq!(states(&j, &ids), before);
    // It goes on appending to the new log.
    assert!(j.begin("new", "", &[], T0).unwrap());
    drop(j);
    let j = Journal::open(state.path(), T0).unwrap();
    assert_eq!(states(&j, &ids), before);
    assert!(!j.begin("new", "", &[], T0).unwrap());
    assert_eq!(mode(&j.log_path()), 0o600);
}

#[test]
fn a_crash_anywhere_in_compaction_leaves_a_whole_log() {
    for stop in [Stop::BeforeRename, Stop::BeforeDirSync] {
        let state = tempfile::tempdir().unwrap();
        let j = Journal::open(state.path(), T0).unwrap();
        let ids = populate(&j);
        let before = states(&j, &ids);
        assert!(!j.lock().compact(j.dir(), stop).unwrap());
        drop(j); // the crash
        let j = Journal::open(state.path(), T0).unwrap();
        assert_eq!(states(&j, &ids), before, "{stop:?}");
        assert!(!j.dir().join(TMP).exists(), "{stop:?}");
    }

    // A rename the crash undid (the directory was not yet synced): the old log is back.
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    let ids = populate(&j);
    let before = states(&j, &ids);
    let old = fs::read(j.log_path()).unwrap();
    assert!(j.lock().compact(j.dir(), Stop::Never).unwrap());
    drop(j);
    fs::write(state.path().join(DIR).join(LOG), &old).unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    assert_eq!(states(&j, &ids), before);
}

#[test]
fn steady_traffic_compacts_itself_and_the_log_stays_bounded() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    let out = vec![b'o'; 200_000];
    for i in 0..120 {
        let id = format!("c{i}");
        assert!(j.begin(&id, "r", &[1; 32], T0 + i).unwrap());
        j.finish(&id, &result(&id), &out, b"", T0 + i).unwrap();
        assert!(j.ack(&id, T0 + i).unwrap());
        let len = fs::metadata(j.log_path()).unwrap().len();
        assert!(len <= MIN_LOG + 2 * STEP, "{len} bytes after {i} commands");
    }
    // 24 MB went through it.
    assert!(end(&j) < MIN_LOG);
    drop(j);
    let j = Journal::open(state.path(), T0).unwrap();
    for i in 0..120 {
        assert!(matches!(
            j.lookup(&format!("c{i}")).unwrap(),
            Entry::Forgotten { acked: true, .. }
        ));
    }
}

#[test]
fn an_upgrade_moves_the_old_files_into_the_log_and_forgets_no_id() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join(DIR);
    fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let old = [
        Record::Started {
            command_id: "running".into(),
            request_id: "r".into(),
            command_sha256: vec![1; 32],
            at_ms: T0,
        },
        Record::Finished {
            command_id: "kept".into(),
            result: result("kept"),
            stdout: b"out".to_vec(),
            stderr: b"err".to_vec(),
            at_ms: T0,
        },
        Record::Tombstone {
            command_id: "acked".into(),
            result: result("acked"),
            acked: true,
            at_ms: T0,
        },
    ];
    let write_old = || {
        for r in &old {
            fs::write(dir.join(hex::encode(r.key())), r.encode(Seal::File)).unwrap();
        }
    };
    write_old();
    let ids: Vec<String> = ["running", "kept", "acked"].map(String::from).to_vec();
    let expected = vec![
        Entry::Started {
            started_ms: T0,
            command_sha256: vec![1; 32],
            damaged: None,
        },
        Entry::Finished {
            result: result("kept"),
            stdout: b"out".to_vec(),
            stderr: b"err".to_vec(),
        },
        Entry::Forgotten {
            result: result("acked"),
            acked: true,
        },
    ];
    let j = Journal::open(state.path(), T0).unwrap();
    assert_eq!(states(&j, &ids), expected);
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [LOG]);
    drop(j);
    // A crash before the old files were deleted: the move is done again, to the same end.
    write_old();
    for _restart in 0..2 {
        let j = Journal::open(state.path(), T0).unwrap();
        assert_eq!(states(&j, &ids), expected);
        for id in &ids {
            assert!(
                !j.begin(id, "", &[], T0).unwrap(),
                "{id} must not run again"
            );
        }
    }
}

#[test]
fn a_second_agent_on_the_same_state_dir_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    match Journal::open(state.path(), T0) {
        Err(AgentError::Io { source, .. }) => {
            assert!(source.to_string().contains("another agent"), "{source}")
        }
        other => panic!("{other:?}"),
    }
    drop(j);
    assert!(Journal::open(state.path(), T0).is_ok());
}

#[test]
fn a_log_whose_header_is_damaged_is_refused_not_replaced() {
    let state = tempfile::tempdir().unwrap();
    let j = Journal::open(state.path(), T0).unwrap();
    assert!(j.begin("c1", "", &[], T0).unwrap());
    poke(&j.log_path(), 10, &[0xAA]);
    drop(j);
    match Journal::open(state.path(), T0) {
        Err(AgentError::Io { source, .. }) => {
            assert!(source.to_string().contains("move it aside"), "{source}")
        }
        other => panic!("{other:?}"),
    }
    assert!(state.path().join(DIR).join(LOG).exists());
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}
