//! What the operator commands print, as pure functions of the data (and of `now`).

use super::api::Agent;

/// Unix seconds as an RFC 3339 UTC time (`2025-01-31T12:00:00Z`).
pub fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// How long before `now` the time `then` was: `12s ago`, `5m ago`, `3h ago`, `2d ago`;
/// `never` without one.
pub fn ago(now: i64, then: Option<i64>) -> String {
    let Some(then) = then else {
        return "never".into();
    };
    let s = now.saturating_sub(then).max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// The agents as a table: NAME, ID, STATE, VERSION, TAGS, LAST SEEN, one row each, the
/// columns padded to their widest cell.
pub fn agents_table(agents: &[Agent], now: i64) -> String {
    let header = ["NAME", "ID", "STATE", "VERSION", "TAGS", "LAST SEEN"].map(String::from);
    let rows: Vec<[String; 6]> = agents
        .iter()
        .map(|a| {
            [
                a.name.clone(),
                a.id.clone(),
                a.state().to_string(),
                a.version.clone(),
                if a.tags.is_empty() {
                    "-".into()
                } else {
                    a.tags.join(",")
                },
                ago(now, a.last_seen),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `bytes` with `prefix` before every line; a last line without a newline gets one.
pub fn prefixed(prefix: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + prefix.len() * 4);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str, online: bool, status: &str, last_seen: Option<i64>) -> Agent {
        Agent {
            id: format!("agt_{name}"),
            name: name.into(),
            hostname: name.into(),
            version: "0.1.0".into(),
            tags: vec![],
            status: status.into(),
            online,
            last_seen,
        }
    }

    #[test]
    fn the_table_aligns_columns_and_names_each_state() {
        let mut web = agent("web-1", true, "active", Some(995));
        web.tags = vec!["prod".into(), "web".into()];
        let t = agents_table(
            &[
                web,
                agent("database-primary", false, "active", Some(1000 - 7200)),
                agent("old", true, "deactivated", None),
            ],
            1000,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("NAME              ID"), "{t}");
        assert!(
            lines[1].contains("online") && lines[1].contains("prod,web"),
            "{t}"
        );
        assert!(lines[1].ends_with("5s ago"), "{t}");
        assert!(
            lines[2].contains("offline") && lines[2].ends_with("2h ago"),
            "{t}"
        );
        assert!(
            lines[3].contains("deactivated") && lines[3].ends_with("never"),
            "{t}"
        );
        let id_col = lines[0].find("ID").unwrap();
        assert!(
            lines
                .iter()
                .skip(1)
                .all(|l| l[id_col..].starts_with("agt_")),
            "{t}"
        );
    }

    #[test]
    fn every_line_gets_the_prefix_and_a_newline() {
        assert_eq!(prefixed("[a] ", b"x\ny"), b"[a] x\n[a] y\n");
        assert_eq!(prefixed("[a] ", b"x\n\n"), b"[a] x\n[a] \n");
        assert_eq!(prefixed("[a] ", b""), b"");
    }

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(ago(100, Some(100)), "0s ago");
        assert_eq!(ago(100_000, Some(0)), "1d ago");
        assert_eq!(ago(0, None), "never");
    }
}
