//! Command security engine throughput: decisions per second over the labelled corpus
//! (`tests/fixtures/commands.toml`) on one thread.
//!
//! Run with `cargo bench --bench engine`; numbers go in the closing notes, never into tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tundra::policy::engine::Engine;

#[derive(serde::Deserialize)]
struct Corpus {
    command: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    text: String,
}

fn corpus() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/commands.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    corpus.command.into_iter().map(|e| e.text).collect()
}

fn judge_corpus(c: &mut Criterion) {
    let engine = Engine::builtin().unwrap();
    let commands = corpus();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(commands.len() as u64));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("judge_corpus", |b| {
        b.iter(|| {
            let mut blocked = 0usize;
            for cmd in &commands {
                blocked += usize::from(engine.judge(cmd).blocked);
            }
            blocked
        })
    });
    g.finish();
}

criterion_group!(benches, judge_corpus);
criterion_main!(benches);
