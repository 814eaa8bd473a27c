//! The command security engine (SPEC §4 "Commands", step 2): a pure function from a command
//! text to a [`Verdict`].
//!
//! The command is parsed as shell with a real parser (brush-parser) and every part is judged:
//! pipelines, lists, subshells, substitutions, here-documents, the programs people nest in
//! arguments (`sh -c`, `eval`, `python -c`, `find -exec`, `ssh host cmd`, `powershell -enc`)
//! and literal payloads decoded on the way (`echo … | base64 -d | sh`, `printf '\x72\x6d'`).
//! Wrappers (`sudo`, `env`, `timeout`, `xargs`, …) are seen through; PowerShell and cmd lines
//! get their own tokenizer. Rules are data (`rules.toml`, embedded): hard blocks always
//! reject; weighted indicators add up to a 0–100 score, and [`BLOCK_SCORE`] or more rejects.
//!
//! The engine never does I/O, never reads the clock and never panics on input; its work is
//! bounded by [`MAX_COMMAND_BYTES`], a syntactic depth limit checked before parsing (the
//! parser backtracks exponentially on deep unbalanced input), a nesting limit for programs in
//! programs, and budgets on texts and parts. Whatever exceeds a limit is blocked, not waved
//! through.

mod analyze;
mod command;
mod decode;
mod matcher;
mod nested;
mod part;
mod powershell;
mod quick;
mod scan;
mod script;
mod shell;
mod spec;
mod stream;
mod words;
mod wrappers;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;

use analyze::Analyzer;
use matcher::CompiledRule;
use part::{Part, PartKind};
use script::Extractors;
use spec::{check_shape, RuleFile};

pub use spec::{
    Patterns, RuleInvalid, RuleKind, RuleSpec, MAX_EXAMPLES, MAX_FIELD_BYTES, MAX_TEAM_RULES,
};

/// Scores at or above this are blocked.
pub const BLOCK_SCORE: u8 = 60;
/// The pipeline refuses longer input before judging; [`Engine::judge`] judges only this many
/// bytes of anything longer and blocks it.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// The id reported when input longer than [`MAX_COMMAND_BYTES`] was cut before judging.
pub const INPUT_TOO_LONG_ID: &str = "input-too-long";
const INPUT_TOO_LONG: &str =
    "The command is longer than 64 KiB; only its start could be judged, so it is refused.";

/// The embedded built-in rules.
const RULES_TOML: &str = include_str!("rules.toml");

/// A part shown in a hit is cut to this many characters.
const MAX_PART_CHARS: usize = 200;

/// What the engine decided about one command.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// A hard-block rule matched or score >= [`BLOCK_SCORE`].
    pub blocked: bool,
    /// The block rule that decided (the first that matched, in rule-file order).
    pub hard_block: Option<Hit>,
    /// 0..=100: the sum of the matched indicators' weights, capped (100 when hard-blocked).
    pub score: u8,
    /// The weighted indicators that matched, each once, heaviest first.
    pub indicators: Vec<Hit>,
}

/// One rule that matched, and where.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// The rule's id.
    pub rule: String,
    /// The rule's description.
    pub description: String,
    /// The indicator's weight; 100 for a block rule.
    pub weight: u8,
    /// The part of the command that matched (at most 200 characters, e.g. `rm -rf /`).
    pub part: String,
}

impl Verdict {
    /// `"silent"` (score 0), `"elevated"` (1..59, not blocked) or `"blocked"`.
    pub fn level(&self) -> &'static str {
        if self.blocked {
            "blocked"
        } else if self.score == 0 {
            "silent"
        } else {
            "elevated"
        }
    }
}

/// A compiled rule set. `Send + Sync`; build once and share in an `Arc`.
#[derive(Debug)]
pub struct Engine {
    specs: Vec<RuleSpec>,
    rules: Vec<CompiledRule>,
    /// Command rules by exact (lowercase) program name.
    by_program: HashMap<String, Vec<usize>>,
    /// Command rules by program-name prefix (`python*`).
    by_prefix: Vec<(String, usize)>,
    /// Command rules for any program (checked for every command).
    any_program: Prefiltered,
    /// Whole-text rules, by the language of the text (indexed like [`part::Lang::ALL`]).
    text_rules: Vec<Prefiltered>,
    extract: Extractors,
}

/// Rules checked for every part of a kind, with their first `text` regexes in one set so a
/// part is scanned once instead of once per rule.
#[derive(Debug, Default)]
struct Prefiltered {
    /// Rules without a `text` regex: always candidates.
    always: Vec<usize>,
    /// Rules whose first `text` regex is pattern `i` of `set`.
    by_pattern: Vec<usize>,
    set: Option<regex::RegexSet>,
}

/// The combined prefilter may be larger than one rule's regex.
const SET_SIZE_LIMIT: usize = 64 << 20;

impl Prefiltered {
    fn new(rules: &[CompiledRule], indices: Vec<usize>) -> Prefiltered {
        let mut p = Prefiltered::default();
        let mut patterns = Vec::new();
        for i in indices {
            match rules[i].first_text() {
                Some(t) => {
                    patterns.push(t.to_string());
                    p.by_pattern.push(i);
                }
                None => p.always.push(i),
            }
        }
        match regex::RegexSetBuilder::new(&patterns)
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(SET_SIZE_LIMIT)
            .build()
        {
            Ok(set) => p.set = Some(set),
            // Too large to combine: every rule is checked on its own.
            Err(_) => p.always.append(&mut p.by_pattern),
        }
        p
    }

    /// Candidate rules for a part with this text, in no particular order.
    fn candidates(&self, text: &str, out: &mut Vec<usize>) {
        out.extend_from_slice(&self.always);
        if let Some(set) = &self.set {
            out.extend(set.matches(text).into_iter().map(|i| self.by_pattern[i]));
        }
    }
}

/// The built-in rule list as written in `rules.toml`.
pub(crate) fn builtin_specs() -> Result<Vec<RuleSpec>, RuleInvalid> {
    toml::from_str::<RuleFile>(RULES_TOML)
        .map(|f| f.rule)
        .map_err(|e| RuleInvalid::new(0, "rules.toml", e.to_string()))
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Checks rules a team submits: ids unique (and not clashing with built-in ids), a block or a
/// weight 1..=59, every condition compiles, at least one condition, at least one example,
/// every example matches and no counterexample does, sizes bounded (at most 100 rules, fields
/// ≤ 1 KiB, ≤ 20 examples).
pub fn validate_rules(rules: &[RuleSpec]) -> Result<(), RuleInvalid> {
    if rules.len() > MAX_TEAM_RULES {
        return Err(RuleInvalid::new(
            MAX_TEAM_RULES,
            "",
            format!("at most {MAX_TEAM_RULES} rules"),
        ));
    }
    let builtin = builtin_specs()?;
    let extract =
        Extractors::new().map_err(|e| RuleInvalid::new(0, "extractors", e.to_string()))?;
    for (index, rule) in rules.iter().enumerate() {
        let compiled = check_shape(index, rule)?;
        let clash = builtin.iter().any(|b| b.id == rule.id);
        if clash || rules[..index].iter().any(|r| r.id == rule.id) {
            let whose = if clash {
                "a built-in rule"
            } else {
                "an earlier rule"
            };
            return Err(RuleInvalid::new(
                index,
                "id",
                format!("already used by {whose}"),
            ));
        }
        if rule.examples.is_empty() {
            return Err(RuleInvalid::new(
                index,
                "examples",
                "give at least one command the rule must match",
            ));
        }
        check_examples(index, rule, &compiled, &extract)?;
    }
    Ok(())
}

/// Every example of `rule` matches it and no counterexample does.
pub(crate) fn check_examples(
    index: usize,
    rule: &RuleSpec,
    compiled: &CompiledRule,
    extract: &Extractors,
) -> Result<(), RuleInvalid> {
    let hits = |cmd: &str| {
        Analyzer::run(cmd, extract)
            .iter()
            .any(|p| compiled.matches(p))
    };
    if let Some(i) = rule.examples.iter().position(|e| !hits(e)) {
        return Err(RuleInvalid::new(
            index,
            format!("examples[{i}]"),
            "does not match the rule",
        ));
    }
    if let Some(i) = rule.counterexamples.iter().position(|e| hits(e)) {
        return Err(RuleInvalid::new(
            index,
            format!("counterexamples[{i}]"),
            "matches the rule",
        ));
    }
    Ok(())
}

impl Engine {
    /// The built-in rules (the embedded `rules.toml`). The file is tested to be valid, so this
    /// returns an error only if a broken build shipped it.
    pub fn builtin() -> Result<Engine, RuleInvalid> {
        Engine::from_specs(builtin_specs()?)
    }

    /// These rules plus `extra` (a team's own, validated with [`validate_rules`]).
    pub fn with_rules(&self, extra: &[RuleSpec]) -> Result<Engine, RuleInvalid> {
        validate_rules(extra)?;
        let mut specs = self.specs.clone();
        specs.extend(extra.iter().cloned());
        Engine::from_specs(specs)
    }

    fn from_specs(specs: Vec<RuleSpec>) -> Result<Engine, RuleInvalid> {
        let mut rules = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            if specs[..i].iter().any(|o| o.id == s.id) {
                return Err(RuleInvalid::new(i, "id", "duplicate id"));
            }
            rules.push(check_shape(i, s)?);
        }
        let mut by_program: HashMap<String, Vec<usize>> = HashMap::new();
        let (mut any_program, mut text_rules) = (Vec::new(), Vec::new());
        let mut by_prefix: Vec<(String, usize)> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if !r.is_command_rule() {
                text_rules.push(i);
            } else if r.program.is_empty()
                || r.program.iter().any(|n| n.prefix && n.lower.is_empty())
            {
                any_program.push(i);
            } else {
                for n in &r.program {
                    if n.prefix {
                        by_prefix.push((n.lower.clone(), i));
                    } else {
                        by_program.entry(n.lower.clone()).or_default().push(i);
                    }
                }
            }
        }
        let extract =
            Extractors::new().map_err(|e| RuleInvalid::new(0, "extractors", e.to_string()))?;
        let any_program = Prefiltered::new(&rules, any_program);
        let text_rules = part::Lang::ALL
            .iter()
            .map(|lang| {
                let for_lang = text_rules
                    .iter()
                    .copied()
                    .filter(|&i| rules[i].applies_to_lang(*lang))
                    .collect();
                Prefiltered::new(&rules, for_lang)
            })
            .collect();
        Ok(Engine {
            specs,
            rules,
            by_program,
            by_prefix,
            any_program,
            text_rules,
            extract,
        })
    }

    /// Judges one command. Never panics; bounded work for any input (input over
    /// [`MAX_COMMAND_BYTES`] is judged on its prefix and blocked as `input-too-long`).
    pub fn judge(&self, command: &str) -> Verdict {
        let truncated = command.len() > MAX_COMMAND_BYTES;
        let text = prefix(command, MAX_COMMAND_BYTES);
        let parts = Analyzer::run(text, &self.extract);
        self.verdict(&parts, truncated)
    }

    /// Rules that may match `part` (each still checked in full).
    fn candidates(&self, part: &Part, out: &mut Vec<usize>) {
        out.clear();
        match part.kind {
            PartKind::Text => {
                let set = |lang: part::Lang| self.text_rules.get(lang as usize);
                if let Some(p) = set(part.lang) {
                    p.candidates(&part.text, out);
                }
                if part.also_powershell {
                    if let Some(p) = set(part::Lang::PowerShell) {
                        p.candidates(&part.text, out);
                    }
                    // Rules for both languages would be listed twice.
                    out.sort_unstable();
                    out.dedup();
                }
            }
            PartKind::Command => {
                let key: Cow<str> = if part.program.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(part.program.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(&part.program)
                };
                if let Some(named) = self.by_program.get(key.as_ref()) {
                    out.extend_from_slice(named);
                }
                for (prefix, ri) in &self.by_prefix {
                    if key.starts_with(prefix.as_str()) {
                        out.push(*ri);
                    }
                }
                // A rule listing a program and a prefix of it would come twice.
                if !self.by_prefix.is_empty() {
                    out.sort_unstable();
                    out.dedup();
                }
                self.any_program.candidates(&part.text, out);
            }
        }
    }

    fn verdict(&self, parts: &[Part], truncated: bool) -> Verdict {
        // (rule, part) for each rule that matched, the first part it matched.
        let mut found: Vec<(usize, usize)> = Vec::new();
        let mut seen = vec![0u64; self.rules.len().div_ceil(64)];
        let mut candidates = Vec::new();
        for (pi, part) in parts.iter().enumerate() {
            self.candidates(part, &mut candidates);
            for &ri in &candidates {
                let (word, bit) = (ri / 64, 1u64 << (ri % 64));
                if seen[word] & bit == 0 && self.rules[ri].matches(part) {
                    seen[word] |= bit;
                    found.push((ri, pi));
                }
            }
        }
        found.sort_unstable();
        let matched = found;
        let hit = |ri: usize, pi: usize| {
            let r = &self.rules[ri];
            Hit {
                rule: r.id.clone(),
                description: r.description.clone(),
                weight: r.weight,
                part: truncate_chars(&parts[pi].text, MAX_PART_CHARS),
            }
        };
        let mut hard_block = matched
            .iter()
            .find(|(ri, _)| self.rules[*ri].block)
            .map(|&(ri, pi)| hit(ri, pi));
        if truncated && hard_block.is_none() {
            hard_block = Some(Hit {
                rule: INPUT_TOO_LONG_ID.to_string(),
                description: INPUT_TOO_LONG.to_string(),
                weight: 100,
                part: truncate_chars(parts.last().map_or("", |p| p.text.as_str()), MAX_PART_CHARS),
            });
        }
        let mut indicators: Vec<Hit> = matched
            .iter()
            .filter(|(ri, _)| !self.rules[*ri].block)
            .map(|&(ri, pi)| hit(ri, pi))
            .collect();
        indicators.sort_by_key(|h| std::cmp::Reverse(h.weight));
        let sum: u32 = indicators.iter().map(|h| u32::from(h.weight)).sum();
        let score = if hard_block.is_some() {
            100
        } else {
            sum.min(100) as u8
        };
        Verdict {
            blocked: hard_block.is_some() || score >= BLOCK_SCORE,
            hard_block,
            score,
            indicators,
        }
    }
}
