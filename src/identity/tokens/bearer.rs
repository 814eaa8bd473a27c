//! Authenticating a request by its bearer API token.

use super::{TokenError, TokenRow, TOKEN_ENV};
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::token;
use crate::identity::admin::Identity;
use crate::identity::agent_scope::AgentScope;
use crate::identity::rows::{MembershipRow, UserRow};
use crate::identity::session::Principal;
use crate::model::Actor;
use crate::store::{StoreError, Table};

/// `last_used` is written at most this often, so busy scripts do not each cost a disk sync.
const TOUCH_EVERY_SECS: i64 = 60;

impl Identity {
    /// The principal behind an API token value, or `None` when it is malformed, unknown,
    /// revoked or expired, or its creator is disabled, gone or no longer in its team. The
    /// principal acts in the token's team with the lower of the token's role and the
    /// creator's current role, reaches only the agents the token's agent/tag restriction
    /// allows, and its audit records name the token. A known token that is refused is
    /// audited (`ctx` gives the request id and address). `last_used` is refreshed at most
    /// once a minute.
    pub fn token_principal(
        &self,
        value: &str,
        ctx: &AuditContext,
    ) -> Result<Option<Principal>, TokenError> {
        if token::parse_api_token(value).is_none_or(|(env, _)| env != TOKEN_ENV) {
            return Ok(None);
        }
        let hash = token::token_hash_hex(value);
        let now = self.clock.now().unix_timestamp();
        let found = self.store.read(|tx| {
            let Some(row) = tx.row::<TokenRow>(Table::ApiTokens, &hash)? else {
                return Ok::<_, StoreError>(None);
            };
            let user: Option<UserRow> = tx.row(Table::Users, &row.created_by.0)?;
            let member: Option<MembershipRow> = tx.row(
                Table::Memberships,
                &format!("{}/{}", row.team, row.created_by),
            )?;
            Ok(Some((row, user, member)))
        })?;
        let Some((row, user, member)) = found else {
            return Ok(None);
        };
        let refusal = match (&user, &member) {
            _ if row.expires.is_some_and(|e| now >= e) => Some("expired"),
            (None, _) => Some("creator_missing"),
            (Some(u), _) if u.disabled => Some("creator_disabled"),
            (_, None) => Some("creator_not_member"),
            _ => None,
        };
        let (Some(user), Some(member), None) = (user, member, refusal) else {
            let ctx = AuditContext {
                actor: Actor::ApiToken(row.id.clone()),
                team: Some(row.team.clone()),
                ..ctx.clone()
            };
            let event = AuditEvent::ApiTokenRejected {
                token: row.id.clone(),
                reason: refusal.unwrap_or("refused").into(),
            };
            self.audit.append_denial(&self.store, &ctx, &event)?;
            return Ok(None);
        };
        if row
            .last_used
            .is_none_or(|t| now - t >= TOUCH_EVERY_SECS || now < t)
        {
            // Re-read inside the write: a revocation since the read above must not be undone.
            let live = self.store.write(|tx| {
                let Some(mut current) = tx.row::<TokenRow>(Table::ApiTokens, &hash)? else {
                    return Ok::<_, StoreError>(false);
                };
                current.last_used = Some(now);
                tx.put_row(Table::ApiTokens, &hash, &current)?;
                Ok(true)
            })?;
            if !live {
                return Ok(None);
            }
        }
        let role = row.role.min(member.role);
        let needs_two_factor = self.needs_two_factor(&user, role);
        Ok(Some(Principal::for_token(
            user,
            row.team,
            role,
            row.id,
            AgentScope::new(row.agents, row.tags),
            needs_two_factor,
        )))
    }
}
