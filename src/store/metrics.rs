//! Agent health samples: two tables keyed by `(agent id, unix seconds)` holding fixed-size
//! binary samples — full resolution for the recent past, downsampled buckets beyond it. The
//! store owns only the keys; the sample encoding belongs to the fleet.

use redb::{ReadableTable, TableDefinition};

use super::{ReadTx, StoreError, WriteTx};

/// Which history a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Every heartbeat.
    Raw,
    /// Averaged buckets.
    Coarse,
}

const RAW: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("agent_metrics_raw");
const COARSE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("agent_metrics_coarse");

fn def(r: Resolution) -> TableDefinition<'static, (&'static str, u64), &'static [u8]> {
    match r {
        Resolution::Raw => RAW,
        Resolution::Coarse => COARSE,
    }
}

type Samples = Vec<(u64, Vec<u8>)>;

fn range<T: ReadableTable<(&'static str, u64), &'static [u8]>>(
    t: &T,
    agent: &str,
    from: u64,
    to: u64,
) -> Result<Samples, StoreError> {
    let mut out = Vec::new();
    if from > to {
        return Ok(out);
    }
    for row in t.range((agent, from)..=(agent, to))? {
        let (k, v) = row?;
        out.push((k.value().1, v.value().to_vec()));
    }
    Ok(out)
}

impl WriteTx {
    /// Creates the metrics tables (idempotent).
    pub(super) fn create_metrics_tables(&mut self) -> Result<(), StoreError> {
        self.tx.open_table(RAW)?;
        self.tx.open_table(COARSE)?;
        Ok(())
    }

    /// Stores samples (`agent`, unix seconds, encoded sample), replacing any at the same key.
    pub fn put_samples<'a>(
        &mut self,
        r: Resolution,
        samples: impl IntoIterator<Item = (&'a str, u64, &'a [u8])>,
    ) -> Result<(), StoreError> {
        let mut t = self.tx.open_table(def(r))?;
        for (agent, at, bytes) in samples {
            t.insert((agent, at), bytes)?;
        }
        Ok(())
    }

    /// One agent's samples with `from <= at <= to`, oldest first.
    pub fn samples(
        &self,
        r: Resolution,
        agent: &str,
        from: u64,
        to: u64,
    ) -> Result<Samples, StoreError> {
        range(&self.tx.open_table(def(r))?, agent, from, to)
    }

    /// Deletes one agent's samples with `at < before`; returns how many.
    pub fn delete_samples_before(
        &mut self,
        r: Resolution,
        agent: &str,
        before: u64,
    ) -> Result<usize, StoreError> {
        let mut t = self.tx.open_table(def(r))?;
        let mut n = 0;
        // `extract_from_if` would hold a borrow across the loop; collect keys first.
        let keys: Vec<u64> = {
            let mut keys = Vec::new();
            for row in t.range((agent, 0)..(agent, before))? {
                keys.push(row?.0.value().1);
            }
            keys
        };
        for at in keys {
            if t.remove((agent, at))?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl ReadTx {
    /// One agent's samples with `from <= at <= to`, oldest first.
    pub fn samples(
        &self,
        r: Resolution,
        agent: &str,
        from: u64,
        to: u64,
    ) -> Result<Samples, StoreError> {
        range(&self.tx.open_table(def(r))?, agent, from, to)
    }
}
