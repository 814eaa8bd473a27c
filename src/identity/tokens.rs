//! API tokens (SPEC §4): `tnd_live_…` bearer values carrying 256 random bits, shown once and
//! stored only as their SHA-256, scoped to one team with a role no higher than their
//! creator's, optionally restricted to some agents (by id and/or tag, enforced by the fleet
//! on every agent lookup through the principal's `AgentScope`), optionally expiring,
//! revocable at once.
//!
//! Issuing a token never widens what the issuer can do: the role is at most the issuer's;
//! a token issued by a token expires no later and is restricted no less than its parent;
//! admin-scope tokens (admin, owner) need the `ManageMembers` permission and a password
//! confirmation within the re-auth window, which a token can never give. Every issue and
//! revocation, and every refusal of one, is audited in the same transaction.

mod bearer;
mod scope;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::admin::Identity;
use super::error::IdentityError;
use super::session::Principal;
use crate::audit::{AuditContext, AuditError, AuditEvent};
use crate::crypto::{random, token, Secret};
use crate::model::{Role, TeamId, UserId};
use crate::policy::{allows, Action};

use crate::store::{StoreError, Table, WriteTx};
use scope::{check_issue, check_label, check_list, Issuer};

/// The `env` of the tokens this appliance issues and accepts (`tnd_live_…`).
pub const TOKEN_ENV: &str = "live";
/// The longest lifetime a token may be given.
pub const MAX_TOKEN_TTL_SECS: i64 = 365 * 86_400;
/// At most this many tokens per team, so no member can grow the store without bound.
pub const MAX_TEAM_TOKENS: usize = 1000;

/// An API token as stored, keyed by the SHA-256 hex of its value (the value itself is never
/// stored). `team_tokens` maps `team_id/token_id` to that key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// `tok_` and 32 hex characters; what the API and the audit log call the token.
    pub id: String,
    /// What the creator called it (1–64 printable characters).
    pub name: String,
    /// The only team it acts in.
    pub team: TeamId,
    /// The most it may do; it acts with the lower of this and its creator's current role.
    pub role: Role,
    /// Whose token it is; it stops working when they are disabled or leave the team.
    pub created_by: UserId,
    /// Unix seconds of issue.
    pub created: i64,
    /// Unix seconds after which it is refused, if it expires.
    pub expires: Option<i64>,
    /// Unix seconds of the last accepted use (written at most once a minute).
    pub last_used: Option<i64>,
    /// Agent ids the token is restricted to (empty: not restricted by id). With `tags` it
    /// becomes the principal's [`AgentScope`](crate::identity::AgentScope): when either list
    /// is non-empty the token reaches only agents whose id is listed here or that carry a
    /// listed tag; every other agent is listed to it as absent and answers `404`, like
    /// another team's. A token it issues keeps at least this restriction.
    pub agents: Vec<String>,
    /// Agent tags the token is restricted to (empty: not restricted by tag); matched
    /// ignoring ASCII case, read together with `agents` as above.
    pub tags: Vec<String>,
}

/// A token to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Unix seconds of expiry; `None` never expires (or, for a token issued by an expiring
    /// token, expires with its parent).
    pub expires: Option<i64>,
    /// Agent ids to restrict it to.
    pub agents: Vec<String>,
    /// Agent tags to restrict it to.
    pub tags: Vec<String>,
}

/// Why a token operation failed. The API maps each to one status.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad input; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The role or scope asked for is more than the caller may grant.
    #[error("{0}")]
    Forbidden(String),
    /// Admin-scope tokens need a password confirmation within the re-auth window.
    #[error("confirm your password first to issue an admin-scope token")]
    ReauthRequired,
    /// No such token in the caller's team (or not one the caller may manage).
    #[error("not found")]
    NotFound,
    /// The team has [`MAX_TEAM_TOKENS`] tokens already.
    #[error("the team already has {MAX_TEAM_TOKENS} API tokens; revoke some first")]
    TooMany,
    /// The principal may not act yet (e.g. two-factor not enrolled) or identity failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The audit record could not be written; nothing changed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `team_tokens` key of a token.
fn index_key(team: &TeamId, id: &str) -> String {
    format!("{team}/{id}")
}

/// A token of `team` by id, with its hash; `None` when missing or in another team.
fn token_by_id(
    tx: &WriteTx,
    team: &TeamId,
    id: &str,
) -> Result<Option<(String, TokenRow)>, StoreError> {
    let well_formed = id.strip_prefix("tok_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if !well_formed {
        return Ok(None);
    }
    let Some(hash) = tx.row::<String>(Table::TeamTokens, &index_key(team, id))? else {
        return Ok(None);
    };
    let row = tx
        .row::<TokenRow>(Table::ApiTokens, &hash)?
        .filter(|r| r.team == *team && r.id == id);
    Ok(row.map(|r| (hash, r)))
}

/// Deletes every token `user` issued in `team` (they left the team; a re-added member must
/// not get old tokens back). Returns how many.
pub(super) fn delete_member_tokens_in(
    tx: &mut WriteTx,
    team: &TeamId,
    user: &UserId,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    for (key, hash) in tx.rows::<String>(Table::TeamTokens, &format!("{team}/"))? {
        let issued_by_user = tx
            .row::<TokenRow>(Table::ApiTokens, &hash)?
            .is_some_and(|r| r.created_by == *user);
        if issued_by_user {
            tx.delete_row(Table::ApiTokens, &hash)?;
            tx.delete_row(Table::TeamTokens, &key)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// At most 80 characters of a caller-supplied id, for the audit log.
fn clip(id: &str) -> String {
    id.chars().take(80).collect()
}

impl Identity {
    /// Issues a token in the principal's team; returns its value (show it once; only its
    /// hash is kept) and its row. Refusals are audited and answered with
    /// [`TokenError::Forbidden`] or [`TokenError::ReauthRequired`].
    pub fn create_token(
        &self,
        principal: &Principal,
        ctx: &AuditContext,
        req: NewToken,
    ) -> Result<(Secret<String>, TokenRow), TokenError> {
        principal.check_can_act()?;
        let now = self.clock.now().unix_timestamp();
        let mut req = NewToken {
            name: check_label("name", &req.name)?,
            agents: check_list("agents", req.agents)?,
            tags: check_list("tags", req.tags)?,
            ..req
        };
        if let Some(e) = req.expires {
            if e <= now {
                return Err(TokenError::Invalid {
                    field: "expires",
                    message: "must be in the future".into(),
                });
            }
            if e - now > MAX_TOKEN_TTL_SECS {
                return Err(TokenError::Invalid {
                    field: "expires",
                    message: "must be at most 365 days away".into(),
                });
            }
        }
        let team = principal.team().clone();
        let outcome = self.store.write(|tx| {
            let parent = match principal.token_id() {
                Some(id) => match token_by_id(tx, &team, id)? {
                    Some((_, row)) => Some(row),
                    None => {
                        return Ok(Err(TokenError::Forbidden("This token was revoked.".into())))
                    }
                },
                None => None,
            };
            if let (Some(p), None) = (&parent, req.expires) {
                req.expires = p.expires;
            }
            let issuer = Issuer {
                role: principal.role(),
                parent: parent.as_ref(),
                is_token: principal.token_id().is_some(),
                reauthenticated: principal.reauthenticated(now),
            };
            if let Err(denied) = check_issue(&issuer, &req) {
                let event = AuditEvent::ApiTokenRefused {
                    operation: "create".into(),
                    token: None,
                    role: Some(req.role),
                    reason: denied.reason().into(),
                };
                self.audit.append(tx, ctx, &event)?;
                return Ok(Err(denied.into_error(principal.role())));
            }
            if tx
                .rows::<String>(Table::TeamTokens, &format!("{team}/"))?
                .len()
                >= MAX_TEAM_TOKENS
            {
                return Ok(Err(TokenError::TooMany));
            }
            let value = token::api_token(TOKEN_ENV);
            let hash = token::token_hash_hex(value.expose());
            let row = TokenRow {
                id: format!("tok_{}", random::hex_id()),
                name: req.name.clone(),
                team: team.clone(),
                role: req.role,
                created_by: principal.user().clone(),
                created: now,
                expires: req.expires,
                last_used: None,
                agents: req.agents.clone(),
                tags: req.tags.clone(),
            };
            tx.put_row(Table::ApiTokens, &hash, &row)?;
            tx.put_row(Table::TeamTokens, &index_key(&team, &row.id), &hash)?;
            let event = AuditEvent::ApiTokenCreated {
                token: row.id.clone(),
                name: row.name.clone(),
                role: row.role,
                expires: row.expires,
            };
            self.audit.append(tx, ctx, &event)?;
            Ok::<_, TokenError>(Ok((value, row)))
        })?;
        outcome
    }

    /// The principal's team's tokens (never their values), oldest first: all of them for
    /// owners and admins, only the caller's own for others.
    pub fn list_tokens(&self, principal: &Principal) -> Result<Vec<TokenRow>, TokenError> {
        principal.check_can_act()?;
        let team = principal.team();
        let everyone = allows(principal.role(), Action::ManageMembers);
        let mut out = self.store.read(|tx| {
            let mut out = Vec::new();
            for (_, hash) in tx.rows::<String>(Table::TeamTokens, &format!("{team}/"))? {
                if let Some(row) = tx.row::<TokenRow>(Table::ApiTokens, &hash)? {
                    if row.team == *team && (everyone || row.created_by == *principal.user()) {
                        out.push(row);
                    }
                }
            }
            Ok::<_, StoreError>(out)
        })?;
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(out)
    }

    /// Revokes (deletes) a token of the principal's team: one's own, or any for owners and
    /// admins. A missing token, another team's, or one the caller may not manage all give
    /// [`TokenError::NotFound`], and the attempt is audited.
    pub fn revoke_token(
        &self,
        principal: &Principal,
        ctx: &AuditContext,
        token_id: &str,
    ) -> Result<(), TokenError> {
        principal.check_can_act()?;
        let team = principal.team();
        let everyone = allows(principal.role(), Action::ManageMembers);
        let revoked = self.store.write(|tx| {
            let found = token_by_id(tx, team, token_id)?;
            let permitted = found
                .as_ref()
                .is_some_and(|(_, r)| everyone || r.created_by == *principal.user());
            let reason = if found.is_some() {
                "not_permitted"
            } else {
                "not_found"
            };
            let Some((hash, row)) = found.filter(|_| permitted) else {
                let event = AuditEvent::ApiTokenRefused {
                    operation: "revoke".into(),
                    token: Some(clip(token_id)),
                    role: None,
                    reason: reason.into(),
                };
                self.audit.append(tx, ctx, &event)?;
                return Ok::<_, TokenError>(false);
            };
            tx.delete_row(Table::ApiTokens, &hash)?;
            tx.delete_row(Table::TeamTokens, &index_key(team, &row.id))?;
            let event = AuditEvent::ApiTokenRevoked {
                token: row.id,
                name: row.name,
            };
            self.audit.append(tx, ctx, &event)?;
            Ok(true)
        })?;
        if revoked {
            Ok(())
        } else {
            Err(TokenError::NotFound)
        }
    }
}
