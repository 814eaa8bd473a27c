//! A user's own account: their sessions (listed, revocable) and their password.

use serde::Serialize;

use super::admin::Identity;
use super::error::IdentityError;
use super::rows::UserRow;
use super::session::{delete_session_in, delete_user_sessions_in, Principal, SessionRow};
use crate::audit::{AuditContext, AuditEvent};
use crate::store::Table;

/// A session as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// The SHA-256 of the session id (a handle for revoking; useless as a cookie).
    pub id: String,
    /// Unix seconds of sign-in.
    pub created: i64,
    /// Unix seconds of the last request (to the minute).
    pub last_seen: i64,
    /// Address at sign-in.
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl Identity {
    /// The principal's own sessions, newest first.
    pub fn list_sessions(&self, p: &Principal) -> Result<Vec<SessionInfo>, IdentityError> {
        let mut out = self.store.read(|tx| {
            let mut out = Vec::new();
            for (key, ()) in tx.rows::<()>(Table::UserSessions, &format!("{}/", p.user()))? {
                let hash = key.rsplit('/').next().unwrap_or_default().to_string();
                if let Some(s) = tx.row::<SessionRow>(Table::Sessions, &hash)? {
                    out.push(SessionInfo {
                        current: p.session_hash() == Some(hash.as_str()),
                        id: hash,
                        created: s.created,
                        last_seen: s.last_seen,
                        ip: s.ip,
                    });
                }
            }
            Ok::<_, crate::store::StoreError>(out)
        })?;
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    /// Ends one of the principal's own sessions; another user's (or a missing) session is
    /// `NotFound`.
    pub fn revoke_session(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<(), IdentityError> {
        self.store.write(|tx| {
            let key = format!("{}/{id}", p.user());
            if tx.row::<()>(Table::UserSessions, &key)?.is_none() {
                return Err(IdentityError::NotFound);
            }
            delete_session_in(tx, p.user(), id)?;
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::SessionRevoked {
                    email: p.email().to_string(),
                },
            )?;
            Ok(())
        })
    }

    /// Sets a new password (the caller verified the current one and checked and hashed the
    /// new one). With `end_other_sessions`, every other session of the user ends.
    pub fn change_password(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        new_phc: String,
        end_other_sessions: bool,
    ) -> Result<usize, IdentityError> {
        self.store.write(|tx| {
            let mut user: UserRow = tx
                .row(Table::Users, &p.user().0)?
                .ok_or(IdentityError::NotFound)?;
            user.password_phc = new_phc.clone();
            tx.put_row(Table::Users, &user.id.0, &user)?;
            let mut ended = 0;
            if end_other_sessions {
                let current = p.session_hash().map(str::to_string);
                let keep: Option<SessionRow> = match &current {
                    Some(h) => tx.row(Table::Sessions, h)?,
                    None => None,
                };
                ended = delete_user_sessions_in(tx, p.user())?;
                if let (Some(h), Some(row)) = (current, keep) {
                    tx.put_row(Table::Sessions, &h, &row)?;
                    tx.put_row(Table::UserSessions, &format!("{}/{h}", p.user()), &())?;
                    ended -= 1;
                }
            }
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::PasswordChanged {
                    email: user.email.clone(),
                    other_sessions_ended: ended as u64,
                },
            )?;
            Ok(ended)
        })
    }

    /// Whether `password` is the principal's current password (on the bounded pool).
    pub async fn verify_own_password(
        &self,
        p: &Principal,
        password: crate::crypto::Secret<String>,
    ) -> Result<bool, IdentityError> {
        let phc = self
            .store
            .read(|tx| tx.row::<UserRow>(Table::Users, &p.user().0))?
            .map(|u| u.password_phc);
        self.pool
            .verify(password, phc)
            .await
            .map_err(|e| IdentityError::Hash(e.to_string()))
    }
}
