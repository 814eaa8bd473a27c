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

/// A sign-in attempt.
pub struct LoginRequest {
    /// The email typed.
    pub email: String,
    /// The password typed.
    pub password: Secret<String>,
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
        self.blocking(move |id| {
            id.audit
                .append_alone(&id.store, &ctx, &event)
                .map(|_| ())
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
