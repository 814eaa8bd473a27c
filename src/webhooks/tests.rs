//! The outbox against a real store and audit log: a record's deliveries exist exactly when
//! its transaction committed, the filter decides which webhooks get it, and records without
//! a team go nowhere.

use std::sync::Arc;

use super::rows::{webhook_key, DeliveryRow, WebhookRow};
use super::*;
use crate::audit::{AuditContext, AuditError, AuditEvent, AuditLog};
use crate::clock::{ManualClock, SharedClock};
use crate::crypto::{MasterKey, SigningKey};
use crate::model::{Actor, TeamId};
use crate::store::{Store, StoreError, Table};

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    audit: Arc<AuditLog>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::create(&dir.path().join("s.redb")).unwrap());
    let clock: SharedClock = Arc::new(ManualClock::new(time::OffsetDateTime::UNIX_EPOCH));
    let audit = Arc::new(AuditLog::new(SigningKey::generate(), clock.clone()));
    let hooks = Webhooks::new(
        Arc::clone(&store),
        Arc::clone(&audit),
        clock,
        &MasterKey::generate(),
        1,
        WebhookSettings {
            rules: TargetRules::default(),
            timeout: std::time::Duration::from_secs(1),
            max_attempts: 3,
            extra_roots: Vec::new(),
        },
    )
    .unwrap();
    audit.set_hook(hooks.outbox());
    Setup {
        _dir: dir,
        store,
        audit,
    }
}

fn add_webhook(s: &Setup, team: &str, events: &[&str]) -> String {
    let w = WebhookRow {
        id: rows::new_webhook_id(),
        team: TeamId(team.into()),
        url: "https://hooks.example.com/in".into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        created_by: "ada@example.com".into(),
        created_ms: 0,
        secret_sealed: String::new(),
    };
    s.store
        .write(|tx| tx.put_row(Table::Webhooks, &webhook_key(&w.team, &w.id), &w))
        .unwrap();
    w.id
}

fn ctx(team: Option<&str>) -> AuditContext {
    AuditContext {
        team: team.map(|t| TeamId(t.into())),
        ..AuditContext::actor(Actor::System)
    }
}

fn script_retired() -> AuditEvent {
    AuditEvent::ScriptRetired { name: "x".into() }
}

fn deliveries(s: &Setup) -> Vec<DeliveryRow> {
    s.store
        .read(|tx| tx.rows::<DeliveryRow>(Table::WebhookDeliveries, ""))
        .unwrap()
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

fn outbox_len(s: &Setup) -> usize {
    s.store
        .read(|tx| tx.rows::<()>(Table::WebhookOutbox, ""))
        .unwrap()
        .len()
}

#[test]
fn a_dropped_transaction_leaves_no_delivery() {
    let s = setup();
    add_webhook(&s, "t1", &["*"]);
    let r: Result<(), AuditError> = s.store.write(|tx| {
        s.audit.append(tx, &ctx(Some("t1")), &script_retired())?;
        Err(StoreError::Corrupt {
            what: "test".into(),
            detail: "the change after the record failed".into(),
        }
        .into())
    });
    assert!(r.is_err());
    assert!(deliveries(&s).is_empty());
    assert_eq!(outbox_len(&s), 0);

    let record = s
        .audit
        .append_alone(&s.store, &ctx(Some("t1")), &script_retired())
        .unwrap();
    let d = deliveries(&s);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].seq, record.seq);
    assert_eq!(d[0].event, "script.retired");
    assert_eq!(d[0].record, serde_json::to_string(&record).unwrap());
    assert_eq!(outbox_len(&s), 1);
}

#[test]
fn the_filter_and_the_team_decide_who_gets_a_record() {
    let s = setup();
    let everything = add_webhook(&s, "t1", &["*"]);
    let scripts = add_webhook(&s, "t1", &["script.*"]);
    let commands = add_webhook(&s, "t1", &["command.finished"]);
    let other_team = add_webhook(&s, "t2", &["*"]);
    s.audit
        .append_alone(&s.store, &ctx(Some("t1")), &script_retired())
        .unwrap();
    s.audit
        .append_alone(&s.store, &ctx(None), &script_retired())
        .unwrap();
    let mut got: Vec<String> = deliveries(&s).into_iter().map(|d| d.webhook).collect();
    got.sort();
    let mut want = vec![everything, scripts];
    want.sort();
    assert_eq!(got, want);
    assert!(!got.contains(&commands) && !got.contains(&other_team));
}

#[test]
fn the_log_keeps_the_newest_finished_deliveries() {
    let s = setup();
    let id = add_webhook(&s, "t1", &["*"]);
    for _ in 0..(KEEP_DELIVERIES + 5) {
        s.audit
            .append_alone(&s.store, &ctx(Some("t1")), &script_retired())
            .unwrap();
    }
    // All pending: none may be dropped.
    assert_eq!(deliveries(&s).len(), KEEP_DELIVERIES + 5);
    s.store
        .write(|tx| {
            for (k, mut d) in tx.rows::<DeliveryRow>(Table::WebhookDeliveries, "")? {
                d.state = DeliveryState::Delivered;
                d.next_ms = None;
                tx.put_row(Table::WebhookDeliveries, &k, &d)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    s.audit
        .append_alone(&s.store, &ctx(Some("t1")), &script_retired())
        .unwrap();
    let d = deliveries(&s);
    assert_eq!(d.len(), KEEP_DELIVERIES);
    assert!(d.iter().all(|d| d.webhook == id));
    let pending = d.iter().filter(|d| d.state == DeliveryState::Pending);
    assert_eq!(pending.count(), 1, "the new delivery is kept");
}
