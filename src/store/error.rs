use std::path::PathBuf;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store file {path} does not exist; run `tundra init` first")]
    Missing { path: PathBuf },
    #[error(
        "store file {path} is in use by another tundra process (is `tundra serve` running? \
         then its control socket answers this command)"
    )]
    InUse { path: PathBuf },
    #[error(
        "store file {path} has schema version {found}, but this tundra binary supports up to \
         {supported}; fix: run the newer tundra binary that wrote it (downgrades are not \
         supported)"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("store has no schema version: it was not written by tundra")]
    NoSchema,
    #[error("store record {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("store: {0}")]
    Backend(Box<redb::Error>),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(Box::new(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
