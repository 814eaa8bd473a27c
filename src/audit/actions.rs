//! Every action name a record can carry, for what must name them before any record exists
//! (a webhook's event filter). A unit test reads `event.rs` and fails when a variant's
//! action is missing here, so the list cannot fall behind the enum.

/// The action names of [`super::AuditEvent`].
pub const ACTIONS: &[&str] = &[
    "appliance.initialized",
    "appliance.started",
    "appliance.stopped",
    "team.created",
    "user.created",
    "membership.granted",
    "user.disabled",
    "user.two_factor_reset",
    "user.two_factor_enrolled",
    "membership.role_changed",
    "membership.revoked",
    "access.denied",
    "auth.session_revoked",
    "user.password_changed",
    "auth.team_switched",
    "auth.reauthenticated",
    "auth.login_succeeded",
    "auth.login_failed",
    "auth.logout",
    "setup.code_issued",
    "setup.completed",
    "setup.refused",
    "request.csrf_refused",
    "api_token.created",
    "api_token.revoked",
    "api_token.refused",
    "api_token.rejected",
    "security_checks.ran",
    "registration_token.created",
    "registration_token.revoked",
    "agent.enrolled",
    "agent.enrollment_refused",
    "agent.handshake_refused",
    "agent.deactivated",
    "agent.deleted",
    "agent.tags_changed",
    "command.submitted",
    "command.blocked",
    "command.rate_limited",
    "command.approved",
    "command.denied",
    "command.expired",
    "command.finished",
    "command.result_refused",
    "policy.updated",
    "script.approved",
    "script.retired",
    "audit.archived",
    "audit.head_published",
    "audit.denials_suppressed",
    "webhook.created",
    "webhook.deleted",
    "webhook.test_sent",
    "webhook.delivery_retried",
];

/// Whether `action` is a known action name.
pub fn is_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_of_the_event_enum_is_listed() {
        let source = include_str!("event.rs");
        let mut seen = 0;
        for line in source.lines() {
            let Some(rest) = line.trim().strip_prefix("#[serde(rename = \"") else {
                continue;
            };
            let name = rest.split('"').next().unwrap_or_default();
            assert!(is_action(name), "{name} is missing from ACTIONS");
            seen += 1;
        }
        assert!(seen > 40, "found only {seen} actions in event.rs");
    }

    #[test]
    fn names_are_dotted_lowercase() {
        for a in ACTIONS {
            let (family, rest) = a.split_once('.').unwrap();
            assert!(!family.is_empty() && !rest.is_empty(), "{a}");
            assert!(
                a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{a}"
            );
        }
    }
}
