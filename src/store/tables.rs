//! Table definitions and the typed accessors on [`ReadTx`] and [`WriteTx`].
//!
//! Values that hold secrets are stored as sealed bytes (see `crypto::seal`); this module
//! never sees their plaintext.

use redb::{AccessGuard, ReadableTable, TableDefinition};

use super::{ReadTx, StoreError, WriteTx};

const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
/// Audit records by sequence number; the value is the record's JSON.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_log");
/// Team id → the team chain's newest record: `team_seq (u64 BE) ‖ hash (32)`.
const AUDIT_TEAM_HEADS: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_team_heads");
/// `(team id, position in the team's chain)` → the record's `seq`: a team's records without
/// scanning everyone's.
const AUDIT_TEAM_INDEX: TableDefinition<(&str, u64), u64> =
    TableDefinition::new("audit_team_index");
/// Appliance-wide secrets (agent CA key, audit signing key), sealed.
const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("appliance_secrets");
/// Appliance-wide public material (certificates, public keys).
const PUBLIC: TableDefinition<&str, &[u8]> = TableDefinition::new("appliance_public");

const VERSION_KEY: &str = "version";

fn last<T: ReadableTable<u64, &'static [u8]>>(t: &T) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    Ok(t.last()?.map(|(k, v)| (k.value(), v.value().to_vec())))
}

fn after_in<T: ReadableTable<u64, &'static [u8]>>(
    t: &T,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    let Some(start) = after.checked_add(1) else {
        return Ok(out);
    };
    for row in t.range(start..)?.take(limit) {
        let (k, v) = row?;
        out.push((k.value(), v.value().to_vec()));
    }
    Ok(out)
}

fn get_bytes<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(t.get(key)?.map(|v| v.value().to_vec()))
}

impl WriteTx {
    /// Creates every table this schema version has (idempotent).
    pub fn create_all_tables(&mut self) -> Result<(), StoreError> {
        self.tx.open_table(SCHEMA)?;
        self.tx.open_table(AUDIT)?;
        self.tx.open_table(AUDIT_TEAM_HEADS)?;
        self.tx.open_table(AUDIT_TEAM_INDEX)?;
        self.tx.open_table(SECRETS)?;
        self.tx.open_table(PUBLIC)?;
        self.create_metrics_tables()?;
        self.create_blob_tables()?;
        self.create_row_tables()
    }

    /// Records the schema version.
    pub fn set_schema_version(&mut self, v: u64) -> Result<(), StoreError> {
        self.tx.open_table(SCHEMA)?.insert(VERSION_KEY, v)?;
        Ok(())
    }

    /// The newest audit record.
    pub fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        last(&self.tx.open_table(AUDIT)?)
    }

    /// Up to `limit` audit records after `after`, in order, inside a write transaction.
    pub fn audit_after_in_write(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        after_in(&self.tx.open_table(AUDIT)?, after, limit)
    }

    /// Appends an audit record; the caller chains `seq` to [`WriteTx::audit_last`].
    pub fn audit_insert(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        let mut t = self.tx.open_table(AUDIT)?;
        if t.get(seq)?.is_some() {
            return Err(StoreError::Corrupt {
                what: format!("audit record {seq}"),
                detail: "sequence number already used".into(),
            });
        }
        t.insert(seq, record)?;
        Ok(())
    }

    /// The newest record of `team`'s audit chain: `(team_seq, hash)`.
    pub fn audit_team_head(&self, team: &str) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        team_head(&self.tx.open_table(AUDIT_TEAM_HEADS)?, team)
    }

    /// Removes every audit record below `before` and the team index entries pointing at
    /// them (archiving: the caller exported them first and appends the anchor record in the
    /// same transaction). Returns how many records went.
    pub fn audit_remove_before(&mut self, before: u64) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        self.tx.open_table(AUDIT)?.retain_in(..before, |_, _| {
            removed += 1;
            false
        })?;
        let teams: Vec<String> = {
            let heads = self.tx.open_table(AUDIT_TEAM_HEADS)?;
            let mut out = Vec::new();
            for row in heads.iter()? {
                out.push(row?.0.value().to_string());
            }
            out
        };
        let mut index = self.tx.open_table(AUDIT_TEAM_INDEX)?;
        for team in &teams {
            index.retain_in((team.as_str(), 0)..=(team.as_str(), u64::MAX), |_, seq| {
                seq >= before
            })?;
        }
        Ok(removed)
    }

    /// Notes that the record at `seq` is number `position` of `team`'s chain.
    pub fn audit_index_team(
        &mut self,
        team: &str,
        position: u64,
        seq: u64,
    ) -> Result<(), StoreError> {
        self.tx
            .open_table(AUDIT_TEAM_INDEX)?
            .insert((team, position), seq)?;
        Ok(())
    }

    /// Moves `team`'s audit chain head to `(team_seq, hash)`.
    pub fn set_audit_team_head(
        &mut self,
        team: &str,
        team_seq: u64,
        hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        let mut v = [0u8; 40];
        v[..8].copy_from_slice(&team_seq.to_be_bytes());
        v[8..].copy_from_slice(hash);
        self.tx
            .open_table(AUDIT_TEAM_HEADS)?
            .insert(team, v.as_slice())?;
        Ok(())
    }

    /// Stores a sealed appliance secret under `name`.
    pub fn put_secret(&mut self, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        self.tx.open_table(SECRETS)?.insert(name, sealed)?;
        Ok(())
    }

    /// Stores public appliance material under `name`.
    pub fn put_public(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tx.open_table(PUBLIC)?.insert(name, value)?;
        Ok(())
    }

    /// A sealed appliance secret.
    pub fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_bytes(&self.tx.open_table(SECRETS)?, name)
    }

    /// Public appliance material.
    pub fn public(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_bytes(&self.tx.open_table(PUBLIC)?, name)
    }
}

impl ReadTx {
    /// The schema version the store was written with.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let t = self.tx.open_table(SCHEMA).map_err(|e| match e {
            redb::TableError::TableDoesNotExist(_) => StoreError::NoSchema,
            other => other.into(),
        })?;
        let v = t.get(VERSION_KEY)?.map(|v| v.value());
        v.ok_or(StoreError::NoSchema)
    }

    /// Up to `limit` audit records with sequence numbers above `after`, in order.
    pub fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        after_in(&self.tx.open_table(AUDIT)?, after, limit)
    }

    /// The newest audit record.
    pub fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        last(&self.tx.open_table(AUDIT)?)
    }

    /// The newest record of `team`'s audit chain: `(team_seq, hash)`.
    pub fn audit_team_head(&self, team: &str) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        team_head(&self.tx.open_table(AUDIT_TEAM_HEADS)?, team)
    }

    /// Up to `limit` of `team`'s records after chain position `after`, as `(position, seq,
    /// record)`, in order. A record no longer stored (archived) is skipped.
    #[allow(clippy::type_complexity)]
    pub fn audit_team_after(
        &self,
        team: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, u64, Vec<u8>)>, StoreError> {
        let index = self.tx.open_table(AUDIT_TEAM_INDEX)?;
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let rows = index.range((team, start)..=(team, u64::MAX))?;
        team_records(&self.tx.open_table(AUDIT)?, rows, limit)
    }

    /// Up to `limit` of `team`'s records at chain positions below `before`, newest first, as
    /// `(position, seq, record)`. A record no longer stored (archived) is skipped.
    #[allow(clippy::type_complexity)]
    pub fn audit_team_before(
        &self,
        team: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, u64, Vec<u8>)>, StoreError> {
        let index = self.tx.open_table(AUDIT_TEAM_INDEX)?;
        let rows = index.range((team, 0)..(team, before))?.rev();
        team_records(&self.tx.open_table(AUDIT)?, rows, limit)
    }

    /// Every team with an audit chain, with its chain's newest position.
    pub fn audit_team_heads(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let t = self.tx.open_table(AUDIT_TEAM_HEADS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let team = row?.0.value().to_string();
            if let Some((seq, _)) = team_head(&t, &team)? {
                out.push((team, seq));
            }
        }
        Ok(out)
    }

    /// A sealed appliance secret.
    pub fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_bytes(&self.tx.open_table(SECRETS)?, name)
    }

    /// Public appliance material.
    pub fn public(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get_bytes(&self.tx.open_table(PUBLIC)?, name)
    }
}

/// Up to `limit` of the records an index range points at, as `(position, seq, record)`;
/// entries whose record is gone (archived) are skipped.
#[allow(clippy::type_complexity)]
fn team_records<'a>(
    records: &impl ReadableTable<u64, &'static [u8]>,
    rows: impl Iterator<
        Item = Result<
            (AccessGuard<'a, (&'static str, u64)>, AccessGuard<'a, u64>),
            redb::StorageError,
        >,
    >,
    limit: usize,
) -> Result<Vec<(u64, u64, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        if out.len() >= limit {
            break;
        }
        let (k, v) = row?;
        let seq = v.value();
        if let Some(bytes) = records.get(seq)? {
            out.push((k.value().1, seq, bytes.value().to_vec()));
        }
    }
    Ok(out)
}

fn team_head<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    team: &str,
) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let Some(v) = t.get(team)? else {
        return Ok(None);
    };
    let v = v.value();
    let corrupt = || StoreError::Corrupt {
        what: format!("audit team head {team}"),
        detail: "not 40 bytes".into(),
    };
    let (seq, hash) = v.split_at_checked(8).ok_or_else(corrupt)?;
    let seq = u64::from_be_bytes(seq.try_into().map_err(|_| corrupt())?);
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt())?;
    Ok(Some((seq, hash)))
}
