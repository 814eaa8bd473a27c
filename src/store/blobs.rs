//! Opaque byte values by text key: sealed command output. The store keeps them apart from
//! the JSON rows so listing commands never reads (or decodes) output, and never sees its
//! plaintext: callers seal before they put.

use redb::TableDefinition;

use super::{ReadTx, StoreError, WriteTx};

/// Command id → sealed stdout and stderr.
const COMMAND_OUTPUT: TableDefinition<&str, &[u8]> = TableDefinition::new("command_output");

impl WriteTx {
    /// Creates the blob tables (idempotent).
    pub(super) fn create_blob_tables(&mut self) -> Result<(), StoreError> {
        self.tx.open_table(COMMAND_OUTPUT)?;
        Ok(())
    }

    /// Stores a command's sealed output, replacing any earlier value.
    pub fn put_command_output(&mut self, id: &str, sealed: &[u8]) -> Result<(), StoreError> {
        self.tx.open_table(COMMAND_OUTPUT)?.insert(id, sealed)?;
        Ok(())
    }
}

impl ReadTx {
    /// A command's sealed output.
    pub fn command_output(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.tx.open_table(COMMAND_OUTPUT)?;
        let v = t.get(id)?;
        Ok(v.map(|v| v.value().to_vec()))
    }
}
