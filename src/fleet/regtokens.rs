//! Registration tokens (SPEC §4): `tnd_reg_…` values carrying 256 random bits, shown once and
//! stored only as their SHA-256; short-lived, limited in uses, revocable, scoped to a team.

use serde::{Deserialize, Serialize};

use super::tags::check_tags;
use super::{Fleet, FleetError};
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::{random, token, Secret};
use crate::identity::Principal;
use crate::model::TeamId;
use crate::policy::Action;
use crate::store::{StoreError, Table, WriteTx};

/// Lifetime of a registration token unless asked otherwise.
pub const DEFAULT_REG_TOKEN_TTL_SECS: i64 = 3600;
/// The longest lifetime a registration token may have.
pub const MAX_REG_TOKEN_TTL_SECS: i64 = 7 * 86_400;
/// The most enrollments one token may allow.
pub const MAX_REG_TOKEN_USES: u32 = 10_000;
/// At most this many live registration tokens per team.
pub const MAX_TEAM_REG_TOKENS: usize = 100;

/// A registration token as stored (keyed by the SHA-256 hex of its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegTokenRow {
    /// `reg_` and 32 hex characters.
    pub id: String,
    /// The team its agents join.
    pub team: TeamId,
    /// Who created it (`user:…`, `token:…` or `local-cli`).
    pub created_by: String,
    /// Unix seconds of creation.
    pub created: i64,
    /// Unix seconds after which it is refused.
    pub expires: i64,
    /// Enrollments it allows in all.
    pub uses: u32,
    /// Enrollments made with it.
    pub used: u32,
    /// Tags every agent enrolled with it starts with.
    pub tags: Vec<String>,
}

impl RegTokenRow {
    /// Whether it can still enroll an agent at `now`.
    pub fn usable(&self, now: i64) -> bool {
        now < self.expires && self.used < self.uses
    }
}

/// A registration token to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRegToken {
    /// Lifetime in seconds (default one hour, at most seven days).
    pub ttl_secs: Option<i64>,
    /// Enrollments allowed (default 1, at most [`MAX_REG_TOKEN_USES`]).
    pub uses: Option<u32>,
    /// Tags for the agents it enrolls.
    pub tags: Vec<String>,
}

fn index_key(team: &TeamId, id: &str) -> String {
    format!("{team}/{id}")
}

impl Fleet {
    /// Creates a registration token in the principal's team (admins); returns its value
    /// (show it once) and its row.
    pub fn create_registration_token(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        req: NewRegToken,
    ) -> Result<(Secret<String>, RegTokenRow), FleetError> {
        self.check(p, Action::ManageFleet)?;
        let by = ctx.actor.to_string();
        self.create_token_in(p.team(), ctx, by, req)
    }

    /// Creates a registration token in `team` for break-glass use on the server host
    /// (`tundra fleet token`), audited as `local-cli`.
    pub fn create_registration_token_local(
        &self,
        team: &TeamId,
        ctx: &AuditContext,
        req: NewRegToken,
    ) -> Result<(Secret<String>, RegTokenRow), FleetError> {
        self.create_token_in(team, ctx, "local-cli".into(), req)
    }

    fn create_token_in(
        &self,
        team: &TeamId,
        ctx: &AuditContext,
        created_by: String,
        req: NewRegToken,
    ) -> Result<(Secret<String>, RegTokenRow), FleetError> {
        let ttl = req.ttl_secs.unwrap_or(DEFAULT_REG_TOKEN_TTL_SECS);
        if !(60..=MAX_REG_TOKEN_TTL_SECS).contains(&ttl) {
            return Err(FleetError::Invalid {
                field: "ttl_secs",
                message: format!("must be between 60 and {MAX_REG_TOKEN_TTL_SECS} seconds"),
            });
        }
        let uses = req.uses.unwrap_or(1);
        if !(1..=MAX_REG_TOKEN_USES).contains(&uses) {
            return Err(FleetError::Invalid {
                field: "uses",
                message: format!("must be between 1 and {MAX_REG_TOKEN_USES}"),
            });
        }
        let tags = check_tags("tags", req.tags)?;
        let now = self.now().unix_timestamp();
        let value = token::registration_token();
        let row = RegTokenRow {
            id: format!("reg_{}", hex::encode(random::bytes::<16>())),
            team: team.clone(),
            created_by,
            created: now,
            expires: now + ttl,
            uses,
            used: 0,
            tags,
        };
        let hash = token::token_hash_hex(value.expose());
        self.store.write(|tx| {
            let live = prune_team_tokens(tx, team, now)?;
            if live >= MAX_TEAM_REG_TOKENS {
                return Err(FleetError::TooMany(format!(
                    "the team already has {MAX_TEAM_REG_TOKENS} live registration tokens; \
                     revoke some first"
                )));
            }
            tx.put_row(Table::RegTokens, &hash, &row)?;
            tx.put_row(Table::TeamRegTokens, &index_key(team, &row.id), &hash)?;
            let event = AuditEvent::RegistrationTokenCreated {
                token: row.id.clone(),
                uses,
                expires: row.expires,
            };
            self.audit.append(tx, ctx, &event)?;
            Ok(())
        })?;
        Ok((value, row))
    }

    /// The principal's team's registration tokens that can still be used (admins).
    pub fn registration_tokens(&self, p: &Principal) -> Result<Vec<RegTokenRow>, FleetError> {
        self.check(p, Action::ManageFleet)?;
        let now = self.now().unix_timestamp();
        let prefix = format!("{}/", p.team());
        self.store.read(|tx| {
            let mut out = Vec::new();
            for (_, hash) in tx.rows::<String>(Table::TeamRegTokens, &prefix)? {
                if let Some(r) = tx.row::<RegTokenRow>(Table::RegTokens, &hash)? {
                    if r.usable(now) {
                        out.push(r);
                    }
                }
            }
            Ok::<_, FleetError>(out)
        })
    }

    /// Revokes a registration token of the principal's team (admins).
    pub fn revoke_registration_token(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<(), FleetError> {
        self.check(p, Action::ManageFleet)?;
        let key = index_key(p.team(), id);
        let found = self.store.write(|tx| {
            let Some(hash) = tx.row::<String>(Table::TeamRegTokens, &key)? else {
                return Err(FleetError::NotFound);
            };
            tx.delete_row(Table::RegTokens, &hash)?;
            tx.delete_row(Table::TeamRegTokens, &key)?;
            let event = AuditEvent::RegistrationTokenRevoked {
                token: id.to_string(),
            };
            self.audit.append(tx, ctx, &event)?;
            Ok(())
        });
        if let Err(FleetError::NotFound) = &found {
            let target = format!(
                "registration_token:{}",
                id.chars().take(80).collect::<String>()
            );
            let event = AuditEvent::AccessDenied {
                target,
                reason: "missing".into(),
            };
            self.audit.append_denial(&self.store, ctx, &event)?;
        }
        found
    }
}

/// Deletes `team`'s tokens that can no longer be used; returns how many remain.
fn prune_team_tokens(tx: &mut WriteTx, team: &TeamId, now: i64) -> Result<usize, StoreError> {
    let mut live = 0;
    for (key, hash) in tx.rows::<String>(Table::TeamRegTokens, &format!("{team}/"))? {
        match tx.row::<RegTokenRow>(Table::RegTokens, &hash)? {
            Some(r) if r.usable(now) => live += 1,
            _ => {
                tx.delete_row(Table::RegTokens, &hash)?;
                tx.delete_row(Table::TeamRegTokens, &key)?;
            }
        }
    }
    Ok(live)
}
