//! The check catalog: `acceptance/<section>.toml`, embedded at build time.

use serde::Deserialize;

use super::Section;

/// One check as the catalog describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `section.name`.
    pub id: String,
    /// What the rule says.
    pub title: String,
    /// Why it matters.
    pub rationale: String,
    /// How to fix a failure.
    pub remediation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    check: Vec<Entry>,
}

/// The embedded catalog files, one per section.
const FILES: &[(Section, &str)] = &[
    (
        Section::Transport,
        include_str!("../../acceptance/transport.toml"),
    ),
    (
        Section::Headers,
        include_str!("../../acceptance/headers.toml"),
    ),
    (
        Section::Identity,
        include_str!("../../acceptance/identity.toml"),
    ),
    (
        Section::Storage,
        include_str!("../../acceptance/storage.toml"),
    ),
    (
        Section::Network,
        include_str!("../../acceptance/network.toml"),
    ),
    (Section::Host, include_str!("../../acceptance/host.toml")),
];

/// Every catalog entry with its section, in file order.
pub fn entries() -> Result<Vec<(Section, Entry)>, String> {
    let mut out = Vec::new();
    for (section, text) in FILES {
        let file: File = toml::from_str(text)
            .map_err(|e| format!("acceptance/{}.toml: {e}", section.as_str()))?;
        for entry in file.check {
            if !entry.id.starts_with(&format!("{}.", section.as_str())) {
                return Err(format!(
                    "acceptance/{}.toml: id {} does not start with the section name",
                    section.as_str(),
                    entry.id
                ));
            }
            out.push((*section, entry));
        }
    }
    Ok(out)
}
