//! `host.*`: the installed systemd unit's sandboxing (SPEC §3 `systemd/`).

use std::path::PathBuf;

use super::checks::Outcome;
use super::Local;

/// The unit file as read.
#[derive(Debug)]
pub struct Facts {
    /// Its path.
    pub unit: PathBuf,
    /// `[Service]` assignments in order, or why the file could not be read.
    pub service: Result<Vec<(String, String)>, String>,
}

/// Reads the unit file.
pub fn gather(local: &Local) -> Facts {
    let service = match std::fs::read_to_string(&local.unit) {
        Ok(text) => Ok(service_section(&text)),
        Err(e) => Err(format!(
            "cannot read the unit {}: {e}; pass --unit FILE",
            local.unit.display()
        )),
    };
    Facts {
        unit: local.unit.clone(),
        service,
    }
}

/// The `key=value` lines of the `[Service]` section (comments and other sections dropped).
pub fn service_section(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_service = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if let (true, Some((k, v))) = (in_service, line.split_once('=')) {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The last value of `key` (systemd: a later assignment wins).
fn last<'a>(service: &'a [(String, String)], key: &str) -> Option<&'a str> {
    service
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A list directive's effective items: assignments accumulate, an empty one resets.
fn list(service: &[(String, String)], key: &str) -> Option<Vec<String>> {
    let mut seen = false;
    let mut items = Vec::new();
    for (k, v) in service {
        if k == key {
            seen = true;
            if v.is_empty() {
                items.clear();
            }
            items.extend(v.split_whitespace().map(str::to_string));
        }
    }
    seen.then_some(items)
}

fn yes(v: Option<&str>) -> bool {
    matches!(
        v.map(str::to_ascii_lowercase).as_deref(),
        Some("true" | "yes" | "on" | "1")
    )
}

fn service(f: &Facts) -> Result<&[(String, String)], Outcome> {
    f.service.as_deref().map_err(|e| Outcome::skip(e.clone()))
}

fn verdict(f: &Facts, problems: Vec<String>, good: String) -> Outcome {
    if problems.is_empty() {
        Outcome::pass(format!("{}: {good}", f.unit.display()))
    } else {
        Outcome::fail(format!("{}: {}", f.unit.display(), problems.join("; ")))
    }
}

/// `User=` is set and not root (or `DynamicUser=yes`).
pub fn unit_non_root(f: &Facts) -> Outcome {
    let s = match service(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    if yes(last(s, "DynamicUser")) {
        return verdict(f, Vec::new(), "DynamicUser=yes".into());
    }
    match last(s, "User") {
        None | Some("") => verdict(
            f,
            vec!["no User=, so the service runs as root".into()],
            String::new(),
        ),
        Some(u @ ("root" | "0")) => verdict(f, vec![format!("User={u}")], String::new()),
        Some(u) => verdict(f, Vec::new(), format!("User={u}")),
    }
}

/// `ProtectSystem=strict`, `ProtectHome=true`, `PrivateTmp=true`, one `ReadWritePaths=`.
pub fn unit_filesystem(f: &Facts) -> Outcome {
    let s = match service(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut problems = Vec::new();
    match last(s, "ProtectSystem") {
        Some("strict") => {}
        other => problems.push(format!(
            "ProtectSystem={} (want strict)",
            other.unwrap_or("unset")
        )),
    }
    if !yes(last(s, "ProtectHome")) {
        problems.push(format!(
            "ProtectHome={} (want true)",
            last(s, "ProtectHome").unwrap_or("unset")
        ));
    }
    if !yes(last(s, "PrivateTmp")) {
        problems.push(format!(
            "PrivateTmp={} (want true)",
            last(s, "PrivateTmp").unwrap_or("unset")
        ));
    }
    let rw = list(s, "ReadWritePaths").unwrap_or_default();
    match rw.as_slice() {
        [one] if one.trim_start_matches(['-', '+']).starts_with('/') && one != "/" => {}
        [] => problems.push("no ReadWritePaths= (want the data dir only)".into()),
        more => problems.push(format!(
            "ReadWritePaths={} (want the data dir only)",
            more.join(" ")
        )),
    }
    verdict(
        f,
        problems,
        format!(
            "ProtectSystem=strict, ProtectHome=true, PrivateTmp=true, ReadWritePaths={}",
            rw.join(" ")
        ),
    )
}

/// `NoNewPrivileges=true`, `MemoryDenyWriteExecute=true`, capabilities limited to
/// `CAP_NET_BIND_SERVICE`.
pub fn unit_privileges(f: &Facts) -> Outcome {
    let s = match service(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut problems = Vec::new();
    for key in ["NoNewPrivileges", "MemoryDenyWriteExecute"] {
        if !yes(last(s, key)) {
            problems.push(format!(
                "{key}={} (want true)",
                last(s, key).unwrap_or("unset")
            ));
        }
    }
    let caps = list(s, "CapabilityBoundingSet");
    match &caps {
        None => problems.push("no CapabilityBoundingSet= (every capability is kept)".into()),
        Some(c) if c.iter().any(|c| c.starts_with('~')) => problems.push(format!(
            "CapabilityBoundingSet={} is a deny list (want CAP_NET_BIND_SERVICE only)",
            c.join(" ")
        )),
        Some(c) => {
            let extra: Vec<&String> = c.iter().filter(|c| *c != "CAP_NET_BIND_SERVICE").collect();
            if !extra.is_empty() {
                problems.push(format!(
                    "CapabilityBoundingSet also grants {}",
                    extra
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        }
    }
    verdict(
        f,
        problems,
        format!(
            "NoNewPrivileges=true, MemoryDenyWriteExecute=true, CapabilityBoundingSet={}",
            caps.unwrap_or_default().join(" ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> Facts {
        Facts {
            unit: "u.service".into(),
            service: Ok(service_section(text)),
        }
    }

    #[test]
    fn the_shipped_unit_passes() {
        let f = facts(include_str!("../../systemd/tundra.service"));
        for check in [unit_non_root, unit_filesystem, unit_privileges] {
            let o = check(&f);
            assert_eq!(
                o.status,
                crate::model::acceptance::CheckStatus::Pass,
                "{o:?}"
            );
        }
    }

    #[test]
    fn a_bare_unit_fails_naming_each_directive() {
        let f = facts("[Service]\nExecStart=/usr/local/bin/tundra serve\n");
        assert!(unit_non_root(&f).evidence.contains("no User="));
        let fs = unit_filesystem(&f).evidence;
        for d in [
            "ProtectSystem",
            "ProtectHome",
            "PrivateTmp",
            "ReadWritePaths",
        ] {
            assert!(fs.contains(d), "{d}: {fs}");
        }
        let p = unit_privileges(&f).evidence;
        for d in [
            "NoNewPrivileges",
            "MemoryDenyWriteExecute",
            "CapabilityBoundingSet",
        ] {
            assert!(p.contains(d), "{d}: {p}");
        }
    }
}
