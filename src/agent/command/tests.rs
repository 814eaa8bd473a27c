//! Per-command handling without a server: real processes, a real journal in a temp state
//! dir, and an mpsc channel standing in for the control stream.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::*;
use crate::agent::test_support::{ctx, loaded, reassemble, run, split, verifies};
use crate::clock::SystemClock;
use crate::proto::agent::{OutputStream, MAX_OUTPUT_CHUNK};

/// Everything `handle_run_command` sends for `r`.
async fn handle(ctx: &CommandContext, r: RunCommand) -> Vec<AgentMessage> {
    let (tx, mut rx) = mpsc::channel(4);
    let outbox = Outbox::to(tx);
    let work = async move {
        handle_run_command(ctx, r, &outbox).await;
    };
    let collect = async {
        let mut all = Vec::new();
        while let Some(m) = rx.recv().await {
            all.push(m);
        }
        all
    };
    tokio::join!(work, collect).1
}

fn lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn chunks_reassemble_to_the_output_and_the_signature_verifies() {
    let state = TempDir::new().unwrap();
    let loaded = loaded();
    let ctx = ctx(state.path(), &loaded);
    let command = "seq 1 40000; echo oops >&2; exit 2";
    let msgs = handle(&ctx, run("c1", command)).await;
    let (chunks, r) = split(&msgs);
    let stdout = reassemble(&chunks, OutputStream::Stdout);
    let stderr = reassemble(&chunks, OutputStream::Stderr);
    let expected: String = (1..=40000).map(|i| format!("{i}\n")).collect();
    assert!(stdout.len() > 4 * MAX_OUTPUT_CHUNK, "several chunks");
    assert_eq!(stdout, expected.as_bytes());
    assert_eq!(stderr, b"oops\n");
    assert_eq!(r.status(), CommandStatus::Exited);
    assert_eq!((r.exit_code, r.signal), (2, 0));
    assert_eq!((r.stdout_len, r.stderr_len), (stdout.len() as u64, 5));
    assert_eq!(r.command_sha256, sha256(command.as_bytes()));
    assert_eq!(r.stdout_sha256, sha256(&stdout));
    assert_eq!(r.stderr_sha256, sha256(&stderr));
    assert!(verifies(&loaded, &r));
    let mut forged = r.clone();
    forged.exit_code = 0;
    assert!(
        !verifies(&loaded, &forged),
        "the signature covers the exit code"
    );
}

#[tokio::test]
async fn a_stored_result_is_replayed_byte_for_byte_after_a_restart() {
    let state = TempDir::new().unwrap();
    let loaded = loaded();
    let side = state.path().join("ran");
    let command = format!(
        "echo ran >> {}; head -c 100000 /dev/urandom",
        side.display()
    );
    let first = handle(&ctx(state.path(), &loaded), run("c1", &command)).await;
    // A new agent process on the same state dir, asked again after a reconnect.
    let again = handle(&ctx(state.path(), &loaded), run("c1", &command)).await;
    assert_eq!(again, first);
    assert_eq!(lines(&side), 1, "it ran once");
}

#[tokio::test]
async fn started_without_a_result_is_interrupted_and_not_run_again() {
    let state = TempDir::new().unwrap();
    let loaded = loaded();
    let side = state.path().join("ran");
    let command = format!("echo ran >> {}", side.display());
    // The agent died while it ran: the journal says started, nothing more.
    let ctx1 = ctx(state.path(), &loaded);
    let digest = sha256(command.as_bytes());
    let started = unix_ms(&SystemClock) - 1_000;
    assert!(ctx1.journal.begin("c1", "req-1", &digest, started).unwrap());
    drop(ctx1);

    let ctx2 = ctx(state.path(), &loaded);
    let first = handle(&ctx2, run("c1", &command)).await;
    let (chunks, r) = split(&first);
    assert!(chunks.is_empty());
    assert_eq!(r.status(), CommandStatus::Interrupted);
    assert!(r.message.contains("not run again"), "{}", r.message);
    assert_eq!(
        (r.started_ms, r.command_sha256.as_slice()),
        (started, &digest[..])
    );
    assert!(verifies(&loaded, &r));
    assert_eq!(lines(&side), 0);
    // It is now the stored result.
    assert_eq!(handle(&ctx2, run("c1", &command)).await, first);
}

#[tokio::test]
async fn an_acknowledged_result_is_answered_without_its_output() {
    let state = TempDir::new().unwrap();
    let loaded = loaded();
    let side = state.path().join("ran");
    let ctx = ctx(state.path(), &loaded);
    let command = format!("echo ran >> {}; echo out; exit 4", side.display());
    let (_, first) = split(&handle(&ctx, run("c1", &command)).await);
    assert!(ctx.journal.ack("c1", unix_ms(&SystemClock)).unwrap());

    let (chunks, r) = split(&handle(&ctx, run("c1", &command)).await);
    assert!(chunks.is_empty());
    assert_eq!((r.status, r.exit_code), (first.status, 4));
    assert_eq!((r.stdout_len, r.stderr_len, r.truncated), (0, 0, true));
    assert_eq!(r.stdout_sha256, sha256(b""));
    assert!(r.message.contains("acknowledged"), "{}", r.message);
    assert!(verifies(&loaded, &r));
    assert_eq!(lines(&side), 1);
}

#[tokio::test]
async fn each_local_policy_key_refuses_or_limits_and_names_itself() {
    let state = TempDir::new().unwrap();
    let loaded = loaded();
    let ctx = ctx(state.path(), &loaded);
    let toml = state.path().join("agent.toml");
    let side = state.path().join("ran");
    let effect = format!("echo ran >> {}", side.display());

    fs::write(&toml, "commands = false\n").unwrap();
    let (_, r) = split(&handle(&ctx, run("off", &effect)).await);
    assert_eq!(r.status(), CommandStatus::Refused);
    assert_eq!(r.message, format!("commands = false in {}", toml.display()));
    assert!(verifies(&loaded, &r));
    // The refusal is the id's answer, also once commands are allowed again.
    fs::write(&toml, "commands = true\n").unwrap();
    let (_, again) = split(&handle(&ctx, run("off", &effect)).await);
    assert_eq!(again, r);

    fs::write(&toml, "commands = tru\n").unwrap();
    let (_, r) = split(&handle(&ctx, run("broken", &effect)).await);
    assert_eq!(r.status(), CommandStatus::Refused);
    assert!(r.message.contains("agent.toml"), "{}", r.message);
    assert_eq!(lines(&side), 0, "nothing ran");

    for (id, command) in [("empty", " \n"), ("nul", "echo a\0b")] {
        fs::write(&toml, "").unwrap();
        let (_, r) = split(&handle(&ctx, run(id, command)).await);
        assert_eq!(r.status(), CommandStatus::Refused, "{id}");
    }

    fs::write(&toml, "command_timeout_max_s = 1\n").unwrap();
    let mut slow = run("slow", "sleep 30");
    slow.timeout_s = 600;
    let (_, r) = split(&handle(&ctx, slow).await);
    assert_eq!(r.status(), CommandStatus::TimedOut);
    assert!(
        r.message
            .contains("timeout_s 600 clamped to command_timeout_max_s = 1"),
        "{}",
        r.message
    );

    fs::write(&toml, "command_output_max_bytes = 10\n").unwrap();
    let (chunks, r) = split(&handle(&ctx, run("loud", "seq 1 100")).await);
    assert_eq!(
        reassemble(&chunks, OutputStream::Stdout),
        b"1\n2\n3\n4\n5\n"
    );
    assert!(r.truncated && r.status() == CommandStatus::Exited);
    assert!(
        r.message.contains("command_output_max_bytes = 10"),
        "{}",
        r.message
    );
    // A request asking for less than the local cap gets its own.
    let mut small = run("small", "seq 1 100");
    small.output_cap_bytes = 4;
    let (chunks, r) = split(&handle(&ctx, small).await);
    assert_eq!(reassemble(&chunks, OutputStream::Stdout), b"1\n2\n");
    assert!(r.truncated && r.message.is_empty(), "{}", r.message);
}

#[tokio::test]
async fn a_bad_command_id_is_refused_and_not_journaled() {
    let state = TempDir::new().unwrap();
    let ctx = ctx(state.path(), &loaded());
    for id in [String::new(), "x".repeat(MAX_COMMAND_ID + 1)] {
        let (_, r) = split(&handle(&ctx, run(&id, "true")).await);
        assert_eq!(r.status(), CommandStatus::Refused);
        assert!(r.message.contains("command_id"), "{}", r.message);
    }
    assert_eq!(ctx.journal.known_ids(), 0);
}
