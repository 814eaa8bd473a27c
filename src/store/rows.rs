//! Keyed JSON rows: the tables whose values are serde types owned by the services above
//! (identity today). The store owns the table names and the encoding; callers own the row
//! types. Keys are text; composite keys join their parts with `/`.

use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ReadTx, StoreError, WriteTx};

/// The JSON-row tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Team id → team.
    Teams,
    /// Lowercase team name → team id.
    TeamNames,
    /// User id → user.
    Users,
    /// Lowercase email → user id.
    UserEmails,
    /// `team_id/user_id` → membership.
    Memberships,
    /// `user_id/team_id` → membership (the reverse index).
    MemberOf,
    /// Hex SHA-256 of a session id → session.
    Sessions,
    /// `user_id/session_hash` → nothing (a user's sessions, for listing and revocation).
    UserSessions,
    /// `code` → the pending first-owner setup code (hashed).
    Setup,
    /// `user_id/code_hash` → nothing: a user's unused recovery codes.
    RecoveryCodes,
    /// Hex SHA-256 of an API token → the token (its value is never stored).
    ApiTokens,
    /// `team_id/token_id` → the token's hash (a team's tokens, and a token by id).
    TeamTokens,
    /// Hex SHA-256 of a registration token → the token (its value is never stored).
    RegTokens,
    /// `team_id/token_id` → the registration token's hash.
    TeamRegTokens,
    /// Agent id → agent.
    Agents,
    /// `team_id/agent_id` → nothing (a team's agents).
    TeamAgents,
    /// Hex enrollment nonce → Unix milliseconds after which it may be forgotten.
    EnrollNonces,
    /// Zero-padded run number → one run of the appliance's security self-check (bounded).
    AcceptanceRuns,
    /// Command id → command (its output is in the sealed blob table, not here).
    Commands,
    /// `team_id/newest-first key/command_id` → nothing: a team's command history.
    TeamCommands,
    /// `agent_id/request_id` → command id: the idempotency key of a command request.
    CommandKeys,
    /// `agent_id/created ms/command_id` → nothing: commands an agent still has to run.
    AgentQueue,
    /// `team_id/created ms/command_id` → nothing: commands waiting for an approval.
    PendingApprovals,
    /// Team id → the team's ACL and command policy.
    TeamPolicies,
    /// `team_id/name/version` → one version of an approved script.
    Scripts,
    /// Team id → the team's last published signed audit head.
    PublishedHeads,
    /// `team_id/webhook_id` → a webhook (its secret sealed).
    Webhooks,
    /// `team_id/webhook_id/delivery_id` → one delivery with its attempt log (delivery ids
    /// sort by creation, so a webhook's log reads oldest first).
    WebhookDeliveries,
    /// `due ms (zero-padded)/team_id/webhook_id/delivery_id` → nothing: the outbox of
    /// deliveries still to attempt, soonest first.
    WebhookOutbox,
}

impl Table {
    /// Every JSON-row table (created with the schema).
    pub const ALL: &[Table] = &[
        Table::Teams,
        Table::TeamNames,
        Table::Users,
        Table::UserEmails,
        Table::Memberships,
        Table::MemberOf,
        Table::Sessions,
        Table::UserSessions,
        Table::Setup,
        Table::RecoveryCodes,
        Table::ApiTokens,
        Table::TeamTokens,
        Table::RegTokens,
        Table::TeamRegTokens,
        Table::Agents,
        Table::TeamAgents,
        Table::EnrollNonces,
        Table::AcceptanceRuns,
        Table::Commands,
        Table::TeamCommands,
        Table::CommandKeys,
        Table::AgentQueue,
        Table::PendingApprovals,
        Table::TeamPolicies,
        Table::Scripts,
        Table::PublishedHeads,
        Table::Webhooks,
        Table::WebhookDeliveries,
        Table::WebhookOutbox,
    ];

    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Table::Teams => "teams",
            Table::TeamNames => "team_names",
            Table::Users => "users",
            Table::UserEmails => "user_emails",
            Table::Memberships => "memberships",
            Table::MemberOf => "member_of",
            Table::Sessions => "sessions",
            Table::UserSessions => "user_sessions",
            Table::Setup => "setup",
            Table::RecoveryCodes => "recovery_codes",
            Table::ApiTokens => "api_tokens",
            Table::TeamTokens => "team_tokens",
            Table::RegTokens => "registration_tokens",
            Table::TeamRegTokens => "team_registration_tokens",
            Table::Agents => "agents",
            Table::TeamAgents => "team_agents",
            Table::EnrollNonces => "enroll_nonces",
            Table::AcceptanceRuns => "acceptance_runs",
            Table::Commands => "commands",
            Table::TeamCommands => "team_commands",
            Table::CommandKeys => "command_keys",
            Table::AgentQueue => "agent_command_queue",
            Table::PendingApprovals => "pending_approvals",
            Table::TeamPolicies => "team_policies",
            Table::Scripts => "scripts",
            Table::PublishedHeads => "audit_published_heads",
            Table::Webhooks => "webhooks",
            Table::WebhookDeliveries => "webhook_deliveries",
            Table::WebhookOutbox => "webhook_outbox",
        })
    }
}

fn decode<T: DeserializeOwned>(table: Table, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("{table:?} row {key}"),
        detail: e.to_string(),
    })
}

fn scan<T: DeserializeOwned, R: ReadableTable<&'static str, &'static [u8]>>(
    table: Table,
    t: &R,
    prefix: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    page(table, t, prefix, None, usize::MAX)
}

/// Up to `limit` rows whose key starts with `prefix`, in key order, after key `after` (when
/// given; it need not exist).
fn page<T: DeserializeOwned, R: ReadableTable<&'static str, &'static [u8]>>(
    table: Table,
    t: &R,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out = Vec::new();
    let start = after.filter(|a| *a >= prefix).unwrap_or(prefix);
    for row in t.range(start..)? {
        if out.len() >= limit {
            break;
        }
        let (k, v) = row?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        if after == Some(key) {
            continue;
        }
        out.push((key.to_string(), decode(table, key, v.value())?));
    }
    Ok(out)
}

impl WriteTx {
    /// Creates the JSON-row tables (idempotent).
    pub(super) fn create_row_tables(&mut self) -> Result<(), StoreError> {
        for t in Table::ALL.iter().copied() {
            self.tx.open_table(t.def())?;
        }
        Ok(())
    }

    /// Inserts or replaces a row.
    pub fn put_row<T: Serialize>(
        &mut self,
        table: Table,
        key: &str,
        row: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(row).map_err(|e| StoreError::Corrupt {
            what: format!("{table:?} row {key}"),
            detail: e.to_string(),
        })?;
        self.tx
            .open_table(table.def())?
            .insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Removes a row; `true` if it existed.
    pub fn delete_row(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        Ok(self.tx.open_table(table.def())?.remove(key)?.is_some())
    }

    /// One row.
    pub fn row<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let t = self.tx.open_table(table.def())?;
        let v = t.get(key)?;
        v.map(|v| decode(table, key, v.value())).transpose()
    }

    /// Every row whose key starts with `prefix`, in key order.
    pub fn rows<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        scan(table, &self.tx.open_table(table.def())?, prefix)
    }

    /// Up to `limit` rows whose key starts with `prefix`, after key `after`, in key order.
    pub fn rows_page<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        page(
            table,
            &self.tx.open_table(table.def())?,
            prefix,
            after,
            limit,
        )
    }
}

impl ReadTx {
    /// Up to `limit` rows whose key starts with `prefix`, after key `after`, in key order.
    pub fn rows_page<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        page(
            table,
            &self.tx.open_table(table.def())?,
            prefix,
            after,
            limit,
        )
    }

    /// One row.
    pub fn row<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let t = self.tx.open_table(table.def())?;
        let v = t.get(key)?;
        v.map(|v| decode(table, key, v.value())).transpose()
    }

    /// Every row whose key starts with `prefix`, in key order.
    pub fn rows<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        scan(table, &self.tx.open_table(table.def())?, prefix)
    }
}

/// Reading JSON rows, from a read snapshot or inside a write transaction alike, so a lookup
/// written once serves both.
pub trait RowRead {
    /// One row.
    fn get_row<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError>;
    /// Every row whose key starts with `prefix`, in key order.
    fn get_rows<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError>;
}

impl RowRead for ReadTx {
    fn get_row<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.row(table, key)
    }
    fn get_rows<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.rows(table, prefix)
    }
}

impl RowRead for WriteTx {
    fn get_row<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.row(table, key)
    }
    fn get_rows<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.rows(table, prefix)
    }
}
