//! Schema versions and forward migrations.

use super::{Store, StoreError, WriteTx};

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u64 = 6;

/// One forward step: `run` moves a store from `to - 1` to `to`.
pub struct Migration {
    /// The version after this step.
    pub to: u64,
    /// What the step changes, for the log.
    pub what: &'static str,
    /// The change itself; it runs in the same transaction that records the new version.
    pub run: fn(&mut WriteTx) -> Result<(), StoreError>,
}

/// Every migration, in order. Each step's tables are created by `create_all_tables`, which
/// runs in the step's transaction before `run`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 2,
        what: "teams, users, memberships, sessions and the setup code",
        run: |_| Ok(()),
    },
    Migration {
        to: 3,
        what: "registration tokens, agents, agent metrics and the security self-check history",
        run: |_| Ok(()),
    },
    Migration {
        to: 4,
        what: "commands with their sealed output, approvals, team policies and scripts",
        run: |_| Ok(()),
    },
    Migration {
        to: 5,
        what: "per-team audit chain heads (filled from the log by the audit module at start)",
        run: |_| Ok(()),
    },
    Migration {
        to: 6,
        what: "webhooks, their outbox and delivery log; published audit heads",
        run: |_| Ok(()),
    },
];

/// Applies each migration above `found` up to `target`, one transaction per step, so a crash
/// leaves the store at a whole version.
pub(super) fn run(
    store: &Store,
    found: u64,
    migrations: &[Migration],
    target: u64,
) -> Result<(), StoreError> {
    let mut version = found;
    for m in migrations.iter().filter(|m| m.to > found && m.to <= target) {
        if m.to != version + 1 {
            return Err(StoreError::Corrupt {
                what: "migration list".into(),
                detail: format!("no step from version {version} to {}", m.to),
            });
        }
        store.write(|tx| {
            tx.create_all_tables()?;
            (m.run)(tx)?;
            tx.set_schema_version(m.to)
        })?;
        tracing::info!(from = version, to = m.to, what = m.what, "store migrated");
        version = m.to;
    }
    if version != target {
        return Err(StoreError::Corrupt {
            what: "migration list".into(),
            detail: format!("store is at version {version}, binary expects {target}"),
        });
    }
    Ok(())
}
