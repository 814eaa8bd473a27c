//! Sessions: opaque 256-bit ids, stored only as their SHA-256, with an absolute lifetime of
//! 12 hours and an idle timeout of 30 minutes. A session names its user and active team; the
//! role is read from the membership on every request, so a role change takes effect at once.

use serde::{Deserialize, Serialize};

use super::admin::Identity;
use super::agent_scope::AgentScope;
use super::error::IdentityError;
use super::rows::{MembershipRow, UserRow};
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::{token, Secret};
use crate::model::{Actor, Role, TeamId, UserId};
use crate::store::{Table, WriteTx};

/// Seconds a session lives at most.
pub const ABSOLUTE_TTL_SECS: i64 = 12 * 3600;
/// Seconds a session survives without a request.
pub const IDLE_TTL_SECS: i64 = 30 * 60;
/// `last_seen` is written at most this often, so page views do not each cost a disk sync.
const TOUCH_EVERY_SECS: i64 = 60;
/// Seconds a password (+TOTP) confirmation keeps sensitive actions open.
pub const REAUTH_WINDOW_SECS: i64 = 5 * 60;

/// A session as stored (keyed by the hash of its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Whose session.
    pub user: UserId,
    /// The active team.
    pub team: TeamId,
    /// Unix seconds of sign-in.
    pub created: i64,
    /// Unix seconds of the last request (to `TOUCH_EVERY_SECS`).
    pub last_seen: i64,
    /// Unix seconds of the last password confirmation.
    pub reauth_at: Option<i64>,
    /// The peer's address at sign-in (shown on the account page).
    pub ip: Option<String>,
}

/// An authenticated member acting in one team. Only `identity` can make one, so a handler
/// holding a `Principal` has passed authentication; tenant queries take the team from it,
/// and agent lookups also apply its [`AgentScope`] (a token's agent/tag restriction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    user: UserId,
    email: String,
    team: TeamId,
    role: Role,
    session: Option<String>,
    reauth_at: Option<i64>,
    needs_two_factor: bool,
    token: Option<String>,
    scope: AgentScope,
}

impl Principal {
    /// Refuses owners and admins who have not enrolled two-factor yet (when the appliance
    /// requires it): until then they may only enroll, look at themselves and sign out.
    pub fn check_can_act(&self) -> Result<(), IdentityError> {
        if self.needs_two_factor {
            return Err(IdentityError::TwoFactorRequired);
        }
        Ok(())
    }

    /// Whether this principal must enroll two-factor before acting.
    pub fn needs_two_factor(&self) -> bool {
        self.needs_two_factor
    }

    /// The user.
    pub fn user(&self) -> &UserId {
        &self.user
    }
    /// Their email.
    pub fn email(&self) -> &str {
        &self.email
    }
    /// The team every tenant query must be scoped to.
    pub fn team(&self) -> &TeamId {
        &self.team
    }
    /// Their role in that team.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The hash of the session id, when signed in with a session.
    pub fn session_hash(&self) -> Option<&str> {
        self.session.as_deref()
    }
    /// Whether a password confirmation happened within the re-auth window.
    pub fn reauthenticated(&self, now_unix: i64) -> bool {
        self.reauth_at
            .is_some_and(|t| now_unix - t < REAUTH_WINDOW_SECS && now_unix >= t)
    }
    /// The audit context for this principal's action in one request.
    pub fn request_context(&self, request_id: String, peer: std::net::SocketAddr) -> AuditContext {
        AuditContext {
            request_id: Some(request_id),
            source_ip: Some(peer.ip()),
            ..self.audit_context()
        }
    }

    /// The audit context for this principal's actions.
    pub fn audit_context(&self) -> AuditContext {
        let actor = match &self.token {
            Some(id) => Actor::ApiToken(id.clone()),
            None => Actor::User(self.user.0.clone()),
        };
        AuditContext {
            team: Some(self.team.clone()),
            ..AuditContext::actor(actor)
        }
    }

    /// The id of the API token this principal authenticated with (`None` for a session).
    pub fn token_id(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The agents it may reach within its team: its token's agent/tag restriction, or
    /// unrestricted for a session.
    pub fn agent_scope(&self) -> &AgentScope {
        &self.scope
    }

    /// A member acting through API token `token_id` with `role` (already capped at the
    /// creator's current role), reaching only the agents `scope` allows. Never
    /// re-authenticated: a token cannot confirm a password.
    pub(super) fn for_token(
        user: UserRow,
        team: TeamId,
        role: Role,
        token_id: String,
        scope: AgentScope,
        needs_two_factor: bool,
    ) -> Self {
        Self {
            user: user.id,
            email: user.email,
            team,
            role,
            session: None,
            reauth_at: None,
            needs_two_factor,
            token: Some(token_id),
            scope,
        }
    }
}

impl Identity {
    /// Whether `user` acting as `role` must enroll TOTP first.
    pub(super) fn needs_two_factor(&self, user: &UserRow, role: Role) -> bool {
        self.require_two_factor && role >= Role::Admin && user.totp_sealed.is_none()
    }

    /// Opens the re-auth window of the principal's session (after a password, and TOTP
    /// when enrolled, were confirmed by the caller).
    pub fn mark_reauthenticated(&self, principal: &Principal) -> Result<(), IdentityError> {
        let Some(hash) = principal.session_hash() else {
            return Ok(());
        };
        let now = self.clock.now().unix_timestamp();
        self.store.write(|tx| {
            if let Some(mut row) = tx.row::<SessionRow>(Table::Sessions, hash)? {
                row.reauth_at = Some(now);
                row.last_seen = now;
                tx.put_row(Table::Sessions, hash, &row)?;
            }
            Ok(())
        })
    }

    /// Switches the session to another team the user belongs to. The session id changes
    /// (privileges changed); the new id is returned for the cookie.
    pub fn switch_team(
        &self,
        principal: &Principal,
        team: &TeamId,
        ctx: &AuditContext,
    ) -> Result<(Secret<String>, Principal), IdentityError> {
        let Some(old_hash) = principal.session_hash() else {
            return Err(IdentityError::Invalid(
                "only a signed-in session can switch teams".into(),
            ));
        };
        let result = self.store.write(|tx| {
            let member: Option<MembershipRow> =
                tx.row(Table::Memberships, &format!("{team}/{}", principal.user()))?;
            let (Some(member), Some(row)) =
                (member, tx.row::<SessionRow>(Table::Sessions, old_hash)?)
            else {
                return Err(IdentityError::NotFound);
            };
            let user: UserRow = tx
                .row(Table::Users, &principal.user().0)?
                .ok_or(IdentityError::NotFound)?;
            delete_session_in(tx, principal.user(), old_hash)?;
            let id = token::session_id();
            let hash = token::token_hash_hex(id.expose());
            let new_row = SessionRow {
                team: team.clone(),
                ..row
            };
            tx.put_row(Table::Sessions, &hash, &new_row)?;
            tx.put_row(
                Table::UserSessions,
                &format!("{}/{hash}", principal.user()),
                &(),
            )?;
            let ctx = AuditContext {
                team: Some(team.clone()),
                ..ctx.clone()
            };
            self.audit.append(
                tx,
                &ctx,
                &AuditEvent::TeamSwitched {
                    email: user.email.clone(),
                },
            )?;
            let needs_two_factor = self.needs_two_factor(&user, member.role);
            Ok((
                id,
                Principal {
                    user: user.id,
                    email: user.email,
                    team: team.clone(),
                    role: member.role,
                    session: Some(hash),
                    reauth_at: new_row.reauth_at,
                    needs_two_factor,
                    token: None,
                    scope: AgentScope::unrestricted(),
                },
            ))
        });
        if let Err(IdentityError::NotFound) = &result {
            self.audit.append_denial(
                &self.store,
                ctx,
                &AuditEvent::AccessDenied {
                    target: format!("team:{team}"),
                    reason: "not_a_member".into(),
                },
            )?;
        }
        result
    }

    /// Starts a session for `user` in `team` inside `tx`; returns the id (to send as the
    /// cookie, never stored) and the principal.
    pub(super) fn start_session_in(
        &self,
        tx: &mut WriteTx,
        ctx: &AuditContext,
        user: &UserRow,
        team: TeamId,
        role: Role,
    ) -> Result<(Secret<String>, Principal), IdentityError> {
        let id = token::session_id();
        let hash = token::token_hash_hex(id.expose());
        let now = self.clock.now().unix_timestamp();
        let row = SessionRow {
            user: user.id.clone(),
            team: team.clone(),
            created: now,
            last_seen: now,
            reauth_at: Some(now),
            ip: ctx.source_ip.map(|ip| ip.to_string()),
        };
        tx.put_row(Table::Sessions, &hash, &row)?;
        tx.put_row(Table::UserSessions, &format!("{}/{hash}", user.id), &())?;
        let ctx = AuditContext {
            actor: Actor::User(user.id.0.clone()),
            team: Some(team.clone()),
            ..ctx.clone()
        };
        self.audit.append(
            tx,
            &ctx,
            &AuditEvent::LoginSucceeded {
                email: user.email.clone(),
            },
        )?;
        let principal = Principal {
            user: user.id.clone(),
            email: user.email.clone(),
            team,
            role,
            session: Some(hash),
            reauth_at: Some(now),
            needs_two_factor: self.needs_two_factor(user, role),
            token: None,
            scope: AgentScope::unrestricted(),
        };
        Ok((id, principal))
    }

    /// The principal behind a session cookie, or `None` when the session is unknown,
    /// expired, its user disabled or no longer a member of its team. Expired sessions are
    /// deleted; a live one has its `last_seen` refreshed (at most once a minute).
    pub fn session_principal(&self, session_id: &str) -> Result<Option<Principal>, IdentityError> {
        let hash = token::token_hash_hex(session_id);
        let now = self.clock.now().unix_timestamp();
        let found = self.store.read(|tx| {
            let Some(row) = tx.row::<SessionRow>(Table::Sessions, &hash)? else {
                return Ok::<_, IdentityError>(None);
            };
            let user: Option<UserRow> = tx.row(Table::Users, &row.user.0)?;
            let member: Option<MembershipRow> =
                tx.row(Table::Memberships, &format!("{}/{}", row.team, row.user))?;
            Ok(Some((row, user, member)))
        })?;
        let Some((row, user, member)) = found else {
            return Ok(None);
        };
        let expired = now - row.created >= ABSOLUTE_TTL_SECS
            || now - row.last_seen >= IDLE_TTL_SECS
            || now < row.created;
        let (Some(user), Some(member), false) = (user, member, expired) else {
            self.store
                .write(|tx| delete_session_in(tx, &row.user, &hash))?;
            return Ok(None);
        };
        if user.disabled {
            self.store
                .write(|tx| delete_session_in(tx, &row.user, &hash))?;
            return Ok(None);
        }
        if now - row.last_seen >= TOUCH_EVERY_SECS {
            let touched = SessionRow {
                last_seen: now,
                ..row.clone()
            };
            self.store
                .write(|tx| tx.put_row(Table::Sessions, &hash, &touched))?;
        }
        let needs_two_factor = self.needs_two_factor(&user, member.role);
        Ok(Some(Principal {
            user: user.id,
            email: user.email,
            team: row.team,
            role: member.role,
            session: Some(hash),
            reauth_at: row.reauth_at,
            needs_two_factor,
            token: None,
            scope: AgentScope::unrestricted(),
        }))
    }

    /// Ends the principal's session (logout).
    pub fn end_session(
        &self,
        principal: &Principal,
        ctx: &AuditContext,
    ) -> Result<(), IdentityError> {
        let Some(hash) = principal.session_hash() else {
            return Ok(());
        };
        self.store.write(|tx| {
            delete_session_in(tx, principal.user(), hash)?;
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::Logout {
                    email: principal.email().to_string(),
                },
            )?;
            Ok(())
        })
    }
}

/// Deletes one session and its index entry.
pub(super) fn delete_session_in(
    tx: &mut WriteTx,
    user: &UserId,
    hash: &str,
) -> Result<(), crate::store::StoreError> {
    tx.delete_row(Table::Sessions, hash)?;
    tx.delete_row(Table::UserSessions, &format!("{user}/{hash}"))?;
    Ok(())
}

/// Deletes every session of `user` (disable, password change); returns how many.
pub(super) fn delete_user_sessions_in(
    tx: &mut WriteTx,
    user: &UserId,
) -> Result<usize, crate::store::StoreError> {
    let keys: Vec<(String, ())> = tx.rows(Table::UserSessions, &format!("{user}/"))?;
    for (key, ()) in &keys {
        if let Some(hash) = key.rsplit('/').next() {
            delete_session_in(tx, user, hash)?;
        }
    }
    Ok(keys.len())
}
