//! What a new token may be: the pure checks behind issuing one (no store, no clock).

use super::{NewToken, TokenError, TokenRow};
use crate::model::Role;
use crate::policy::{allows, Action};

/// Longest token name, agent id or tag, in characters.
const MAX_LABEL_CHARS: usize = 64;
/// Most agent ids (or tags) one token may be restricted to.
const MAX_SCOPE_ITEMS: usize = 100;

/// Why issuing a token was refused (the audit reason and the caller's error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denied {
    RoleAboveIssuer,
    NotPermitted,
    TokenCannotIssueAdmin,
    ExpiresAfterParent,
    WiderThanParent,
    ReauthRequired,
}

impl Denied {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Denied::RoleAboveIssuer => "role_above_issuer",
            Denied::NotPermitted => "not_permitted",
            Denied::TokenCannotIssueAdmin => "token_cannot_issue_admin_scope",
            Denied::ExpiresAfterParent => "expires_after_parent",
            Denied::WiderThanParent => "wider_than_parent",
            Denied::ReauthRequired => "reauth_required",
        }
    }

    pub(super) fn into_error(self, issuer: Role) -> TokenError {
        let msg = match self {
            Denied::RoleAboveIssuer => {
                format!("A token's role cannot be higher than yours ({issuer}).")
            }
            Denied::NotPermitted => "Only owners and admins may issue admin-scope tokens.".into(),
            Denied::TokenCannotIssueAdmin => {
                "An API token cannot issue admin-scope tokens; sign in to do that.".into()
            }
            Denied::ExpiresAfterParent => {
                "A token issued by a token cannot outlive the token that issues it.".into()
            }
            Denied::WiderThanParent => {
                "A token issued by a token keeps at least its agent and tag restrictions.".into()
            }
            Denied::ReauthRequired => return TokenError::ReauthRequired,
        };
        TokenError::Forbidden(msg)
    }
}

/// Who is issuing: their effective role, whether they are a token (and its row, when it
/// is), whether their password was confirmed within the re-auth window.
pub(super) struct Issuer<'a> {
    pub role: Role,
    pub parent: Option<&'a TokenRow>,
    pub is_token: bool,
    pub reauthenticated: bool,
}

/// Whether `issuer` may issue `req` (with its expiry already resolved). Forbidden reasons
/// are checked before re-auth, so confirming a password never unlocks a forbidden request.
pub(super) fn check_issue(issuer: &Issuer<'_>, req: &NewToken) -> Result<(), Denied> {
    let admin_scope = req.role >= Role::Admin;
    if req.role > issuer.role {
        return Err(Denied::RoleAboveIssuer);
    }
    if admin_scope && !allows(issuer.role, Action::ManageMembers) {
        return Err(Denied::NotPermitted);
    }
    if admin_scope && issuer.is_token {
        return Err(Denied::TokenCannotIssueAdmin);
    }
    if let Some(parent) = issuer.parent {
        if let Some(limit) = parent.expires {
            if req.expires.is_none_or(|e| e > limit) {
                return Err(Denied::ExpiresAfterParent);
            }
        }
        if !narrower(&parent.agents, &parent.tags, &req.agents, &req.tags) {
            return Err(Denied::WiderThanParent);
        }
    }
    if admin_scope && !issuer.reauthenticated {
        return Err(Denied::ReauthRequired);
    }
    Ok(())
}

/// Whether restrictions `(agents, tags)` are no wider than the parent's. The fleet reads the
/// two lists as "either matches" (`AgentScope::allows`); this check holds for "both match"
/// too: an unrestricted parent allows anything; otherwise each list must be a subset of the
/// parent's and empty exactly when the parent's is.
pub(super) fn narrower(
    p_agents: &[String],
    p_tags: &[String],
    agents: &[String],
    tags: &[String],
) -> bool {
    if p_agents.is_empty() && p_tags.is_empty() {
        return true;
    }
    let within = |parent: &[String], child: &[String]| {
        parent.is_empty() == child.is_empty() && child.iter().all(|c| parent.contains(c))
    };
    within(p_agents, agents) && within(p_tags, tags)
}

/// A name, agent id or tag: trimmed, 1–64 characters, none of them control characters.
pub(super) fn check_label(field: &'static str, s: &str) -> Result<String, TokenError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > MAX_LABEL_CHARS || t.chars().any(char::is_control) {
        return Err(TokenError::Invalid {
            field,
            message: format!("must be 1 to {MAX_LABEL_CHARS} printable characters"),
        });
    }
    Ok(t.to_string())
}

/// A restriction list: each item a label, at most 100, duplicates dropped, sorted.
pub(super) fn check_list(
    field: &'static str,
    items: Vec<String>,
) -> Result<Vec<String>, TokenError> {
    if items.len() > MAX_SCOPE_ITEMS {
        return Err(TokenError::Invalid {
            field,
            message: format!("at most {MAX_SCOPE_ITEMS} entries"),
        });
    }
    let mut out = items
        .iter()
        .map(|i| check_label(field, i))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}
