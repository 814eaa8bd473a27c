//! The layering of SPEC §3, enforced: every `crate::` edge in `src/` must point up the table
//! (or be one of the few same-row uses listed here).

use std::collections::BTreeSet;
use std::path::Path;

/// Module → row. Side modules (agent, operator, acceptance) are row 10 and may use rows 0–1
/// only.
const ROWS: &[(&str, u8)] = &[
    ("model", 0),
    ("clock", 0),
    ("proto", 0),
    ("crypto", 0),
    ("config", 1),
    ("store", 1),
    ("policy", 1),
    ("audit", 2),
    ("identity", 2),
    ("fleet", 2),
    ("rendezvous", 3),
    ("relay", 3),
    ("commands", 3),
    ("webhooks", 3),
    ("web", 4),
    ("panel", 4),
    ("api", 4),
    ("app", 5),
    ("cli", 5),
    ("agent", 10),
    ("operator", 10),
    ("acceptance", 10),
];

/// Uses within one row that the design allows.
const SAME_ROW: &[(&str, &str)] = &[
    ("panel", "web"),
    ("api", "web"),
    ("identity", "audit"),
    ("fleet", "audit"),
    ("fleet", "identity"),
    ("commands", "rendezvous"),
    ("cli", "app"),
];

fn row(module: &str) -> Option<u8> {
    ROWS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let (Some(f), Some(t)) = (row(from), row(to)) else {
        return false;
    };
    if from == "crypto" {
        return false;
    }
    if f == 10 {
        return t <= 1;
    }
    if t == 10 {
        // Side modules are entry points: only the composition root and the CLI start them.
        return f == 5;
    }
    t < f || (t == f && SAME_ROW.contains(&(from, to)))
}

/// `crate::x` and `crate::{x, y::z}` targets in one source text.
fn targets(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn dependencies_point_up_the_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut violations = Vec::new();
    let mut modules_seen = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let from = first.trim_end_matches(".rs").to_string();
        if from == "lib" || from == "main" {
            continue;
        }
        assert!(row(&from).is_some(), "src/{from} is not in SPEC §3's table");
        modules_seen.insert(from.clone());
        let text = std::fs::read_to_string(&file).unwrap();
        for to in targets(&text) {
            if !allowed(&from, &to) {
                violations.push(format!("{} uses crate::{to}", rel.display()));
            }
        }
    }
    assert!(modules_seen.len() >= 10, "scanned {modules_seen:?}");
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_catches_upward_edges() {
    assert!(!allowed("store", "audit"));
    assert!(!allowed("crypto", "model"));
    assert!(!allowed("web", "panel"));
    assert!(!allowed("agent", "identity"));
    assert!(allowed("audit", "store"));
    assert_eq!(
        targets("use crate::{audit::X, store};\nlet x = crate::web::y;"),
        ["audit", "store", "web"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
