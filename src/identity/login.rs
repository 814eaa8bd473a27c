//! Signing in: throttling first, then Argon2id on the bounded pool (unknown users cost the
//! same hash), then a new session. Every refusal gives the caller one answer and the audit
//! log the real reason.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::admin::{normalize_email, Identity};
use super::error::IdentityError;
use super::rows::UserRow;
use super::session::Principal;
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::password::{PoolError, MAX_PASSWORD_BYTES};
use crate::crypto::Secret;
use crate::model::Actor;
use crate::policy::LoginGate;

use super::two_factor::SecondFactor;

/// A sign-in attempt.
pub struct LoginRequest {
    /// The email typed.
    pub email: String,
    /// The password typed.
    pub password: Secret<String>,
    /// The TOTP or recovery code, when the user has two-factor on.
    pub second_factor: Option<String>,
    /// The peer's address.
    pub ip: Option<IpAddr>,
    /// The request id, for the audit record.
    pub request_id: Option<String>,
}

/// How a sign-in attempt ended.
pub enum LoginOutcome {
    /// Signed in: send `session_id` as the session cookie.
    SignedIn {
        /// The new session's id (never stored; only its hash is).
        session_id: Secret<String>,
        /// Who signed in, in which team.
        principal: Principal,
    },
    /// Wrong, unknown, disabled or locked: one answer for all.
    Refused,
    /// The password was right and the user has two-factor on: ask for the code. `pending`
    /// (single use, 5 minutes, this address only) lets a second step finish the sign-in
    /// without sending the password again.
    SecondFactorRequired {
        /// The pending sign-in's handle.
        pending: Secret<String>,
    },
    /// This source IP is spraying: 429 with `Retry-After`.
    Throttled {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The hashing pool is saturated: 503 with `Retry-After`.
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

impl Identity {
    /// Runs a sign-in attempt.
    pub async fn login(self: &Arc<Self>, req: LoginRequest) -> Result<LoginOutcome, IdentityError> {
        let email = req.email.trim().to_lowercase();
        let ip = req.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ctx = AuditContext {
            source_ip: req.ip,
            request_id: req.request_id.clone(),
            ..AuditContext::actor(Actor::Anonymous)
        };
        match self.throttle.check(&email, ip, self.clock.now()) {
            LoginGate::TooManyRequests { retry_after } => {
                self.refuse(&ctx, &email, "throttled").await?;
                return Ok(LoginOutcome::Throttled {
                    retry_after_secs: retry_after.as_secs().max(1),
                });
            }
            LoginGate::Locked { .. } => {
                self.refuse(&ctx, &email, "locked").await?;
                return Ok(LoginOutcome::Refused);
            }
            LoginGate::Allow { delay } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
        }
        if req.password.expose().len() > MAX_PASSWORD_BYTES {
            return self.fail(&ctx, &email, ip, "oversized_password").await;
        }
        let user: Option<UserRow> = match normalize_email(&email) {
            Ok(e) => self.blocking(move |id| id.user_by_email(&e)).await?,
            Err(_) => None,
        };
        let phc = user.as_ref().map(|u| u.password_phc.clone());
        let matched = match self.pool.verify(req.password, phc).await {
            Ok(m) => m,
            Err(PoolError::Busy { retry_after_secs }) => {
                return Ok(LoginOutcome::Busy { retry_after_secs })
            }
            Err(e) => return Err(IdentityError::Hash(e.to_string())),
        };
        let user = match (user, matched) {
            (None, _) => return self.fail(&ctx, &email, ip, "unknown_user").await,
            (Some(_), false) => return self.fail(&ctx, &email, ip, "bad_password").await,
            (Some(u), true) if u.disabled => return self.fail(&ctx, &email, ip, "disabled").await,
            (Some(u), true) => u,
        };
        if user.totp_sealed.is_some() {
            let Some(code) = req.second_factor else {
                let pending = self
                    .pending
                    .insert(&user.id, ip, self.clock.now().unix_timestamp());
                return Ok(LoginOutcome::SecondFactorRequired { pending });
            };
            if let Some(refusal) = self.second_factor(&ctx, &email, ip, &user, code).await? {
                return Ok(refusal);
            }
        }
        self.finish_login(ctx, email, ip, user).await
    }

    /// The second step of a panel sign-in: the pending handle from the first step and a
    /// code. An unknown, expired, used or foreign-address handle is refused like a wrong
    /// password.
    pub async fn login_second_step(
        self: &Arc<Self>,
        pending: &str,
        code: String,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<LoginOutcome, IdentityError> {
        let ip_or = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ctx = AuditContext {
            source_ip: ip,
            request_id,
            ..AuditContext::actor(Actor::Anonymous)
        };
        let now = self.clock.now().unix_timestamp();
        let Some(user_id) = self.pending.take(pending, ip_or, now) else {
            self.refuse(&ctx, "", "unknown_pending_login").await?;
            return Ok(LoginOutcome::Refused);
        };
        let uid = user_id.0.clone();
        let user: Option<UserRow> = self
            .blocking(move |id| {
                Ok(id
                    .store
                    .read(|tx| tx.row(crate::store::Table::Users, &uid))?)
            })
            .await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Ok(LoginOutcome::Refused);
        };
        let email = user.email.clone();
        match self.throttle.check(&email, ip_or, self.clock.now()) {
            LoginGate::Allow { .. } => {}
            _ => {
                self.refuse(&ctx, &email, "locked").await?;
                return Ok(LoginOutcome::Refused);
            }
        }
        if let Some(refusal) = self.second_factor(&ctx, &email, ip_or, &user, code).await? {
            return Ok(refusal);
        }
        self.finish_login(ctx, email, ip_or, user).await
    }

    /// Checks the code; `Some(outcome)` is a refusal to return.
    async fn second_factor(
        self: &Arc<Self>,
        ctx: &AuditContext,
        email: &str,
        ip: IpAddr,
        user: &UserRow,
        code: String,
    ) -> Result<Option<LoginOutcome>, IdentityError> {
        let uid = user.id.clone();
        match self
            .blocking(move |id| id.check_second_factor(&uid, &code))
            .await?
        {
            SecondFactor::Accepted => Ok(None),
            SecondFactor::Rejected => self
                .fail(ctx, email, ip, "bad_second_factor")
                .await
                .map(Some),
            SecondFactor::Locked => {
                self.refuse(ctx, email, "second_factor_locked").await?;
                Ok(Some(LoginOutcome::Refused))
            }
        }
    }

    async fn finish_login(
        self: &Arc<Self>,
        ctx: AuditContext,
        email: String,
        ip: IpAddr,
        user: UserRow,
    ) -> Result<LoginOutcome, IdentityError> {
        let user_id = user.id.clone();
        let teams = self.blocking(move |id| id.memberships(&user_id)).await?;
        let Some((team, role)) = teams.into_iter().next() else {
            return self.fail(&ctx, &email, ip, "no_team").await;
        };
        self.throttle.record_success(&email, ip, self.clock.now());
        let (session_id, principal) = self
            .blocking(move |id| {
                id.store
                    .write(|tx| id.start_session_in(tx, &ctx, &user, team.id, role))
            })
            .await?;
        Ok(LoginOutcome::SignedIn {
            session_id,
            principal,
        })
    }

    /// Counts a failure, audits it (and any lockout it starts) and refuses.
    async fn fail(
        self: &Arc<Self>,
        ctx: &AuditContext,
        email: &str,
        ip: IpAddr,
        reason: &str,
    ) -> Result<LoginOutcome, IdentityError> {
        let effects = self.throttle.record_failure(email, ip, self.clock.now());
        self.refuse(ctx, email, reason).await?;
        if effects.pair_locked {
            self.refuse(ctx, email, "lockout_started").await?;
        }
        if effects.ip_limited {
            self.refuse(ctx, email, "spraying_limited").await?;
        }
        Ok(LoginOutcome::Refused)
    }

    async fn refuse(
        self: &Arc<Self>,
        ctx: &AuditContext,
        email: &str,
        reason: &str,
    ) -> Result<(), IdentityError> {
        let ctx = ctx.clone();
        let event = AuditEvent::LoginFailed {
            email: email.chars().take(254).collect(),
            reason: reason.into(),
        };
        // A lockout or a spraying limit starting is recorded every time; the failures around
        // it are sampled, so a flood is counted rather than stored one by one.
        let significant = matches!(reason, "lockout_started" | "spraying_limited");
        self.blocking(move |id| {
            if significant {
                id.audit.append_alone(&id.store, &ctx, &event).map(|_| ())
            } else {
                id.audit.append_denial(&id.store, &ctx, &event).map(|_| ())
            }
            .map_err(IdentityError::from)
        })
        .await
    }

    /// Runs store work off the async threads.
    pub(super) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Identity) -> Result<T, IdentityError> + Send + 'static,
    ) -> Result<T, IdentityError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| IdentityError::Hash(format!("worker failed: {e}")))?
    }
}

impl Identity {
    /// Confirms the principal's password (and second factor when enrolled) and opens the
    /// 5-minute re-auth window. Failures count toward the sign-in throttle. `Ok(false)`:
    /// refused (one answer for every reason).
    pub async fn reauthenticate(
        self: &Arc<Self>,
        principal: &Principal,
        password: Secret<String>,
        second_factor: Option<String>,
        ip: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<bool, IdentityError> {
        let email = principal.email().to_string();
        let ip_or = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ctx = AuditContext {
            source_ip: ip,
            request_id,
            ..principal.audit_context()
        };
        if !matches!(
            self.throttle.check(&email, ip_or, self.clock.now()),
            LoginGate::Allow { .. }
        ) {
            self.refuse(&ctx, &email, "reauth_locked").await?;
            return Ok(false);
        }
        let uid = principal.user().0.clone();
        let user: Option<UserRow> = self
            .blocking(move |id| {
                Ok(id
                    .store
                    .read(|tx| tx.row(crate::store::Table::Users, &uid))?)
            })
            .await?;
        let Some(user) = user else {
            return Ok(false);
        };
        let ok = match self
            .pool
            .verify(password, Some(user.password_phc.clone()))
            .await
        {
            Ok(ok) => ok,
            Err(PoolError::Busy { .. }) => return Ok(false),
            Err(e) => return Err(IdentityError::Hash(e.to_string())),
        };
        if !ok {
            self.fail(&ctx, &email, ip_or, "reauth_bad_password")
                .await?;
            return Ok(false);
        }
        if user.totp_sealed.is_some() {
            let Some(code) = second_factor else {
                self.refuse(&ctx, &email, "reauth_missing_second_factor")
                    .await?;
                return Ok(false);
            };
            if self
                .second_factor(&ctx, &email, ip_or, &user, code)
                .await?
                .is_some()
            {
                return Ok(false);
            }
        }
        let p = principal.clone();
        self.blocking(move |id| {
            id.mark_reauthenticated(&p)?;
            id.audit
                .append_alone(&id.store, &ctx, &AuditEvent::Reauthenticated { email })?;
            Ok(())
        })
        .await?;
        Ok(true)
    }
}
