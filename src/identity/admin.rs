//! Teams, users and memberships: creating and changing them, each change audited in its own
//! transaction. Used by the break-glass CLI today and by the panel and API as they land.

use std::sync::Arc;

use crate::audit::{AuditContext, AuditEvent, AuditLog};
use crate::clock::{rfc3339, SharedClock};
use crate::crypto::password::HashPool;
use crate::crypto::ColumnSealer;
use crate::model::{Role, TeamId, UserId};
use crate::policy::{LoginThrottle, ThrottleConfig};
use crate::store::{Store, Table, WriteTx};

use super::error::IdentityError;
use super::rows::{MembershipRow, TeamRow, UserRow};

/// The identity service.
pub struct Identity {
    pub(super) store: Arc<Store>,
    pub(super) audit: Arc<AuditLog>,
    pub(super) clock: SharedClock,
    pub(super) pool: Arc<HashPool>,
    pub(super) throttle: LoginThrottle,
    pub(super) pending: super::pending::PendingLogins,
    pub(super) totp_sealer: ColumnSealer,
    pub(super) require_two_factor: bool,
}

/// What `add_user` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAdded {
    /// A new user was created with the given password and joined the team.
    Created(UserId),
    /// The user existed; they joined the team and their password is unchanged.
    Joined(UserId),
}

/// Lowercases and checks an email address.
pub fn normalize_email(email: &str) -> Result<String, IdentityError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(e)
    } else {
        Err(IdentityError::Invalid(format!(
            "{email:?} is not an email address"
        )))
    }
}

fn check_team_name(name: &str) -> Result<String, IdentityError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(IdentityError::Invalid(
            "a team name is 1 to 64 printable characters".into(),
        ));
    }
    Ok(n.to_string())
}

impl Identity {
    /// The service over `store`, auditing to `audit`, hashing on `pool`, throttling
    /// sign-ins by `throttle`, sealing TOTP secrets with `totp_sealer`. With
    /// `require_two_factor`, owners and admins cannot act until they enroll TOTP.
    pub fn new(
        store: Arc<Store>,
        audit: Arc<AuditLog>,
        clock: SharedClock,
        pool: Arc<HashPool>,
        throttle: ThrottleConfig,
        totp_sealer: ColumnSealer,
        require_two_factor: bool,
    ) -> Self {
        Self {
            store,
            audit,
            clock,
            pool,
            throttle: LoginThrottle::new(throttle),
            pending: super::pending::PendingLogins::default(),
            totp_sealer,
            require_two_factor,
        }
    }

    /// The password hashing pool.
    pub fn pool(&self) -> &Arc<HashPool> {
        &self.pool
    }

    /// Creates a team.
    pub fn create_team(&self, ctx: &AuditContext, name: &str) -> Result<TeamId, IdentityError> {
        self.store
            .write(|tx| self.create_team_in(tx, ctx, name))
            .map(|team| team.id)
    }

    /// Creates a team inside `tx`.
    pub(super) fn create_team_in(
        &self,
        tx: &mut WriteTx,
        ctx: &AuditContext,
        name: &str,
    ) -> Result<TeamRow, IdentityError> {
        let name = check_team_name(name)?;
        let key = name.to_lowercase();
        if tx.row::<TeamId>(Table::TeamNames, &key)?.is_some() {
            return Err(IdentityError::TeamExists(name));
        }
        let id = TeamId(format!("team_{}", crate::crypto::random::hex_id()));
        let row = TeamRow {
            id: id.clone(),
            name: name.clone(),
            created: rfc3339(self.clock.now()),
        };
        tx.put_row(Table::Teams, &id.0, &row)?;
        tx.put_row(Table::TeamNames, &key, &id)?;
        let ctx = AuditContext {
            team: Some(id),
            ..ctx.clone()
        };
        self.audit
            .append(tx, &ctx, &AuditEvent::TeamCreated { name })?;
        Ok(row)
    }

    /// Adds `email` to the team named `team` with `role`. A new user needs `password_phc`
    /// (an Argon2id hash of a password that passed `check_new_password`); an existing user
    /// keeps their password.
    pub fn add_user(
        &self,
        ctx: &AuditContext,
        team: &str,
        email: &str,
        role: Role,
        password_phc: Option<String>,
    ) -> Result<UserAdded, IdentityError> {
        self.store.write(|tx| {
            let team_row = team_by_name(tx, team)?;
            self.add_user_in(tx, ctx, &team_row, email, role, password_phc)
        })
    }

    /// Adds a user to `team_row` inside `tx` (see [`Identity::add_user`]).
    pub(super) fn add_user_in(
        &self,
        tx: &mut WriteTx,
        ctx: &AuditContext,
        team_row: &TeamRow,
        email: &str,
        role: Role,
        password_phc: Option<String>,
    ) -> Result<UserAdded, IdentityError> {
        let email = normalize_email(email)?;
        {
            let existing: Option<UserId> = tx.row(Table::UserEmails, &email)?;
            let (user_id, outcome) = match existing {
                Some(id) => {
                    let key = format!("{}/{}", team_row.id, id);
                    if tx.row::<MembershipRow>(Table::Memberships, &key)?.is_some() {
                        return Err(IdentityError::AlreadyMember {
                            email: email.clone(),
                            team: team_row.name.clone(),
                        });
                    }
                    (id.clone(), UserAdded::Joined(id))
                }
                None => {
                    let phc = password_phc
                        .clone()
                        .ok_or(IdentityError::PasswordRequired)?;
                    let id = UserId(format!("user_{}", crate::crypto::random::hex_id()));
                    let row = UserRow {
                        id: id.clone(),
                        email: email.clone(),
                        password_phc: phc,
                        disabled: false,
                        totp_sealed: None,
                        totp_last_step: None,
                        totp_pending: None,
                        totp_failures: 0,
                        totp_fail_step: 0,
                        created: rfc3339(self.clock.now()),
                    };
                    tx.put_row(Table::Users, &id.0, &row)?;
                    tx.put_row(Table::UserEmails, &email, &id)?;
                    let ctx = AuditContext {
                        team: Some(team_row.id.clone()),
                        ..ctx.clone()
                    };
                    self.audit.append(
                        tx,
                        &ctx,
                        &AuditEvent::UserCreated {
                            user: id.0.clone(),
                            email: email.clone(),
                        },
                    )?;
                    (id.clone(), UserAdded::Created(id))
                }
            };
            let membership = MembershipRow { role };
            tx.put_row(
                Table::Memberships,
                &format!("{}/{}", team_row.id, user_id),
                &membership,
            )?;
            tx.put_row(
                Table::MemberOf,
                &format!("{}/{}", user_id, team_row.id),
                &membership,
            )?;
            let ctx = AuditContext {
                team: Some(team_row.id.clone()),
                ..ctx.clone()
            };
            self.audit.append(
                tx,
                &ctx,
                &AuditEvent::MembershipGranted {
                    user: user_id.0.clone(),
                    email: email.clone(),
                    role,
                },
            )?;
            Ok(outcome)
        }
    }

    /// Disables a user: they can no longer sign in.
    pub fn disable_user(&self, ctx: &AuditContext, email: &str) -> Result<(), IdentityError> {
        self.change_user(ctx, email, |user| {
            user.disabled = true;
            AuditEvent::UserDisabled {
                user: user.id.0.clone(),
                email: user.email.clone(),
            }
        })
    }

    /// Removes a user's TOTP enrollment so they can enroll again (recovery codes go with it).
    pub fn reset_two_factor(&self, ctx: &AuditContext, email: &str) -> Result<(), IdentityError> {
        self.change_user(ctx, email, |user| {
            user.totp_sealed = None;
            user.totp_last_step = None;
            user.totp_pending = None;
            user.totp_failures = 0;
            AuditEvent::TwoFactorReset {
                user: user.id.0.clone(),
                email: user.email.clone(),
            }
        })
    }

    fn change_user(
        &self,
        ctx: &AuditContext,
        email: &str,
        change: impl FnOnce(&mut UserRow) -> AuditEvent,
    ) -> Result<(), IdentityError> {
        let email = normalize_email(email)?;
        self.store.write(|tx| {
            let id: UserId = tx
                .row(Table::UserEmails, &email)?
                .ok_or_else(|| IdentityError::NoSuchUser(email.clone()))?;
            let mut user: UserRow = tx
                .row(Table::Users, &id.0)?
                .ok_or_else(|| IdentityError::NoSuchUser(email.clone()))?;
            let event = change(&mut user);
            tx.put_row(Table::Users, &id.0, &user)?;
            if user.disabled {
                super::session::delete_user_sessions_in(tx, &user.id)?;
            }
            if user.totp_sealed.is_none() {
                super::two_factor::delete_recovery_codes_in(tx, &user.id)?;
            }
            self.audit.append(tx, ctx, &event)?;
            Ok(())
        })
    }

    /// A user by email.
    pub fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, IdentityError> {
        let email = normalize_email(email)?;
        Ok(self
            .store
            .read(|tx| match tx.row::<UserId>(Table::UserEmails, &email)? {
                Some(id) => tx.row(Table::Users, &id.0),
                None => Ok(None),
            })?)
    }

    /// The id of the team named `name` (case-insensitively).
    pub fn team_id_by_name(&self, name: &str) -> Result<TeamId, IdentityError> {
        let missing = || IdentityError::NoSuchTeam(name.trim().to_string());
        let id: Option<TeamId> = self
            .store
            .read(|tx| tx.row(Table::TeamNames, &name.trim().to_lowercase()))?;
        id.ok_or_else(missing)
    }

    /// The teams `user` belongs to, with the role in each.
    pub fn memberships(&self, user: &UserId) -> Result<Vec<(TeamRow, Role)>, IdentityError> {
        Ok(self.store.read(|tx| {
            let mut out = Vec::new();
            for (key, m) in tx.rows::<MembershipRow>(Table::MemberOf, &format!("{user}/"))? {
                let team_id = key.rsplit('/').next().unwrap_or_default();
                if let Some(team) = tx.row::<TeamRow>(Table::Teams, team_id)? {
                    out.push((team, m.role));
                }
            }
            Ok::<_, crate::store::StoreError>(out)
        })?)
    }
}

fn team_by_name(tx: &WriteTx, name: &str) -> Result<TeamRow, IdentityError> {
    let missing = || IdentityError::NoSuchTeam(name.trim().to_string());
    let id: TeamId = tx
        .row(Table::TeamNames, &name.trim().to_lowercase())?
        .ok_or_else(missing)?;
    tx.row(Table::Teams, &id.0)?.ok_or_else(missing)
}
