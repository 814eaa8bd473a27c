//! Audit log throughput: durable append (one record per committed, fsynced transaction) and
//! offline verification (hashes, chain and batch-verified signatures on every core).
//!
//! Run with `cargo bench --bench audit`; numbers go in the closing notes, never into tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tundra::audit::{self, verify_jsonl, AuditContext, AuditEvent, AuditLog};
use tundra::clock::{SharedClock, SystemClock};
use tundra::crypto::SigningKey;
use tundra::model::Actor;
use tundra::store::Store;

fn event(i: u64) -> AuditEvent {
    AuditEvent::ApplianceStarted {
        version: format!("bench-{i}"),
    }
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("bench.redb")).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let log = AuditLog::new(SigningKey::generate(), clock);
    let ctx = AuditContext::actor(Actor::System);
    let mut i = 0u64;
    let mut g = c.benchmark_group("audit_append");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("durable_one_record_per_txn", |b| {
        b.iter(|| {
            i += 1;
            log.append_alone(&store, &ctx, &event(i)).unwrap()
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("bench.redb")).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let log = AuditLog::new(SigningKey::generate(), clock);
    let ctx = AuditContext::actor(Actor::System);
    for chunk in 0..(N / 10_000) {
        store
            .write(|tx| {
                for i in 0..10_000 {
                    log.append(tx, &ctx, &event(chunk * 10_000 + i))?;
                }
                Ok::<_, audit::AuditError>(())
            })
            .unwrap();
    }
    let lines = store
        .read(|tx| audit::export_page(tx, 0, usize::MAX))
        .unwrap();
    let text = lines.join("\n");
    let key = log.public_key();
    let mut g = c.benchmark_group("audit_verify");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("100k_records", |b| {
        b.iter_batched(
            || text.as_bytes(),
            |input| {
                let r = verify_jsonl(input, &key, None).unwrap();
                assert_eq!(r.last, N);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, append, verify);
criterion_main!(benches);
