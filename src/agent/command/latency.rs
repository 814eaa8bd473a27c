//! How long the agent takes for one command, journal included: `RunCommand` in to
//! `CommandResult` out for `true`, and the journal's `begin`/`finish`/`ack` alone.
//! Ignored by default (it measures, it checks nothing a user relies on); run it with
//! `cargo test --lib agent::command::latency -- --ignored --nocapture`. The state dir is a
//! temp dir in `$TUNDRA_LATENCY_DIR` if set (e.g. a tmpfs, to see the cost without a disk).

use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;
use crate::agent::test_support::{ctx, loaded, run};

const RUNS: usize = 300;

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
        samples[i].as_secs_f64() * 1e3
    };
    eprintln!(
        "{what:<28} n={} p50 {:6.2} ms  p90 {:6.2} ms  p99 {:6.2} ms",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99)
    );
}

#[tokio::test]
#[ignore = "a measurement; run it by name with --ignored --nocapture"]
async fn one_true_command_end_to_end_and_each_journal_step() {
    let state = match std::env::var_os("TUNDRA_LATENCY_DIR") {
        Some(dir) => TempDir::new_in(dir).unwrap(),
        None => TempDir::new().unwrap(),
    };
    let ctx = ctx(state.path(), &loaded());
    let (tx, mut rx) = mpsc::channel(16);
    let outbox = Outbox::to(tx);
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..RUNS + 10 {
        let id = format!("lat-{i}");
        let t = Instant::now();
        handle_run_command(&ctx, run(&id, "true"), &outbox).await;
        let got = rx.recv().await.unwrap();
        let elapsed = t.elapsed();
        assert!(matches!(
            got.kind,
            Some(crate::proto::agent::agent_message::Kind::CommandResult(_))
        ));
        // As the appliance would: it stored the result.
        ctx.journal.ack(&id, ctx.now_ms()).unwrap();
        if i >= 10 {
            samples.push(elapsed); // the first few warm the caches
        }
    }
    report("RunCommand -> CommandResult", samples);

    let j = &ctx.journal;
    let result = CommandResult {
        exit_code: 0,
        signature: vec![1; 64],
        ..Default::default()
    };
    let (mut begins, mut finishes, mut acks) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..RUNS {
        let id = format!("step-{i}");
        let now = ctx.now_ms();
        let t = Instant::now();
        assert!(j.begin(&id, "req", &[7; 32], now).unwrap());
        begins.push(t.elapsed());
        let t = Instant::now();
        j.finish(&id, &result, b"", b"", now).unwrap();
        finishes.push(t.elapsed());
        let t = Instant::now();
        assert!(j.ack(&id, now).unwrap());
        acks.push(t.elapsed());
    }
    report("journal begin", begins);
    report("journal finish", finishes);
    report("journal ack", acks);

    // A journal that has run for a while holds its bound of 10,000 tombstones, which
    // pruning walks after every finish and ack.
    let now = ctx.now_ms();
    for i in 0..10_000 {
        let id = format!("old-{i}");
        j.finish(&id, &result, b"", b"", now).unwrap();
        j.ack(&id, now).unwrap();
    }
    let (mut finishes, mut acks) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let id = format!("full-{i}");
        let t = Instant::now();
        j.finish(&id, &result, b"", b"", now).unwrap();
        finishes.push(t.elapsed());
        let t = Instant::now();
        assert!(j.ack(&id, now).unwrap());
        acks.push(t.elapsed());
    }
    report("finish, 10k tombstones", finishes);
    report("ack, 10k tombstones", acks);
}
