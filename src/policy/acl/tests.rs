//! The ACL's rules and its JSON form. Windows and validation have their own files.

use super::*;
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

mod validation;
mod windows;

const AGENT: &str = "agt_0123456789abcdef0123456789";
const OTHER: &str = "agt_fedcba9876543210fedcba9876";
/// A Monday, 12:00 in Berlin (CEST).
const MONDAY_NOON: OffsetDateTime = datetime!(2026-06-01 10:00 UTC);

fn policy(v: serde_json::Value) -> AclPolicy {
    serde_json::from_value(v).unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// `role` asking to `kind` on agent `agent` tagged `tags` at `now`.
fn ask(
    p: &AclPolicy,
    kind: ActionKind,
    role: Role,
    agent: &str,
    tags: &[&str],
    now: OffsetDateTime,
) -> AclDecision {
    let tags = strings(tags);
    p.evaluate(&AclRequest {
        kind,
        role,
        agent_id: agent,
        agent_tags: &tags,
        now,
    })
}

/// An operator running a command on `agent` tagged `tags` on Monday at noon.
fn exec(p: &AclPolicy, agent: &str, tags: &[&str]) -> AclDecision {
    ask(
        p,
        ActionKind::Exec,
        Role::Operator,
        agent,
        tags,
        MONDAY_NOON,
    )
}

#[test]
fn the_empty_object_is_the_default_policy() {
    let p = policy(json!({}));
    assert_eq!(p, AclPolicy::default());
    assert_eq!(p.default, DefaultMode::Allow);
    assert_eq!(p.roles.exec, [Role::Owner, Role::Admin, Role::Operator]);
    assert_eq!(p.roles.shell, p.roles.exec);
    assert_eq!(p.roles.tunnel, p.roles.exec);
    assert!(p.allow_agents.is_empty() && p.block_agents.is_empty() && p.windows.is_empty());
    p.validate().unwrap();
}

#[test]
fn the_documented_example_parses_validates_and_round_trips() {
    let v = json!({
        "default": "deny",
        "allow_agents": [AGENT, "tag:web"],
        "block_agents": ["tag:prod-db"],
        "roles": { "exec": ["owner", "admin", "operator"], "shell": ["owner"], "tunnel": [] },
        "windows": [{ "days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00",
                      "to": "18:30", "time_zone": "Europe/Berlin" }]
    });
    let p = policy(v.clone());
    p.validate().unwrap();
    assert_eq!(p.default, DefaultMode::Deny);
    assert_eq!(p.roles.shell, [Role::Owner]);
    assert_eq!(serde_json::to_value(&p).unwrap(), v);
}

#[test]
fn a_kind_left_out_of_roles_keeps_its_default() {
    let p = policy(json!({ "roles": { "shell": ["admin"] } }));
    assert_eq!(p.roles.shell, [Role::Admin]);
    assert_eq!(p.roles.exec, KindRoles::default().exec);
    assert_eq!(p.roles.tunnel, KindRoles::default().tunnel);
}

#[test]
fn serde_refuses_unknown_fields_modes_and_roles() {
    let refused = [
        json!({ "mode": "allow" }),
        json!({ "default": "maybe" }),
        json!({ "default": "Allow" }),
        json!({ "roles": { "exec": ["superuser"] } }),
        json!({ "roles": { "ssh": ["owner"] } }),
        json!({ "windows": [{ "days": ["mon"], "from": "08:00", "to": "09:00" }] }),
        json!({ "windows": [{ "days": ["mon"], "from": "08:00", "to": "09:00",
                              "time_zone": "UTC", "tz": "UTC" }] }),
        json!({ "allow_agents": "tag:web" }),
    ];
    for v in refused {
        assert!(
            serde_json::from_value::<AclPolicy>(v.clone()).is_err(),
            "{v}"
        );
    }
}

#[test]
fn the_default_policy_lets_operators_and_above_do_everything_and_viewers_nothing() {
    let p = AclPolicy::default();
    for kind in ActionKind::ALL {
        for role in [Role::Owner, Role::Admin, Role::Operator] {
            let d = ask(&p, kind, role, AGENT, &[], MONDAY_NOON);
            assert!(d.allowed, "{role} {kind:?}");
            assert_eq!(d.rule, "default_allow");
        }
        let d = ask(&p, kind, Role::Viewer, AGENT, &[], MONDAY_NOON);
        assert!(!d.allowed);
        assert_eq!(d.rule, "role_not_allowed");
    }
}

#[test]
fn only_roles_listed_for_the_kind_pass() {
    let p = policy(json!({ "roles": { "exec": ["owner", "operator"], "shell": ["owner"] } }));
    let d = ask(&p, ActionKind::Exec, Role::Admin, AGENT, &[], MONDAY_NOON);
    assert_eq!(
        d,
        AclDecision {
            allowed: false,
            rule: "role_not_allowed",
            reason: "role admin may not exec (allowed: owner, operator)".into(),
        }
    );
    assert!(
        ask(
            &p,
            ActionKind::Exec,
            Role::Operator,
            AGENT,
            &[],
            MONDAY_NOON
        )
        .allowed
    );
    assert!(ask(&p, ActionKind::Shell, Role::Owner, AGENT, &[], MONDAY_NOON).allowed);
    let d = ask(
        &p,
        ActionKind::Shell,
        Role::Operator,
        AGENT,
        &[],
        MONDAY_NOON,
    );
    assert_eq!(d.rule, "role_not_allowed");
    assert!(
        ask(
            &p,
            ActionKind::Tunnel,
            Role::Operator,
            AGENT,
            &[],
            MONDAY_NOON
        )
        .allowed
    );
}

#[test]
fn an_empty_role_list_means_nobody() {
    let p = policy(json!({ "roles": { "tunnel": [] } }));
    let d = ask(&p, ActionKind::Tunnel, Role::Owner, AGENT, &[], MONDAY_NOON);
    assert!(!d.allowed);
    assert_eq!(d.rule, "role_not_allowed");
    assert_eq!(d.reason, "role owner may not tunnel (allowed: nobody)");
}

#[test]
fn a_viewer_is_denied_even_by_a_policy_that_wrongly_lists_it() {
    // validate refuses such a policy; evaluate still holds the RBAC line if one slips by.
    let p = policy(json!({ "roles": { "exec": ["viewer", "operator"] } }));
    assert!(p.validate().is_err());
    let d = ask(&p, ActionKind::Exec, Role::Viewer, AGENT, &[], MONDAY_NOON);
    assert!(!d.allowed);
    assert_eq!(d.rule, "role_not_allowed");
}

#[test]
fn the_role_is_checked_before_the_agent() {
    let p = policy(json!({ "block_agents": [AGENT], "default": "deny" }));
    let d = ask(&p, ActionKind::Exec, Role::Viewer, AGENT, &[], MONDAY_NOON);
    assert_eq!(d.rule, "role_not_allowed");
}

#[test]
fn a_blocklisted_agent_is_denied_by_id_or_by_any_tag() {
    let p = policy(json!({ "block_agents": [OTHER, "tag:prod-db"] }));
    assert_eq!(
        exec(&p, OTHER, &[]),
        AclDecision {
            allowed: false,
            rule: "blocklisted",
            reason: format!("agent is blocklisted by {OTHER}"),
        }
    );
    let d = exec(&p, AGENT, &["web", "prod-db"]);
    assert_eq!((d.allowed, d.rule), (false, "blocklisted"));
    assert_eq!(d.reason, "agent is blocklisted by tag:prod-db");
    let d = exec(&p, AGENT, &["web"]);
    assert_eq!((d.allowed, d.rule), (true, "default_allow"));
}

#[test]
fn tags_match_whole_and_ids_never_match_tags() {
    let p = policy(json!({ "block_agents": ["tag:web", AGENT] }));
    assert!(exec(&p, OTHER, &["web2", "we", "prod:web"]).allowed);
    assert!(exec(&p, OTHER, &[AGENT]).allowed, "an id entry names an id");
    assert!(!exec(&p, OTHER, &["web"]).allowed);
}

#[test]
fn block_wins_over_allow() {
    let p = policy(json!({
        "default": "deny",
        "allow_agents": [AGENT, "tag:web"],
        "block_agents": ["tag:prod-db"],
    }));
    let d = exec(&p, AGENT, &["web", "prod-db"]);
    assert_eq!((d.allowed, d.rule), (false, "blocklisted"));
}

#[test]
fn an_allowlisted_agent_passes_a_deny_default_by_id_or_tag() {
    let p = policy(json!({ "default": "deny", "allow_agents": [AGENT, "tag:web"] }));
    assert_eq!(
        exec(&p, AGENT, &[]),
        AclDecision {
            allowed: true,
            rule: "allowlisted",
            reason: format!("agent is allowlisted by {AGENT}"),
        }
    );
    let d = exec(&p, OTHER, &["db", "web"]);
    assert_eq!((d.allowed, d.rule), (true, "allowlisted"));
    assert_eq!(d.reason, "agent is allowlisted by tag:web");
}

#[test]
fn the_default_decides_for_agents_on_neither_list() {
    let deny = policy(json!({ "default": "deny", "allow_agents": ["tag:web"] }));
    assert_eq!(
        exec(&deny, OTHER, &["db"]),
        AclDecision {
            allowed: false,
            rule: "not_allowlisted",
            reason: "agent is not on the allowlist and the default is deny".into(),
        }
    );
    let allow = policy(json!({ "default": "allow", "allow_agents": ["tag:web"] }));
    let d = exec(&allow, OTHER, &["db"]);
    assert_eq!((d.allowed, d.rule), (true, "default_allow"));
    // Allowlisted agents still say so under an allow default.
    assert_eq!(exec(&allow, OTHER, &["web"]).rule, "allowlisted");
}

#[test]
fn the_agent_step_is_judged_before_the_time_windows() {
    let p = policy(json!({
        "default": "deny",
        "windows": [{ "days": ["sat"], "from": "00:00", "to": "24:00", "time_zone": "UTC" }],
    }));
    assert_eq!(exec(&p, AGENT, &[]).rule, "not_allowlisted");
}

#[test]
fn outside_every_window_is_denied_with_the_local_time() {
    let p = policy(json!({
        "windows": [{ "days": ["sat", "sun"], "from": "09:00", "to": "17:00",
                      "time_zone": "Europe/Berlin" }],
    }));
    assert_eq!(
        exec(&p, AGENT, &[]),
        AclDecision {
            allowed: false,
            rule: "outside_time_window",
            reason: "outside the allowed time windows (now Mon 12:00 Europe/Berlin)".into(),
        }
    );
}

#[test]
fn a_pass_names_the_agent_rule_and_the_window_that_matched() {
    let p = policy(json!({
        "allow_agents": ["tag:web"],
        "windows": [
            { "days": ["sat"], "from": "09:00", "to": "17:00", "time_zone": "UTC" },
            { "days": ["mon"], "from": "09:00", "to": "17:00", "time_zone": "Asia/Tokyo" },
            { "days": ["mon"], "from": "11:00", "to": "13:00", "time_zone": "Europe/Berlin" },
        ],
    }));
    // 10:00 UTC Monday is 19:00 in Tokyo: only the Berlin window is open.
    assert_eq!(
        exec(&p, AGENT, &["web"]),
        AclDecision {
            allowed: true,
            rule: "allowlisted",
            reason: "agent is allowlisted by tag:web; inside windows[2] (now Mon 12:00 \
                     Europe/Berlin)"
                .into(),
        }
    );
}

#[test]
fn a_denial_lists_now_in_each_zone_once() {
    let p = policy(json!({
        "windows": [
            { "days": ["sat"], "from": "09:00", "to": "17:00", "time_zone": "Asia/Tokyo" },
            { "days": ["sun"], "from": "09:00", "to": "17:00", "time_zone": "UTC" },
            { "days": ["sun"], "from": "18:00", "to": "19:00", "time_zone": "Asia/Tokyo" },
        ],
    }));
    assert_eq!(
        exec(&p, AGENT, &[]).reason,
        "outside the allowed time windows (now Mon 19:00 Asia/Tokyo, Mon 10:00 UTC)"
    );
}

#[test]
fn decisions_serialize_for_the_audit_record() {
    let d = exec(
        &policy(json!({ "block_agents": ["tag:prod-db"] })),
        AGENT,
        &["prod-db"],
    );
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({ "allowed": false, "rule": "blocklisted",
                "reason": "agent is blocklisted by tag:prod-db" })
    );
    assert_eq!(
        serde_json::to_value(ActionKind::Tunnel).unwrap(),
        json!("tunnel")
    );
}
