//! A rule compiled for matching: regexes built once, names lowered, the target decided.

use regex::{Regex, RegexBuilder};

use super::part::{Fact, Facts, Lang, Part, PartKind};
use super::spec::{RuleInvalid, RuleSpec};

/// Regexes from teams are bounded so one rule cannot take the engine's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a rule is matched against.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Each command; `windows_only` for `powershell = true`.
    Command { windows_only: bool },
    /// Whole texts in these languages (all when empty).
    Text { langs: Vec<Lang> },
}

/// A program-name pattern: exact, or a prefix when written `name*`.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub lower: String,
    pub prefix: bool,
}

impl Name {
    fn new(s: &str) -> Name {
        match s.strip_suffix('*') {
            Some(p) => Name {
                lower: p.to_ascii_lowercase(),
                prefix: true,
            },
            None => Name {
                lower: s.to_ascii_lowercase(),
                prefix: false,
            },
        }
    }

    /// Programs are stored lowercase for Windows parts and as written otherwise; rules name
    /// POSIX programs in lowercase, so comparing lowercase is exact for every real program.
    fn matches(&self, program: &str) -> bool {
        if self.prefix {
            program.len() >= self.lower.len()
                && program.as_bytes()[..self.lower.len()]
                    .eq_ignore_ascii_case(self.lower.as_bytes())
        } else {
            program.eq_ignore_ascii_case(&self.lower)
        }
    }
}

/// One rule ready to match.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub description: String,
    pub block: bool,
    /// 100 for a block rule.
    pub weight: u8,
    target: Target,
    pub program: Vec<Name>,
    not_program: Vec<Name>,
    args: Vec<Regex>,
    any_arg: Option<Regex>,
    /// Each entry: alternatives, one of which must be present.
    flags: Vec<Vec<String>>,
    redirect: Option<Regex>,
    piped_to: Vec<Name>,
    piped_from: Vec<Name>,
    facts: Facts,
    text: Vec<Regex>,
    unless: Vec<Regex>,
}

fn regex(index: usize, field: &str, pattern: &str) -> Result<Regex, RuleInvalid> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RuleInvalid::new(index, field, format!("regex does not compile: {e}")))
}

fn regexes(index: usize, field: &str, patterns: &[String]) -> Result<Vec<Regex>, RuleInvalid> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = if patterns.len() == 1 {
                field.to_string()
            } else {
                format!("{field}[{i}]")
            };
            regex(index, &name, p)
        })
        .collect()
}

fn names(list: &[String]) -> Vec<Name> {
    list.iter().map(|s| Name::new(s)).collect()
}

/// Compiles a rule whose scalar fields were already checked.
pub(crate) fn compile(index: usize, rule: &RuleSpec) -> Result<CompiledRule, RuleInvalid> {
    let pats =
        |p: &Option<super::spec::Patterns>| p.as_ref().map_or(&[][..], |p| p.as_slice()).to_vec();
    let has_command_condition = !rule.program.is_empty()
        || rule.args.is_some()
        || rule.any_arg.is_some()
        || !rule.flags.is_empty()
        || rule.redirect.is_some()
        || !rule.piped_to.is_empty()
        || !rule.piped_from.is_empty();
    if !has_command_condition && rule.facts.is_empty() && rule.text.is_none() {
        return Err(RuleInvalid::new(
            index,
            "text",
            "a rule needs at least one condition",
        ));
    }
    if has_command_condition && !rule.language.is_empty() {
        return Err(RuleInvalid::new(
            index,
            "language",
            "applies to whole texts; a rule with command conditions cannot have it",
        ));
    }
    if !rule.language.is_empty() && rule.powershell {
        return Err(RuleInvalid::new(
            index,
            "powershell",
            "use language = [\"powershell\"] with language",
        ));
    }
    if !has_command_condition && !rule.not_program.is_empty() {
        return Err(RuleInvalid::new(
            index,
            "not_program",
            "needs a command condition",
        ));
    }
    if let Some(i) = rule
        .flags
        .iter()
        .position(|f| f.split('|').any(|a| a.is_empty()))
    {
        return Err(RuleInvalid::new(
            index,
            format!("flags[{i}]"),
            "empty alternative",
        ));
    }
    let target = if has_command_condition {
        Target::Command {
            windows_only: rule.powershell,
        }
    } else if rule.powershell {
        Target::Text {
            langs: vec![Lang::PowerShell],
        }
    } else {
        Target::Text {
            langs: rule
                .language
                .iter()
                .filter_map(|l| Lang::from_name(l))
                .collect(),
        }
    };
    let mut facts = Facts::default();
    for f in rule.facts.iter().filter_map(|f| Fact::from_name(f)) {
        facts.add(f);
    }
    Ok(CompiledRule {
        id: rule.id.clone(),
        description: rule.description.clone(),
        block: rule.is_block(),
        weight: if rule.is_block() {
            100
        } else {
            rule.weight.map_or(0, |w| w.min(59) as u8)
        },
        target,
        program: names(&rule.program),
        not_program: names(&rule.not_program),
        args: regexes(index, "args", &pats(&rule.args))?,
        any_arg: rule
            .any_arg
            .as_deref()
            .map(|p| regex(index, "any_arg", p))
            .transpose()?,
        flags: rule
            .flags
            .iter()
            .map(|f| f.split('|').map(str::to_string).collect())
            .collect(),
        redirect: rule
            .redirect
            .as_deref()
            .map(|p| regex(index, "redirect", p))
            .transpose()?,
        piped_to: names(&rule.piped_to),
        piped_from: names(&rule.piped_from),
        facts,
        text: regexes(index, "text", &pats(&rule.text))?,
        unless: regexes(index, "unless", &pats(&rule.unless))?,
    })
}

/// Whether `alt` is among the part's flags. POSIX style: `-rf` holds `-r` and `-f`, long
/// flags lose `=value`, nothing after `--` counts. Windows style: `-Param` and `/x` whole,
/// case-insensitive, `:value` dropped, and PowerShell's unambiguous prefixes (`-Rec`, `-fo`).
pub(crate) fn flag_present(part: &Part, alt: &str) -> bool {
    if part.windows {
        return part.args.iter().take(512).any(|a| {
            if !(a.starts_with('-') || a.starts_with('/'))
                || a.len() < 2
                || a[1..].contains(['/', '\\'])
            {
                return false;
            }
            let f = a.split(':').next().unwrap_or(a);
            f.eq_ignore_ascii_case(alt)
                || (f.len() >= 3
                    && alt.len() >= f.len()
                    && alt.as_bytes()[..f.len()].eq_ignore_ascii_case(f.as_bytes()))
        });
    }
    let short = alt
        .strip_prefix('-')
        .filter(|s| s.len() == 1 && !alt.starts_with("--"));
    for a in part.args.iter().take(512) {
        if a == "--" {
            return false;
        }
        if let Some(long) = a.strip_prefix("--") {
            if alt.strip_prefix("--") == Some(long.split('=').next().unwrap_or(long)) {
                return true;
            }
        } else if let Some(cluster) = a.strip_prefix('-') {
            if a == alt && !cluster.contains('=') {
                return true;
            }
            if let Some(c) = short {
                if !cluster.contains('=')
                    && cluster
                        .chars()
                        .take(32)
                        .filter(char::is_ascii_alphanumeric)
                        .any(|x| c.starts_with(x))
                {
                    return true;
                }
            }
        }
    }
    false
}

impl CompiledRule {
    /// The rule's first `text` regex, which a [`regex::RegexSet`] can test for many rules at
    /// once before the full match.
    pub(crate) fn first_text(&self) -> Option<&str> {
        self.text.first().map(Regex::as_str)
    }

    /// Whether a whole-text rule can match a text in `lang`.
    pub(crate) fn applies_to_lang(&self, lang: Lang) -> bool {
        match &self.target {
            Target::Text { langs } => langs.is_empty() || langs.contains(&lang),
            Target::Command { .. } => false,
        }
    }

    /// Whether the rule applies to command parts.
    pub(crate) fn is_command_rule(&self) -> bool {
        matches!(self.target, Target::Command { .. })
    }

    /// Whether every condition of the rule holds for `part`.
    pub(crate) fn matches(&self, part: &Part) -> bool {
        match (&self.target, part.kind) {
            (Target::Command { windows_only }, PartKind::Command) => {
                if *windows_only && !part.windows {
                    return false;
                }
            }
            (Target::Text { langs }, PartKind::Text) => {
                let also = part.also_powershell && langs.contains(&Lang::PowerShell);
                if !langs.is_empty() && !langs.contains(&part.lang) && !also {
                    return false;
                }
            }
            _ => return false,
        }
        if !part.facts.contains_all(self.facts) {
            return false;
        }
        if !self.program.is_empty() && !self.program.iter().any(|n| n.matches(&part.program)) {
            return false;
        }
        if !self
            .flags
            .iter()
            .all(|alts| alts.iter().any(|a| flag_present(part, a)))
        {
            return false;
        }
        if !self.piped_to.is_empty()
            && !part
                .piped_to
                .iter()
                .any(|p| self.piped_to.iter().any(|n| n.matches(p)))
        {
            return false;
        }
        if !self.piped_from.is_empty()
            && !part
                .piped_from
                .iter()
                .any(|p| self.piped_from.iter().any(|n| n.matches(p)))
        {
            return false;
        }
        if let Some(re) = &self.any_arg {
            if !part.args.iter().any(|a| re.is_match(a)) {
                return false;
            }
        }
        if let Some(re) = &self.redirect {
            if !part.redirects.iter().any(|r| re.is_match(r)) {
                return false;
            }
        }
        if !self.args.iter().all(|re| re.is_match(&part.joined)) {
            return false;
        }
        if !self.text.iter().all(|re| re.is_match(&part.text)) {
            return false;
        }
        // Exclusions last: they are long lists and rarely reached.
        if self.not_program.iter().any(|n| n.matches(&part.program)) {
            return false;
        }
        !self.unless.iter().any(|re| re.is_match(&part.text))
    }
}
