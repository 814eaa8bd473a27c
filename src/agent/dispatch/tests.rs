//! The queue with real processes and a channel standing in for the control stream.

use std::path::Path;

use tempfile::TempDir;

use super::*;
use crate::agent::journal::Entry;
use crate::agent::test_support::{ctx, loaded, reassemble, run, split};
use crate::proto::agent::agent_message::Kind;
use crate::proto::agent::{CommandResult, CommandStatus, OutputStream};

const WAIT: Duration = Duration::from_secs(20);

/// Messages until `n` results have arrived.
async fn until_results(rx: &mut mpsc::Receiver<AgentMessage>, n: usize) -> Vec<AgentMessage> {
    let mut all = Vec::new();
    let mut results = 0;
    while results < n {
        let m = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no reply in time")
            .expect("stream closed");
        results += usize::from(matches!(m.kind, Some(Kind::CommandResult(_))));
        all.push(m);
    }
    all
}

fn results(msgs: &[AgentMessage]) -> Vec<CommandResult> {
    msgs.iter()
        .filter_map(|m| match &m.kind {
            Some(Kind::CommandResult(r)) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

async fn settle(d: &Dispatcher) {
    for _ in 0..1000 {
        if d.in_hand() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("commands stayed in hand");
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn a_repeat_while_it_runs_is_ignored_and_after_it_is_replayed() {
    let state = TempDir::new().unwrap();
    let d = Dispatcher::start(Arc::new(ctx(state.path(), &loaded())));
    let (tx, mut rx) = mpsc::channel(16);
    d.attach(tx);
    let side = state.path().join("ran");
    let cmd = format!("echo ran >> {}; sleep 0.3; echo done", side.display());
    d.run_command(run("c1", &cmd));
    d.run_command(run("c1", &cmd));
    let first = until_results(&mut rx, 1).await;
    // Not INTERRUPTED: the repeat did not mistake the running command for a dead one.
    assert_eq!(results(&first)[0].status(), CommandStatus::Exited);
    settle(&d).await;
    d.run_command(run("c1", &cmd));
    assert_eq!(until_results(&mut rx, 1).await, first);
    assert_eq!(lines(&side), 1);
}

#[tokio::test]
async fn at_most_eight_run_at_once_and_the_rest_start_in_arrival_order() {
    let state = TempDir::new().unwrap();
    let d = Dispatcher::start(Arc::new(ctx(state.path(), &loaded())));
    let (tx, mut rx) = mpsc::channel(64);
    d.attach(tx);
    // The first eight end 100 ms apart, so the slots free up one at a time.
    for i in 0..10 {
        let cmd = if i < MAX_RUNNING {
            let tenths = 3 + i;
            format!("sleep {}.{}", tenths / 10, tenths % 10)
        } else {
            "true".into()
        };
        d.run_command(run(&format!("c{i}"), &cmd));
    }
    let mut all = results(&until_results(&mut rx, 10).await);
    all.sort_by_key(|r| r.command_id[1..].parse::<usize>().unwrap());
    let running_at = |t: i64| {
        all.iter()
            .filter(|r| r.started_ms <= t && t < r.finished_ms)
            .count()
    };
    let most = all.iter().map(|r| running_at(r.started_ms)).max().unwrap();
    assert_eq!(most, MAX_RUNNING, "{all:#?}");
    let (eighth, ninth) = (&all[MAX_RUNNING], &all[MAX_RUNNING + 1]);
    // Both waited for the first slot to free up, and kept their order.
    assert!(eighth.started_ms >= all[0].finished_ms, "{all:#?}");
    assert!(ninth.started_ms >= eighth.started_ms, "{all:#?}");
}

#[tokio::test]
async fn a_reply_cut_off_by_a_reconnect_goes_whole_to_the_next_stream() {
    let state = TempDir::new().unwrap();
    let d = Dispatcher::start(Arc::new(ctx(state.path(), &loaded())));
    let (tx1, rx1) = mpsc::channel(16);
    d.attach(tx1);
    d.run_command(run("c1", "sleep 0.3; echo hi"));
    // The stream ends while it runs, and a new one comes up.
    d.detach();
    drop(rx1);
    let (tx2, mut rx2) = mpsc::channel(16);
    d.attach(tx2);
    let (chunks, r) = split(&until_results(&mut rx2, 1).await);
    assert_eq!(r.status(), CommandStatus::Exited);
    assert_eq!(reassemble(&chunks, OutputStream::Stdout), b"hi\n");
}

#[tokio::test]
async fn a_result_finished_offline_waits_in_the_journal_until_asked_then_acks_drop_it() {
    let state = TempDir::new().unwrap();
    let ctx = Arc::new(ctx(state.path(), &loaded()));
    let d = Dispatcher::start(Arc::clone(&ctx));
    let (tx1, rx1) = mpsc::channel(16);
    d.attach(tx1);
    d.run_command(run("c1", "sleep 0.2; echo hi"));
    d.detach();
    drop(rx1);
    settle(&d).await;
    assert!(matches!(
        ctx.journal.lookup("c1").unwrap(),
        Entry::Finished { .. }
    ));

    // Reconnected: the appliance asks again and gets the result it missed.
    let (tx2, mut rx2) = mpsc::channel(16);
    d.attach(tx2);
    d.run_command(run("c1", "sleep 0.2; echo hi"));
    let (chunks, r) = split(&until_results(&mut rx2, 1).await);
    assert_eq!(reassemble(&chunks, OutputStream::Stdout), b"hi\n");
    assert_eq!(r.status(), CommandStatus::Exited);

    d.ack(CommandAck {
        command_id: "c1".into(),
    });
    for _ in 0..1000 {
        if let Entry::Forgotten { acked: true, .. } = ctx.journal.lookup("c1").unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the ack did not reach the journal");
}
