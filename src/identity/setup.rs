//! The first owner: while no team exists, `serve` issues a one-time setup code (shown on the
//! server's console, valid 1 hour, stored only as a hash) that lets `/setup` create the first
//! team and its owner. Once a team exists the code is gone and `/setup` answers 404.

use serde::{Deserialize, Serialize};

use super::admin::Identity;
use super::error::IdentityError;
use super::rows::{TeamRow, UserRow};
use super::session::Principal;
use crate::audit::{AuditContext, AuditEvent};
use crate::clock::rfc3339;
use crate::crypto::{ct_eq, token, Secret};
use crate::model::{Actor, Role, UserId};
use crate::store::{Table, WriteTx};

/// Seconds a setup code is valid.
pub const SETUP_CODE_TTL_SECS: i64 = 3600;
const KEY: &str = "code";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SetupRow {
    code_hash: String,
    expires: i64,
}

/// What the setup form submits.
pub struct SetupRequest {
    /// The one-time code from the console.
    pub code: Secret<String>,
    /// The first team's name.
    pub team: String,
    /// The owner's email.
    pub email: String,
    /// Argon2id hash of the owner's password (already checked by `check_new_password`).
    pub password_phc: String,
}

fn any_team(tx: &WriteTx) -> Result<bool, IdentityError> {
    Ok(!tx.rows::<TeamRow>(Table::Teams, "")?.is_empty())
}

impl Identity {
    /// Whether the first owner still has to be created.
    pub fn setup_pending(&self) -> Result<bool, IdentityError> {
        Ok(self
            .store
            .read(|tx| tx.rows::<TeamRow>(Table::Teams, ""))?
            .is_empty())
    }

    /// While no team exists, issues a fresh setup code (replacing any earlier one) and
    /// returns it for the console; `None` once setup is done.
    pub fn issue_setup_code(&self) -> Result<Option<Secret<String>>, IdentityError> {
        self.store.write(|tx| {
            if any_team(tx)? {
                tx.delete_row(Table::Setup, KEY)?;
                return Ok(None);
            }
            let code = token::setup_code();
            let expires = self.clock.now() + time::Duration::seconds(SETUP_CODE_TTL_SECS);
            let row = SetupRow {
                code_hash: hex::encode(token::code_hash(code.expose())),
                expires: expires.unix_timestamp(),
            };
            tx.put_row(Table::Setup, KEY, &row)?;
            self.audit.append(
                tx,
                &AuditContext::actor(Actor::System),
                &AuditEvent::SetupCodeIssued {
                    expires: rfc3339(expires),
                },
            )?;
            Ok(Some(code))
        })
    }

    /// Creates the first team and its owner if `req.code` is the live setup code, and signs
    /// the owner in. A wrong or expired code is audited and changes nothing else.
    pub fn complete_setup(
        &self,
        ctx: &AuditContext,
        req: SetupRequest,
    ) -> Result<(Secret<String>, Principal), IdentityError> {
        let outcome = self
            .store
            .write(|tx| -> Result<Result<_, &str>, IdentityError> {
                if any_team(tx)? {
                    return Ok(Err("setup is already complete"));
                }
                let row: Option<SetupRow> = tx.row(Table::Setup, KEY)?;
                let now = self.clock.now().unix_timestamp();
                let given = hex::encode(token::code_hash(req.code.expose()));
                let valid = row.as_ref().is_some_and(|r| {
                    ct_eq(r.code_hash.as_bytes(), given.as_bytes()) && now < r.expires
                });
                if !valid {
                    let reason = if row.as_ref().is_some_and(|r| now >= r.expires) {
                        "expired code"
                    } else {
                        "wrong code"
                    };
                    self.audit.append(
                        tx,
                        ctx,
                        &AuditEvent::SetupRefused {
                            reason: reason.into(),
                        },
                    )?;
                    return Ok(Err(reason));
                }
                let team = self.create_team_in(tx, ctx, &req.team)?;
                self.add_user_in(
                    tx,
                    ctx,
                    &team,
                    &req.email,
                    Role::Owner,
                    Some(req.password_phc.clone()),
                )?;
                tx.delete_row(Table::Setup, KEY)?;
                let email = super::admin::normalize_email(&req.email)?;
                let id: UserId = tx
                    .row(Table::UserEmails, &email)?
                    .ok_or_else(|| IdentityError::NoSuchUser(email.clone()))?;
                let user: UserRow = tx
                    .row(Table::Users, &id.0)?
                    .ok_or_else(|| IdentityError::NoSuchUser(email.clone()))?;
                let team_ctx = AuditContext {
                    team: Some(team.id.clone()),
                    ..ctx.clone()
                };
                self.audit.append(
                    tx,
                    &team_ctx,
                    &AuditEvent::SetupCompleted {
                        email: email.clone(),
                    },
                )?;
                Ok(Ok(self.start_session_in(
                    tx,
                    ctx,
                    &user,
                    team.id,
                    Role::Owner,
                )?))
            })?;
        outcome.map_err(|reason| IdentityError::SetupRefused(reason.into()))
    }
}
