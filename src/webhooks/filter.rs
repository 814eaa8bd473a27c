//! A webhook's event filter: audit action patterns — an exact action (`command.finished`),
//! a family (`command.*`) or everything (`*`) — each checked against the actions the audit
//! log knows, so a typo is refused instead of silently matching nothing.

use crate::audit::ACTIONS;

/// Patterns one webhook may list at most.
pub const MAX_PATTERNS: usize = 64;

/// Checks `patterns` and returns them trimmed and without duplicates, in the given order;
/// the message says which one is wrong.
pub fn parse(patterns: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for p in patterns {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        check(p)?;
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    if out.is_empty() {
        return Err(
            "name at least one action pattern (e.g. command.finished, command.*, *)".into(),
        );
    }
    if out.len() > MAX_PATTERNS {
        return Err(format!("at most {MAX_PATTERNS} patterns"));
    }
    Ok(out)
}

fn check(p: &str) -> Result<(), String> {
    if p == "*" {
        return Ok(());
    }
    let shape = p.len() <= 100
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.*".contains(&b));
    if !shape {
        return Err(format!(
            "{:?} is not an action pattern (a-z, 0-9, _ and . only, or family.*)",
            p.chars().take(100).collect::<String>()
        ));
    }
    if let Some(family) = p.strip_suffix(".*") {
        if !family.contains('*') && ACTIONS.iter().any(|a| in_family(a, family)) {
            return Ok(());
        }
        return Err(format!("{p:?}: no audit action starts with {family}."));
    }
    if p.contains('*') {
        return Err(format!(
            "{p:?}: * may only stand alone or end a family (command.*)"
        ));
    }
    if ACTIONS.contains(&p) {
        return Ok(());
    }
    Err(format!("{p:?} is not an audit action"))
}

fn in_family(action: &str, family: &str) -> bool {
    action
        .strip_prefix(family)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Whether `action` matches any of the (already checked) `patterns`.
pub fn matches(patterns: &[String], action: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == action
            || p.strip_suffix(".*")
                .is_some_and(|family| in_family(action, family))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accepts_exact_family_and_everything() {
        assert_eq!(
            parse(&v(&[" command.finished ", "command.*", "*", "command.*"])).unwrap(),
            v(&["command.finished", "command.*", "*"])
        );
        for ok in [
            "audit.*",
            "audit.head_published",
            "webhook.created",
            "auth.*",
        ] {
            assert!(parse(&v(&[ok])).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_unknown_and_malformed_patterns() {
        for bad in [
            "command.finishd",
            "nosuch.*",
            "comm*",
            "*.finished",
            "command.**",
            "Command.finished",
            "command finished",
            "command",
            "<script>",
        ] {
            let e = parse(&v(&[bad])).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse(&v(&[])).is_err());
        assert!(parse(&v(&["  "])).is_err());
    }

    #[test]
    fn matching() {
        let p = v(&["command.*", "webhook.created"]);
        assert!(matches(&p, "command.finished"));
        assert!(matches(&p, "webhook.created"));
        assert!(!matches(&p, "webhook.deleted"));
        assert!(!matches(&p, "commands.finished"));
        assert!(!matches(&p, "command"));
        assert!(matches(&v(&["*"]), "anything.at_all"));
    }
}
