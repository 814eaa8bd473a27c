//! The store: one redb file with typed tables, typed read and write transactions, a schema
//! version and forward migrations.
//!
//! Owns the on-disk schema and nothing else: it knows tables and rows, never what a row means
//! for policy or audit. Every write that must be atomic with its audit record happens inside
//! one [`Store::write`] closure, which commits only if the closure succeeds. Nothing outside
//! this module names a redb type, so another backend can stand behind the same interface.

mod blobs;
mod error;
mod metrics;
mod migrate;
mod rows;
mod tables;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub use error::StoreError;
pub use metrics::Resolution;
pub use migrate::{Migration, MIGRATIONS, SCHEMA_VERSION};
pub use rows::{RowRead, Table};

/// The store file's name inside the data dir.
pub const FILE_NAME: &str = "tundra.redb";

/// An open store. Cheap to share behind an `Arc`; redb serializes writers.
pub struct Store {
    db: redb::Database,
}

/// A read-only snapshot.
pub struct ReadTx {
    tx: redb::ReadTransaction,
}

/// A write transaction; its changes land together or not at all.
pub struct WriteTx {
    tx: redb::WriteTransaction,
}

impl Store {
    /// Creates a new store file with mode 0600 (in the `open` call itself) at the current
    /// schema version. Fails if the file exists.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| StoreError::Io {
                path: path.to_owned(),
                source,
            })?;
        let db = redb::Builder::new().create_file(file)?;
        let store = Self { db };
        store.write(|tx| {
            tx.create_all_tables()?;
            tx.set_schema_version(SCHEMA_VERSION)
        })?;
        Ok(store)
    }

    /// Opens an existing store, refusing one whose schema is newer than this binary and
    /// running forward migrations on an older one.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, MIGRATIONS, SCHEMA_VERSION)
    }

    pub(crate) fn open_with(
        path: &Path,
        migrations: &[Migration],
        supported: u64,
    ) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let db = redb::Database::open(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.to_owned(),
            },
            other => StoreError::from(other),
        })?;
        let store = Self { db };
        let found = store.read(|tx| tx.schema_version())?;
        if found > supported {
            return Err(StoreError::SchemaTooNew {
                path: path.to_owned(),
                found,
                supported,
            });
        }
        migrate::run(&store, found, migrations, supported)?;
        Ok(store)
    }

    /// Runs `f` in a write transaction and commits if it returns `Ok`; on `Err` nothing it
    /// did is kept.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut WriteTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut tx = WriteTx {
            tx: self.db.begin_write().map_err(StoreError::from)?,
        };
        let out = f(&mut tx)?;
        tx.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` on a consistent read snapshot.
    pub fn read<T, E>(&self, f: impl FnOnce(&ReadTx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = ReadTx {
            tx: self.db.begin_read().map_err(StoreError::from)?,
        };
        f(&tx)
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

#[cfg(test)]
mod tests;
