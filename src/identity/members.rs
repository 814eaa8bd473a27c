//! A team's members and their roles, managed through the API and panel. Every query takes
//! the team from the principal; a user outside it answers `NotFound`, the same as a user
//! that does not exist, and the attempt is audited.

use serde::Serialize;

use super::admin::{normalize_email, Identity, UserAdded};
use super::error::IdentityError;
use super::rows::{MembershipRow, TeamRow, UserRow};
use super::session::Principal;
use crate::audit::{AuditContext, AuditEvent};
use crate::model::{Role, UserId};
use crate::policy::{allows, can_assign, Action};
use crate::store::{Table, WriteTx};

/// A member as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The user id.
    pub id: UserId,
    /// Their email.
    pub email: String,
    /// Their role in this team.
    pub role: Role,
    /// Whether they can sign in.
    pub disabled: bool,
    /// Whether they enrolled TOTP.
    pub two_factor: bool,
}

fn member(user: UserRow, role: Role) -> Member {
    Member {
        two_factor: user.totp_sealed.is_some(),
        id: user.id,
        email: user.email,
        role,
        disabled: user.disabled,
    }
}

impl Identity {
    /// The principal's team's members.
    pub fn list_members(&self, p: &Principal) -> Result<Vec<Member>, IdentityError> {
        if !allows(p.role(), Action::View) {
            return Err(IdentityError::Forbidden);
        }
        Ok(self.store.read(|tx| {
            let mut out = Vec::new();
            for (key, m) in
                tx.rows::<MembershipRow>(Table::Memberships, &format!("{}/", p.team()))?
            {
                let user_id = key.rsplit('/').next().unwrap_or_default();
                if let Some(user) = tx.row::<UserRow>(Table::Users, user_id)? {
                    out.push(member(user, m.role));
                }
            }
            out.sort_by(|a, b| a.email.cmp(&b.email));
            Ok::<_, crate::store::StoreError>(out)
        })?)
    }

    /// Adds `email` to the principal's team with `role` (a new account needs
    /// `password_phc`). Owners and admins only; admins cannot add owners.
    pub fn add_member(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        email: &str,
        role: Role,
        password_phc: Option<String>,
    ) -> Result<Member, IdentityError> {
        p.check_can_act()?;
        if !can_assign(p.role(), None, Some(role)) {
            return Err(IdentityError::Forbidden);
        }
        let email = normalize_email(email)?;
        self.store.write(|tx| {
            let team: TeamRow = tx
                .row(Table::Teams, &p.team().0)?
                .ok_or(IdentityError::NotFound)?;
            let outcome = self.add_user_in(tx, ctx, &team, &email, role, password_phc.clone())?;
            let id = match outcome {
                UserAdded::Created(id) | UserAdded::Joined(id) => id,
            };
            let user: UserRow = tx
                .row(Table::Users, &id.0)?
                .ok_or(IdentityError::NotFound)?;
            Ok(member(user, role))
        })
    }

    /// Changes a member's role. Needs a fresh re-auth; admins cannot touch owners; the
    /// last owner cannot be demoted.
    pub fn change_role(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        user: &UserId,
        role: Role,
    ) -> Result<Member, IdentityError> {
        p.check_can_act()?;
        let result = self.store.write(|tx| {
            let (row, old) = self.member_of_team(tx, p, user)?;
            if !can_assign(p.role(), Some(old), Some(role)) {
                return Err(IdentityError::Forbidden);
            }
            if !p.reauthenticated(self.clock.now().unix_timestamp()) {
                return Err(IdentityError::ReauthRequired);
            }
            if old == Role::Owner && role != Role::Owner && owners(tx, p)? <= 1 {
                return Err(IdentityError::Invalid(
                    "a team keeps at least one owner".into(),
                ));
            }
            let m = MembershipRow { role };
            tx.put_row(Table::Memberships, &format!("{}/{user}", p.team()), &m)?;
            tx.put_row(Table::MemberOf, &format!("{user}/{}", p.team()), &m)?;
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::RoleChanged {
                    user: user.0.clone(),
                    email: row.email.clone(),
                    from: old,
                    to: role,
                },
            )?;
            Ok(member(row, role))
        });
        self.denied(ctx, user, result)
    }

    /// Removes a member from the principal's team (their sessions in it end at once).
    pub fn remove_member(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        user: &UserId,
    ) -> Result<(), IdentityError> {
        p.check_can_act()?;
        let result = self.store.write(|tx| {
            let (row, old) = self.member_of_team(tx, p, user)?;
            if !can_assign(p.role(), Some(old), None) {
                return Err(IdentityError::Forbidden);
            }
            if old == Role::Owner && owners(tx, p)? <= 1 {
                return Err(IdentityError::Invalid(
                    "a team keeps at least one owner".into(),
                ));
            }
            tx.delete_row(Table::Memberships, &format!("{}/{user}", p.team()))?;
            tx.delete_row(Table::MemberOf, &format!("{user}/{}", p.team()))?;
            super::tokens::delete_member_tokens_in(tx, p.team(), user)?;
            self.audit.append(
                tx,
                ctx,
                &AuditEvent::MembershipRevoked {
                    user: user.0.clone(),
                    email: row.email,
                },
            )?;
            Ok(())
        });
        self.denied(ctx, user, result)
    }

    /// The user and their role in the principal's team; otherwise `NotFound` (the caller
    /// audits it through `denied`).
    fn member_of_team(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        user: &UserId,
    ) -> Result<(UserRow, Role), IdentityError> {
        let m: Option<MembershipRow> =
            tx.row(Table::Memberships, &format!("{}/{user}", p.team()))?;
        let row: Option<UserRow> = tx.row(Table::Users, &user.0)?;
        match (m, row) {
            (Some(m), Some(row)) => Ok((row, m.role)),
            _ => Err(IdentityError::NotFound),
        }
    }

    /// Passes `result` through; a `NotFound` is first audited as a denied access, in a
    /// transaction of its own (the refused one was rolled back). The record says whether
    /// the user exists in another team; the answer never does.
    fn denied<T>(
        &self,
        ctx: &AuditContext,
        user: &UserId,
        result: Result<T, IdentityError>,
    ) -> Result<T, IdentityError> {
        if let Err(IdentityError::NotFound) = &result {
            let exists = self
                .store
                .read(|tx| tx.row::<UserRow>(Table::Users, &user.0))?
                .is_some();
            self.audit.append_denial(
                &self.store,
                ctx,
                &AuditEvent::AccessDenied {
                    target: format!("user:{user}"),
                    reason: if exists { "other_team" } else { "missing" }.into(),
                },
            )?;
        }
        result
    }
}

fn owners(tx: &WriteTx, p: &Principal) -> Result<usize, IdentityError> {
    Ok(tx
        .rows::<MembershipRow>(Table::Memberships, &format!("{}/", p.team()))?
        .iter()
        .filter(|(_, m)| m.role == Role::Owner)
        .count())
}
