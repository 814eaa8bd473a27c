//! The rule schema shared by `rules.toml` and team rules, and the checks a rule list must pass.

use serde::{Deserialize, Serialize};

use super::matcher::{compile, CompiledRule};
use super::part::{Fact, Lang};

/// At most this many rules in one team's list.
pub const MAX_TEAM_RULES: usize = 100;
/// At most this many bytes in any one string field (an id, a regex, an example, …).
pub const MAX_FIELD_BYTES: usize = 1024;
/// At most this many examples (and, separately, counterexamples) per rule.
pub const MAX_EXAMPLES: usize = 20;
/// At most this many entries in one list field (`program`, `flags`, …).
const MAX_LIST: usize = 64;

/// A rule that always rejects, as opposed to a weighted indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// A hard block: the command is refused whatever its score.
    Block,
}

/// One regex, or several that must all match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Patterns {
    /// A single regex.
    One(String),
    /// Every one of these regexes.
    All(Vec<String>),
}

impl Patterns {
    /// The regexes, in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Patterns::One(p) => std::slice::from_ref(p),
            Patterns::All(ps) => ps,
        }
    }
}

/// One rule as written in `rules.toml` or by a team (the same schema).
///
/// A rule with a *command condition* (`program`, `args`, `any_arg`, `flags`, `redirect`,
/// `piped_to`, `piped_from`) is matched against each command of the text after wrappers
/// (`sudo`, `env`, `timeout`, …) are peeled; one without is matched against whole texts (the
/// command itself and every nested or decoded program in it). Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable kebab-case id, e.g. `root-delete`.
    pub id: String,
    /// What the rule catches and why, in one sentence a user reads in a refusal.
    pub description: String,
    /// `"block"` for a hard block; leave out and set `weight` for an indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RuleKind>,
    /// An indicator's weight, 1..=59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The normalized program is one of these (`name*` matches a prefix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub program: Vec<String>,
    /// The normalized program is none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_program: Vec<String>,
    /// Regex(es) on the normalized arguments joined by single spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Patterns>,
    /// Regex that at least one single argument matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_arg: Option<String>,
    /// Flags that must all be present; `"-r|-R|--recursive"` accepts any alternative.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Regex on one redirection written `"<op> <target>"`, e.g. `"> /dev/sda"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// The command's output reaches one of these programs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub piped_to: Vec<String>,
    /// The output of one of these programs reaches the command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub piped_from: Vec<String>,
    /// Only PowerShell / Windows command lines (case-insensitive matching).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub powershell: bool,
    /// Whole texts in these languages only (`shell`, `powershell`, `python`, `perl`, `ruby`,
    /// `node`, `php`, `awk`, `lua`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    /// Facts the engine derived that must all hold (e.g. `persisted`, `decoded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
    /// Regex(es) on the command's source text (or the whole text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Patterns>,
    /// The rule does not match when any of these regexes matches the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unless: Option<Patterns>,
    /// Commands that must match this rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Commands that must not match this rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counterexamples: Vec<String>,
}

impl RuleSpec {
    /// Whether the rule is a hard block.
    pub fn is_block(&self) -> bool {
        self.kind == Some(RuleKind::Block)
    }
}

/// Why a rule list was refused: the rule's index and field, and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rules[{index}].{field}: {reason}")]
pub struct RuleInvalid {
    /// Index of the offending rule in the list.
    pub index: usize,
    /// The field at fault (`id`, `weight`, `examples[2]`, …).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RuleInvalid {
    pub(crate) fn new(index: usize, field: impl Into<String>, reason: impl Into<String>) -> Self {
        RuleInvalid {
            index,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The embedded rule file's shape: `[[rule]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub rule: Vec<RuleSpec>,
}

/// Ids the engine itself reports; no rule may take them.
pub(crate) const RESERVED_IDS: &[&str] = &[super::INPUT_TOO_LONG_ID];

fn kebab(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Checks one rule's shape (not its examples) and compiles it.
pub(crate) fn check_shape(index: usize, rule: &RuleSpec) -> Result<CompiledRule, RuleInvalid> {
    let bad = |field: &str, reason: &str| RuleInvalid::new(index, field, reason);
    if !kebab(&rule.id) {
        return Err(bad(
            "id",
            "must be kebab-case (a-z, 0-9, single dashes), at most 64 bytes",
        ));
    }
    if RESERVED_IDS.contains(&rule.id.as_str()) {
        return Err(bad("id", "is reserved by the engine"));
    }
    if rule.description.trim().is_empty() {
        return Err(bad("description", "must say what the rule catches and why"));
    }
    match (rule.kind, rule.weight) {
        (Some(_), Some(_)) => return Err(bad("weight", "a block rule has no weight")),
        (None, None) => return Err(bad("kind", "set kind = \"block\" or a weight 1..=59")),
        (None, Some(w)) if !(1..=59).contains(&w) => {
            return Err(bad(
                "weight",
                "must be 1..=59 (60 and more would block on its own: use kind = \"block\")",
            ))
        }
        _ => {}
    }
    check_sizes(index, rule)?;
    for (i, name) in rule.facts.iter().enumerate() {
        if Fact::from_name(name).is_none() {
            let known: Vec<&str> = Fact::ALL.iter().map(|f| f.name()).collect();
            return Err(bad(
                &format!("facts[{i}]"),
                &format!("unknown fact; known: {}", known.join(", ")),
            ));
        }
    }
    for (i, name) in rule.language.iter().enumerate() {
        if Lang::from_name(name).is_none() {
            let known: Vec<&str> = Lang::ALL.iter().map(|l| l.name()).collect();
            return Err(bad(
                &format!("language[{i}]"),
                &format!("unknown language; known: {}", known.join(", ")),
            ));
        }
    }
    compile(index, rule)
}

fn check_sizes(index: usize, rule: &RuleSpec) -> Result<(), RuleInvalid> {
    let long = |field: String| {
        RuleInvalid::new(index, field, format!("longer than {MAX_FIELD_BYTES} bytes"))
    };
    let singles: [(&str, Option<&String>); 4] = [
        ("id", Some(&rule.id)),
        ("description", Some(&rule.description)),
        ("any_arg", rule.any_arg.as_ref()),
        ("redirect", rule.redirect.as_ref()),
    ];
    for (field, value) in singles {
        if value.is_some_and(|v| v.len() > MAX_FIELD_BYTES) {
            return Err(long(field.to_string()));
        }
    }
    let lists: [(&str, &[String]); 10] = [
        ("program", &rule.program),
        ("not_program", &rule.not_program),
        ("flags", &rule.flags),
        ("piped_to", &rule.piped_to),
        ("piped_from", &rule.piped_from),
        ("language", &rule.language),
        ("facts", &rule.facts),
        ("args", rule.args.as_ref().map_or(&[], |p| p.as_slice())),
        ("text", rule.text.as_ref().map_or(&[], |p| p.as_slice())),
        ("unless", rule.unless.as_ref().map_or(&[], |p| p.as_slice())),
    ];
    for (field, list) in lists {
        if list.len() > MAX_LIST {
            return Err(RuleInvalid::new(
                index,
                field,
                format!("more than {MAX_LIST} entries"),
            ));
        }
        if let Some(i) = list.iter().position(|v| v.len() > MAX_FIELD_BYTES) {
            return Err(long(format!("{field}[{i}]")));
        }
    }
    for (field, list) in [
        ("examples", &rule.examples),
        ("counterexamples", &rule.counterexamples),
    ] {
        if list.len() > MAX_EXAMPLES {
            return Err(RuleInvalid::new(
                index,
                field,
                format!("more than {MAX_EXAMPLES} entries"),
            ));
        }
        if let Some(i) = list.iter().position(|v| v.len() > MAX_FIELD_BYTES) {
            return Err(long(format!("{field}[{i}]")));
        }
    }
    Ok(())
}
