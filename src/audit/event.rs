//! What can be audited. One enum: the action name, target and details of every record come
//! from here, so there is no second list of action names to keep in step.

use serde::Serialize;

use crate::model::Role;

/// An auditable event. The serde tag is the record's `action`; the fields are its `detail`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", content = "detail")]
pub enum AuditEvent {
    /// `tundra init` (or the first `serve`) created the data dir, keys and store.
    #[serde(rename = "appliance.initialized")]
    ApplianceInitialized {
        /// SHA-256 fingerprint of the internal agent CA.
        agent_ca_sha256: String,
        /// The audit signing key's public half (hex).
        audit_public_key: String,
    },
    /// `serve` started and is about to accept connections.
    #[serde(rename = "appliance.started")]
    ApplianceStarted {
        /// The binary's version.
        version: String,
    },
    /// `serve` drained and stopped.
    #[serde(rename = "appliance.stopped")]
    ApplianceStopped {
        /// What asked it to stop (e.g. `SIGTERM`).
        reason: String,
    },
    /// A team was created.
    #[serde(rename = "team.created")]
    TeamCreated {
        /// Its name.
        name: String,
    },
    /// A user account was created.
    #[serde(rename = "user.created")]
    UserCreated {
        /// The new user's id.
        user: String,
        /// Their email.
        email: String,
    },
    /// A user joined the team with a role.
    #[serde(rename = "membership.granted")]
    MembershipGranted {
        /// The user's id.
        user: String,
        /// Their email.
        email: String,
        /// The role granted.
        role: Role,
    },
    /// A user was disabled.
    #[serde(rename = "user.disabled")]
    UserDisabled {
        /// The user's id.
        user: String,
        /// Their email.
        email: String,
    },
    /// A user's two-factor enrollment was removed.
    #[serde(rename = "user.two_factor_reset")]
    TwoFactorReset {
        /// The user's id.
        user: String,
        /// Their email.
        email: String,
    },
    /// A user turned two-factor on (or replaced their TOTP key).
    #[serde(rename = "user.two_factor_enrolled")]
    TwoFactorEnrolled {
        /// Their email.
        email: String,
    },
    /// A member's role changed.
    #[serde(rename = "membership.role_changed")]
    RoleChanged {
        /// The member's user id.
        user: String,
        /// Their email.
        email: String,
        /// The old role.
        from: Role,
        /// The new role.
        to: Role,
    },
    /// A member was removed from the team.
    #[serde(rename = "membership.revoked")]
    MembershipRevoked {
        /// The member's user id.
        user: String,
        /// Their email.
        email: String,
    },
    /// A request named an object outside the caller's team or its token's agent scope (or a
    /// missing one) and got 404.
    #[serde(rename = "access.denied")]
    AccessDenied {
        /// The object named.
        target: String,
        /// `other_team`, `missing`, `not_a_member` (switching to a team one is not in) or
        /// `out_of_scope` (an agent in the team but outside the agent/tag restriction of
        /// the API token used); the caller is never told which.
        reason: String,
    },
    /// A user ended one of their sessions.
    #[serde(rename = "auth.session_revoked")]
    SessionRevoked {
        /// Their email.
        email: String,
    },
    /// A user changed their password.
    #[serde(rename = "user.password_changed")]
    PasswordChanged {
        /// Their email.
        email: String,
        /// How many other sessions were ended with it.
        other_sessions_ended: u64,
    },
    /// A user switched their session to another of their teams.
    #[serde(rename = "auth.team_switched")]
    TeamSwitched {
        /// Their email.
        email: String,
    },
    /// A user confirmed their password (and second factor) for sensitive actions.
    #[serde(rename = "auth.reauthenticated")]
    Reauthenticated {
        /// Their email.
        email: String,
    },
    /// A user signed in.
    #[serde(rename = "auth.login_succeeded")]
    LoginSucceeded {
        /// Their email.
        email: String,
    },
    /// A sign-in was refused. The reason is for the audit log only; the client always
    /// hears the same answer.
    #[serde(rename = "auth.login_failed")]
    LoginFailed {
        /// The email that was tried (lowercased; may not exist).
        email: String,
        /// `bad_password`, `unknown_user`, `disabled`, `no_team`, `locked`, `throttled`,
        /// `lockout_started` or `spraying_limited`.
        reason: String,
    },
    /// A user signed out.
    #[serde(rename = "auth.logout")]
    Logout {
        /// Their email.
        email: String,
    },
    /// A one-time setup code for the first owner was issued (the code itself is not logged).
    #[serde(rename = "setup.code_issued")]
    SetupCodeIssued {
        /// When it expires (RFC 3339).
        expires: String,
    },
    /// The first team and owner were created through the setup page.
    #[serde(rename = "setup.completed")]
    SetupCompleted {
        /// The owner's email.
        email: String,
    },
    /// A setup attempt was refused (wrong or expired code).
    #[serde(rename = "setup.refused")]
    SetupRefused {
        /// Why.
        reason: String,
    },
    /// A mutating request came without a valid CSRF token and was refused.
    #[serde(rename = "request.csrf_refused")]
    CsrfRefused {
        /// The method and path.
        request: String,
    },
    /// An API token was issued (its value is never logged).
    #[serde(rename = "api_token.created")]
    ApiTokenCreated {
        /// The token's id.
        token: String,
        /// Its name.
        name: String,
        /// Its role.
        role: Role,
        /// Unix seconds of expiry, if it expires.
        expires: Option<i64>,
    },
    /// An API token was revoked.
    #[serde(rename = "api_token.revoked")]
    ApiTokenRevoked {
        /// The token's id.
        token: String,
        /// Its name.
        name: String,
    },
    /// Issuing or revoking an API token was refused.
    #[serde(rename = "api_token.refused")]
    ApiTokenRefused {
        /// `create` or `revoke`.
        operation: String,
        /// The token id asked for (revoke), as given.
        token: Option<String>,
        /// The role asked for (create).
        role: Option<Role>,
        /// `role_above_issuer`, `not_permitted`, `token_cannot_issue_admin_scope`,
        /// `expires_after_parent`, `wider_than_parent`, `reauth_required` or `not_found`.
        reason: String,
    },
    /// A known API token was presented and refused.
    #[serde(rename = "api_token.rejected")]
    ApiTokenRejected {
        /// The token's id.
        token: String,
        /// `expired`, `creator_disabled`, `creator_missing` or `creator_not_member`.
        reason: String,
    },
    /// The security self-check ran (on its schedule or from the Security page).
    #[serde(rename = "security_checks.ran")]
    SecurityChecksRan {
        /// The URL checked.
        target: String,
        /// How many checks passed.
        passed: usize,
        /// The ids of the checks that failed.
        failed: Vec<String>,
    },
    /// A registration token was created (its value is never logged).
    #[serde(rename = "registration_token.created")]
    RegistrationTokenCreated {
        /// The token's id.
        token: String,
        /// How many enrollments it allows.
        uses: u32,
        /// Unix seconds of expiry.
        expires: i64,
    },
    /// A registration token was revoked.
    #[serde(rename = "registration_token.revoked")]
    RegistrationTokenRevoked {
        /// The token's id.
        token: String,
    },
    /// An agent enrolled with a registration token.
    #[serde(rename = "agent.enrolled")]
    AgentEnrolled {
        /// The new agent's id.
        agent: String,
        /// Its display name.
        name: String,
        /// The host name it reported.
        hostname: String,
        /// The registration token used (by id).
        token: String,
    },
    /// An enrollment was refused.
    #[serde(rename = "agent.enrollment_refused")]
    EnrollmentRefused {
        /// `unknown_token`, `token_expired`, `token_used_up`, `bad_signature`, `clock_skew`,
        /// `replayed_nonce`, `bad_csr` or `invalid_request`.
        reason: String,
        /// The registration token's id, when the token was known.
        token: Option<String>,
        /// The host name the agent reported (clipped).
        hostname: String,
    },
    /// An agent's `Connect` handshake was refused.
    #[serde(rename = "agent.handshake_refused")]
    AgentHandshakeRefused {
        /// The agent id from its certificate.
        agent: String,
        /// `bad_signature`, `stale_timestamp`, `clock_skew`, `replayed_nonce`,
        /// `update_required`, `unsupported_protocol`, `rate_limited` or `agent_mismatch`.
        reason: String,
    },
    /// An agent was deactivated: its certificate is revoked and its connection closed.
    #[serde(rename = "agent.deactivated")]
    AgentDeactivated {
        /// The agent's id.
        agent: String,
    },
    /// An agent was deleted with its history.
    #[serde(rename = "agent.deleted")]
    AgentDeleted {
        /// The agent's id.
        agent: String,
    },
    /// An agent's tags changed.
    #[serde(rename = "agent.tags_changed")]
    AgentTagsChanged {
        /// The agent's id.
        agent: String,
        /// The new tags.
        tags: Vec<String>,
    },
    /// A command passed the policy pipeline: it is queued for its agent or waits for an
    /// approval. The record's `command` is its text, `policy_result` every stage's decision.
    #[serde(rename = "command.submitted")]
    CommandSubmitted {
        /// The command's id.
        command: String,
        /// The agent it is for.
        agent: String,
        /// `queued` or `pending_approval`.
        status: String,
        /// The engine's 0–100 risk score.
        risk_score: u8,
        /// `silent` or `elevated`.
        level: String,
        /// The approved script it runs (`name@version`), if any.
        script: Option<String>,
    },
    /// The policy pipeline refused a command; it never reached its agent.
    #[serde(rename = "command.blocked")]
    CommandBlocked {
        /// The command's id.
        command: String,
        /// The agent it was for.
        agent: String,
        /// The stage that refused it: `acl` or `engine`.
        stage: String,
        /// The rule that decided.
        rule: String,
        /// The engine's 0–100 risk score.
        risk_score: u8,
    },
    /// A command request was refused by the rate limit (nothing was stored).
    #[serde(rename = "command.rate_limited")]
    CommandRateLimited {
        /// The agent (or `tag:…`) it was for.
        target: String,
        /// Seconds until the member may send another.
        retry_after_secs: u64,
    },
    /// An owner or admin approved a command waiting for approval.
    #[serde(rename = "command.approved")]
    CommandApproved {
        /// The command's id.
        command: String,
        /// The agent it is for.
        agent: String,
        /// Who asked for it (user id).
        requested_by: String,
    },
    /// An owner or admin denied a command waiting for approval.
    #[serde(rename = "command.denied")]
    CommandDenied {
        /// The command's id.
        command: String,
        /// The agent it was for.
        agent: String,
        /// Who asked for it (user id).
        requested_by: String,
    },
    /// A command expired: nobody approved it in time, or its agent stayed away past the
    /// queue's lifetime.
    #[serde(rename = "command.expired")]
    CommandExpired {
        /// The command's id.
        command: String,
        /// The agent it was for.
        agent: String,
        /// `approval_timeout` or `queue_ttl`.
        reason: String,
    },
    /// An agent reported how a command ended; the output is stored sealed.
    #[serde(rename = "command.finished")]
    CommandFinished {
        /// The command's id.
        command: String,
        /// The agent that ran it.
        agent: String,
        /// `completed`, `timed_out`, `refused`, `failed` or `interrupted`.
        status: String,
        /// The exit code (when it exited).
        exit_code: Option<i32>,
        /// The signal that ended it, if any.
        signal: Option<i32>,
        /// Output beyond the cap was dropped.
        truncated: bool,
        /// Hex SHA-256 of the kept stdout.
        stdout_sha256: String,
        /// Hex SHA-256 of the kept stderr.
        stderr_sha256: String,
        /// The agent's Ed25519 signature of the result (hex), verified with its identity key.
        agent_signature: String,
    },
    /// An agent sent a command result the appliance refused (not its command, a bad
    /// signature, output that does not match its digests).
    #[serde(rename = "command.result_refused")]
    CommandResultRefused {
        /// The command id it named.
        command: String,
        /// The agent that sent it.
        agent: String,
        /// Why.
        reason: String,
    },
    /// A team's ACL and command policy were replaced.
    #[serde(rename = "policy.updated")]
    PolicyUpdated {
        /// The new version number.
        version: u64,
        /// The new policy.
        policy: serde_json::Value,
    },
    /// An owner or admin approved a script (a new version) for the team's library.
    #[serde(rename = "script.approved")]
    ScriptApproved {
        /// The script's name.
        name: String,
        /// Its new version.
        version: u32,
        /// Hex SHA-256 of its content.
        sha256: String,
    },
    /// A script was retired from the library (no version of it can run any more).
    #[serde(rename = "script.retired")]
    ScriptRetired {
        /// The script's name.
        name: String,
    },
    /// Records below `before` were archived to a file and removed from the store. This
    /// record is the anchor: the remaining log starts right after `last_hash`, and the
    /// archive file's digest is signed here.
    #[serde(rename = "audit.archived")]
    AuditArchived {
        /// Records with a lower seq were archived.
        before: u64,
        /// How many.
        records: u64,
        /// Seq of the first archived record.
        first_seq: u64,
        /// Hex hash of the last archived record (the next record's `prev_hash`).
        last_hash: String,
        /// Hex SHA-256 of the archive file as written.
        file_sha256: String,
    },
    /// The team's signed audit head was published (on the schedule or on request): the
    /// head names the team chain up to the record before this one.
    #[serde(rename = "audit.head_published")]
    AuditHeadPublished {
        /// The signed head.
        head: super::TeamHead,
        /// Whether the hourly schedule (not a person) published it.
        scheduled: bool,
    },
    /// Denials of one kind from one source were too many to record one by one: this many
    /// were counted instead.
    #[serde(rename = "audit.denials_suppressed")]
    DenialsSuppressed {
        /// The action that was suppressed (e.g. `auth.login_failed`).
        denied_action: String,
        /// The source they came from (address or actor).
        source: String,
        /// How many were not recorded one by one.
        count: u64,
        /// RFC 3339 start of the window.
        from: String,
        /// RFC 3339 end of the window.
        to: String,
    },
    /// An owner or admin added a webhook (its secret is never recorded).
    #[serde(rename = "webhook.created")]
    WebhookCreated {
        /// The webhook's id.
        webhook: String,
        /// Where it delivers.
        url: String,
        /// The action patterns it delivers.
        events: Vec<String>,
    },
    /// A webhook was deleted, with the deliveries it still had pending.
    #[serde(rename = "webhook.deleted")]
    WebhookDeleted {
        /// The webhook's id.
        webhook: String,
        /// Where it delivered.
        url: String,
        /// Pending deliveries dropped with it.
        dropped: u64,
    },
    /// A test delivery was queued for one webhook.
    #[serde(rename = "webhook.test_sent")]
    WebhookTestSent {
        /// The webhook's id.
        webhook: String,
        /// The test delivery's id.
        delivery: String,
    },
    /// A dead-lettered delivery was queued again.
    #[serde(rename = "webhook.delivery_retried")]
    WebhookDeliveryRetried {
        /// The webhook's id.
        webhook: String,
        /// The delivery's id.
        delivery: String,
    },
}

impl AuditEvent {
    /// The object acted on, if any.
    pub fn target(&self) -> Option<String> {
        match self {
            AuditEvent::ApplianceInitialized { .. }
            | AuditEvent::ApplianceStarted { .. }
            | AuditEvent::ApplianceStopped { .. } => Some("appliance".into()),
            AuditEvent::TeamCreated { name } => Some(format!("team:{name}")),
            AuditEvent::UserCreated { user, .. }
            | AuditEvent::MembershipGranted { user, .. }
            | AuditEvent::UserDisabled { user, .. }
            | AuditEvent::TwoFactorReset { user, .. }
            | AuditEvent::RoleChanged { user, .. }
            | AuditEvent::MembershipRevoked { user, .. } => Some(format!("user:{user}")),
            AuditEvent::AccessDenied { target, .. } => Some(target.clone()),
            AuditEvent::LoginSucceeded { email }
            | AuditEvent::LoginFailed { email, .. }
            | AuditEvent::Logout { email }
            | AuditEvent::SetupCompleted { email }
            | AuditEvent::TwoFactorEnrolled { email }
            | AuditEvent::TeamSwitched { email }
            | AuditEvent::Reauthenticated { email }
            | AuditEvent::SessionRevoked { email }
            | AuditEvent::PasswordChanged { email, .. } => Some(format!("email:{email}")),
            AuditEvent::SetupCodeIssued { .. } | AuditEvent::SetupRefused { .. } => {
                Some("setup".into())
            }
            AuditEvent::CsrfRefused { request } => Some(request.clone()),
            AuditEvent::ApiTokenCreated { token, .. }
            | AuditEvent::ApiTokenRevoked { token, .. }
            | AuditEvent::ApiTokenRejected { token, .. } => Some(format!("api_token:{token}")),
            AuditEvent::ApiTokenRefused { token, .. } => Some(match token {
                Some(t) => format!("api_token:{t}"),
                None => "api_token".into(),
            }),
            AuditEvent::SecurityChecksRan { .. } => Some("appliance".into()),
            AuditEvent::RegistrationTokenCreated { token, .. }
            | AuditEvent::RegistrationTokenRevoked { token } => {
                Some(format!("registration_token:{token}"))
            }
            AuditEvent::EnrollmentRefused { token, .. } => Some(match token {
                Some(t) => format!("registration_token:{t}"),
                None => "enrollment".into(),
            }),
            AuditEvent::AgentEnrolled { agent, .. }
            | AuditEvent::AgentHandshakeRefused { agent, .. }
            | AuditEvent::AgentDeactivated { agent }
            | AuditEvent::AgentDeleted { agent }
            | AuditEvent::AgentTagsChanged { agent, .. } => Some(format!("agent:{agent}")),
            AuditEvent::CommandSubmitted { command, .. }
            | AuditEvent::CommandBlocked { command, .. }
            | AuditEvent::CommandApproved { command, .. }
            | AuditEvent::CommandDenied { command, .. }
            | AuditEvent::CommandExpired { command, .. }
            | AuditEvent::CommandFinished { command, .. }
            | AuditEvent::CommandResultRefused { command, .. } => {
                Some(format!("command:{command}"))
            }
            AuditEvent::CommandRateLimited { target, .. } => Some(target.clone()),
            AuditEvent::PolicyUpdated { .. } => Some("policy".into()),
            AuditEvent::ScriptApproved { name, .. } | AuditEvent::ScriptRetired { name } => {
                Some(format!("script:{name}"))
            }
            AuditEvent::AuditArchived { .. } | AuditEvent::AuditHeadPublished { .. } => {
                Some("audit_log".into())
            }
            AuditEvent::DenialsSuppressed { source, .. } => Some(source.clone()),
            AuditEvent::WebhookCreated { webhook, .. }
            | AuditEvent::WebhookDeleted { webhook, .. }
            | AuditEvent::WebhookTestSent { webhook, .. }
            | AuditEvent::WebhookDeliveryRetried { webhook, .. } => {
                Some(format!("webhook:{webhook}"))
            }
        }
    }

    /// `(action, detail)` as they appear in the record.
    pub(super) fn action_and_detail(&self) -> (String, serde_json::Value) {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let action = v
            .get("action")
            .and_then(|a| a.as_str())
            .unwrap_or("unknown")
            .to_string();
        let detail = v
            .as_object_mut()
            .and_then(|o| o.remove("detail"))
            .unwrap_or(serde_json::Value::Null);
        (action, detail)
    }
}
