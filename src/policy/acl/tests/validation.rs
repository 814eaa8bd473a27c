//! Every refusal of `validate`, each naming its exact field.

use super::*;

fn refusal(v: serde_json::Value) -> PolicyInvalid {
    policy(v).validate().unwrap_err()
}

/// A valid window with `key` set to `value`.
fn window_with(key: &str, value: serde_json::Value) -> serde_json::Value {
    let mut w = json!({ "days": ["mon"], "from": "08:00", "to": "18:00", "time_zone": "UTC" });
    w[key] = value;
    w
}

fn agents(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("tag:{prefix}{i}")).collect()
}

#[test]
fn every_refusal_names_its_field() {
    let long_tag = format!("tag:{}", "a".repeat(33));
    let cases = [
        // Agent lists.
        (
            json!({ "allow_agents": [AGENT, "agt_x"] }),
            "allow_agents[1]",
            "neither an agent id",
        ),
        (
            json!({ "allow_agents": ["AGT_0123456789ABCDEF0123456789"] }),
            "allow_agents[0]",
            "agent id",
        ),
        (
            json!({ "block_agents": ["agt_0123456789ABCDEF0123456789"] }),
            "block_agents[0]",
            "agent id",
        ),
        (
            json!({ "block_agents": ["web"] }),
            "block_agents[0]",
            "tag:NAME",
        ),
        (
            json!({ "block_agents": ["tag:"] }),
            "block_agents[0]",
            "tag:NAME",
        ),
        (
            json!({ "block_agents": ["tag:Web"] }),
            "block_agents[0]",
            "tag:NAME",
        ),
        (
            json!({ "block_agents": ["tag:a b"] }),
            "block_agents[0]",
            "tag:NAME",
        ),
        (
            json!({ "block_agents": [long_tag] }),
            "block_agents[0]",
            "tag:NAME",
        ),
        (
            json!({ "block_agents": [""] }),
            "block_agents[0]",
            "tag:NAME",
        ),
        (
            json!({ "block_agents": ["tag:web", AGENT, "tag:web"] }),
            "block_agents[2]",
            "duplicates block_agents[0]",
        ),
        (
            json!({ "allow_agents": agents(501, "t") }),
            "allow_agents",
            "at most 500 entries (got 501)",
        ),
        (
            json!({ "block_agents": agents(501, "t") }),
            "block_agents",
            "at most 500 entries",
        ),
        // Roles.
        (
            json!({ "roles": { "exec": ["owner", "admin", "viewer"] } }),
            "roles.exec[2]",
            "viewer cannot run commands, shells or tunnels",
        ),
        (
            json!({ "roles": { "shell": ["owner", "owner"] } }),
            "roles.shell[1]",
            "duplicates roles.shell[0]",
        ),
        (
            json!({ "roles": { "tunnel": ["viewer"] } }),
            "roles.tunnel[0]",
            "viewer",
        ),
        // Windows.
        (
            json!({ "windows": vec![window_with("from", json!("08:00")); 51] }),
            "windows",
            "at most 50 windows (got 51)",
        ),
        (
            json!({ "windows": [window_with("from", json!("08:00")), window_with("days", json!([]))] }),
            "windows[1].days",
            "at least one day",
        ),
        (
            json!({ "windows": [window_with("days", json!(["mon", "tue", "Wed"]))] }),
            "windows[0].days[2]",
            "is not a day (mon, tue, wed, thu, fri, sat, sun)",
        ),
        (
            json!({ "windows": [window_with("days", json!(["monday"]))] }),
            "windows[0].days[0]",
            "not a day",
        ),
        (
            json!({ "windows": [window_with("days", json!(["sat", "sun", "sat"]))] }),
            "windows[0].days[2]",
            "duplicates windows[0].days[0]",
        ),
        (
            json!({ "windows": [window_with("from", json!("8:00"))] }),
            "windows[0].from",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("from", json!("24:00"))] }),
            "windows[0].from",
            "to 23:59",
        ),
        (
            json!({ "windows": [window_with("from", json!("12:60"))] }),
            "windows[0].from",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("from", json!("08.00"))] }),
            "windows[0].from",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("from", json!("+8:00"))] }),
            "windows[0].from",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("from", json!("08:00 "))] }),
            "windows[0].from",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("to", json!("24:01"))] }),
            "windows[0].to",
            "to 24:00",
        ),
        (
            json!({ "windows": [window_with("to", json!("25:00"))] }),
            "windows[0].to",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("to", json!(""))] }),
            "windows[0].to",
            "HH:MM",
        ),
        (
            json!({ "windows": [window_with("to", json!("08:00"))] }),
            "windows[0].to",
            "must differ from `from`",
        ),
        (
            json!({ "windows": [window_with("from", json!("08:00")),
                             window_with("time_zone", json!("Mars/Olympus_Mons"))] }),
            "windows[1].time_zone",
            "\"Mars/Olympus_Mons\" is not a time zone in the tz database",
        ),
        (
            json!({ "windows": [window_with("time_zone", json!(""))] }),
            "windows[0].time_zone",
            "not a time zone",
        ),
        (
            json!({ "windows": [window_with("time_zone", json!("Etc/Unknown"))] }),
            "windows[0].time_zone",
            "not a time zone",
        ),
        (
            json!({ "windows": [window_with("time_zone", json!("+02:00"))] }),
            "windows[0].time_zone",
            "not a time zone",
        ),
        (
            json!({ "windows": [window_with("time_zone", json!("CET-1CEST,M3.5.0,M10.5.0/3"))] }),
            "windows[0].time_zone",
            "not a time zone",
        ),
        (
            json!({ "windows": [window_with("time_zone", json!("Europe/".repeat(20) + "Berlin"))] }),
            "windows[0].time_zone",
            "not a time zone",
        ),
    ];
    for (v, field, reason) in cases {
        let e = refusal(v.clone());
        assert_eq!(e.field, field, "{v}");
        assert!(
            e.reason.contains(reason),
            "{v}: {:?} lacks {reason:?}",
            e.reason
        );
    }
}

#[test]
fn what_is_valid_passes() {
    let valid = [
        json!({ "allow_agents": agents(500, "a"), "block_agents": agents(500, "b") }),
        json!({ "allow_agents": [AGENT, OTHER, "tag:env:prod", "tag:a.b_c-d", "tag:x"] }),
        // The same agent on both lists is allowed: block wins.
        json!({ "allow_agents": [AGENT], "block_agents": [AGENT] }),
        json!({ "roles": { "exec": [], "shell": ["owner"], "tunnel": ["operator", "admin"] } }),
        json!({ "windows": vec![window_with("from", json!("00:00")); 50] }),
        json!({ "windows": [window_with("to", json!("24:00"))] }),
        json!({ "windows": [window_with("to", json!("00:00"))] }),
        json!({ "windows": [window_with("from", json!("23:59"))] }),
        json!({ "windows": [window_with("days", json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))] }),
        json!({ "windows": [window_with("time_zone", json!("Europe/Berlin"))] }),
        json!({ "windows": [window_with("time_zone", json!("America/Argentina/ComodRivadavia"))] }),
        json!({ "windows": [window_with("time_zone", json!("europe/berlin"))] }),
    ];
    for v in valid {
        assert_eq!(policy(v.clone()).validate(), Ok(()), "{v}");
    }
}

#[test]
fn the_first_problem_in_field_order_is_reported() {
    let e = refusal(json!({
        "windows": [window_with("time_zone", json!("Nowhere"))],
        "roles": { "exec": ["viewer"] },
        "block_agents": ["nope"],
        "allow_agents": [AGENT, AGENT],
    }));
    assert_eq!(e.field, "allow_agents[1]");
}

#[test]
fn the_error_reads_field_then_reason_and_quotes_a_long_value_short() {
    let e = refusal(json!({ "block_agents": ["x".repeat(10_000)] }));
    assert!(e.to_string().starts_with("block_agents[0]: \"xxxx"));
    assert!(e.reason.len() < 300, "{}", e.reason.len());
    assert!(e.reason.contains("…"));
}
