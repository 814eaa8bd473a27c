//! Script code (`python -c`, `perl -e`, …): judged as a whole text by language rules, and the
//! shell strings it hands to `os.system`/`subprocess`/`system`/backticks judged as commands.

use regex::Regex;

use super::analyze::{Analyzer, Ctx};
use super::decode::{base64_bytes, decode_escapes, Escapes};
use super::nested::is_shell;
use super::part::{Fact, Lang};

/// At most this many strings are taken from one script.
const MAX_STRINGS: usize = 32;

/// Regexes that find shell strings and encoded payloads in code; compiled once per engine.
#[derive(Debug)]
pub(crate) struct Extractors {
    /// Per script language: calls whose string arguments are shell commands.
    shell_calls: Vec<(Lang, Regex)>,
    /// Calls that run their string argument as code in the same language.
    code_calls: Regex,
    /// `` `…` ``, `qx{…}`, `%x(…)`: shell commands in Perl, Ruby and PHP.
    backticks: Regex,
    /// A quoted base64 literal long enough to hide a command.
    base64: Regex,
    /// PowerShell: `FromBase64String('…')`, `[ScriptBlock]::Create('…')`.
    pub ps_base64: Regex,
    pub ps_scriptblock: Regex,
}

impl Extractors {
    /// Compiles the extractors.
    pub(crate) fn new() -> Result<Extractors, regex::Error> {
        let calls = |p: &str| Regex::new(p);
        Ok(Extractors {
            shell_calls: vec![
                (
                    Lang::Python,
                    calls(
                        r"(?:\.(?:system|popen|spawn[lv]?p?e?|exec[lv]p?e?)|\bsubprocess\.\w+|\bcommands\.\w+|\bpty\.spawn|create_subprocess_(?:shell|exec))\s*\(",
                    )?,
                ),
                (Lang::Perl, calls(r"\b(?:system|exec|readpipe)\b\s*\(?")?),
                (
                    Lang::Ruby,
                    calls(r"(?:\b(?:system|exec|spawn)\b|IO\.popen|Open3\.\w+|Kernel\.\w+)\s*\(?")?,
                ),
                (
                    Lang::Php,
                    calls(
                        r"\b(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(",
                    )?,
                ),
                (
                    Lang::Node,
                    calls(r"\b(?:exec|execSync|execFile|execFileSync|spawn|spawnSync)\s*\(")?,
                ),
                (Lang::Awk, calls(r"\bsystem\s*\(|\|&?\s*")?),
                (Lang::Lua, calls(r"\b(?:os\.execute|io\.popen)\s*\(?")?),
            ],
            code_calls: calls(r"\b(?:exec|eval|compile|instance_eval|class_eval|Function)\s*\(")?,
            backticks: calls(
                r"`([^`]+)`|\bqx\s*[{(\[/]([^})\]/]+)[})\]/]|%x\s*[({\[]([^)}\]]+)[)}\]]",
            )?,
            base64: calls(r#"["']([A-Za-z0-9+/_-]{16,}={0,2})["']"#)?,
            ps_base64: calls(r#"(?i)frombase64string\s*\(\s*["']([A-Za-z0-9+/=\s]{8,})["']"#)?,
            ps_scriptblock: calls(r#"(?i)\[scriptblock\]::create\s*\(\s*(?:"([^"]+)"|'([^']+)')"#)?,
        })
    }
}

/// String literals starting at `code[start..]`: `("a", "b")`, `["sh", "-c", "x"]`, `'a' . 'b'`.
fn literals(code: &str, start: usize) -> Vec<String> {
    let chars: Vec<char> = code.get(start..).unwrap_or("").chars().take(8192).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let mut join_next = false;
    while i < chars.len() && out.len() < MAX_STRINGS {
        let c = chars[i];
        if c.is_whitespace() || (out.is_empty() && "([{".contains(c)) {
            i += 1;
            continue;
        }
        // Python string prefixes (r, b, u, f).
        if "rbufRBUF".contains(c) && chars.get(i + 1).is_some_and(|q| "'\"".contains(*q)) {
            i += 1;
            continue;
        }
        if "'\"`".contains(c) {
            let quote = c;
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != quote {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    s.push('\\');
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            let s = decode_escapes(&s, Escapes::Printf);
            match (join_next, out.last_mut()) {
                (true, Some(last)) => last.push_str(&s),
                _ => out.push(s),
            }
            join_next = false;
            continue;
        }
        match c {
            ',' => i += 1,
            '+' | '.' => {
                join_next = true;
                i += 1;
            }
            _ => break,
        }
    }
    out
}

/// The shell command an argument list stands for: `["sh", "-c", "x"]` is `x`,
/// `["rm", "-rf", "/"]` is `rm -rf /`.
fn as_command(strings: &[String]) -> Option<String> {
    let first = strings.first()?;
    let name = first.rsplit('/').next().unwrap_or(first);
    if is_shell(name) {
        if let Some(i) = strings
            .iter()
            .position(|s| s == "-c" || (s.starts_with('-') && s.ends_with('c')))
        {
            if let Some(c) = strings.get(i + 1) {
                return Some(c.clone());
            }
        }
    }
    Some(strings.join(" "))
}

impl Analyzer<'_> {
    /// Walks script code: its shell strings, code strings and base64 payloads.
    pub(crate) fn script(&mut self, code: &str, lang: Lang, ctx: &Ctx) {
        let extract = self.extract;
        let mut shell: Vec<String> = Vec::new();
        let mut nested: Vec<(String, Option<Fact>)> = Vec::new();
        if let Some((_, re)) = extract.shell_calls.iter().find(|(l, _)| *l == lang) {
            for m in re.find_iter(code).take(MAX_STRINGS) {
                let strings = literals(code, m.end());
                shell.extend(as_command(&strings));
            }
        }
        if matches!(lang, Lang::Perl | Lang::Ruby | Lang::Php) && code.contains(['`', 'q', '%']) {
            for c in extract.backticks.captures_iter(code).take(MAX_STRINGS) {
                shell.extend(
                    c.iter()
                        .skip(1)
                        .flatten()
                        .map(|m| m.as_str().to_string())
                        .take(1),
                );
            }
        }
        let maybe_eval = ["exec", "eval", "compile", "Function"]
            .iter()
            .any(|w| code.contains(w));
        for m in extract
            .code_calls
            .find_iter(code)
            .take(if maybe_eval { MAX_STRINGS } else { 0 })
        {
            for s in literals(code, m.end()).into_iter().take(1) {
                nested.push((s, None));
            }
        }
        // Only code that can decode base64 is searched for base64 literals.
        let decodes = ["64", "atob", "base", "Base", "unpack", "decode"]
            .iter()
            .any(|w| code.contains(w));
        for c in extract
            .base64
            .captures_iter(code)
            .take(if decodes { MAX_STRINGS } else { 0 })
        {
            let Some(lit) = c.get(1) else { continue };
            let decoded = base64_bytes(lit.as_str()).and_then(|b| String::from_utf8(b).ok());
            if let Some(text) =
                decoded.filter(|t| t.chars().all(|c| !c.is_control() || c.is_whitespace()))
            {
                nested.push((text, Some(Fact::Decoded)));
            }
        }
        for s in shell.into_iter().take(MAX_STRINGS) {
            self.text(
                &s,
                Lang::Shell,
                &ctx.nested(Some(Fact::FromScript), Vec::new()),
            );
        }
        for (s, fact) in nested.into_iter().take(MAX_STRINGS) {
            self.text(&s, lang, &ctx.nested(fact, Vec::new()));
            if fact.is_some() {
                // A decoded payload may be a shell command as well as code.
                self.text(&s, Lang::Shell, &ctx.nested(fact, Vec::new()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_follow_calls() {
        assert_eq!(literals(r#"("rm -rf /")"#, 0), vec!["rm -rf /"]);
        assert_eq!(literals(r#"(["/bin/sh", "-i"])"#, 0), vec!["/bin/sh", "-i"]);
        assert_eq!(literals(r#"('r' + 'm')"#, 0), vec!["rm"]);
        assert_eq!(
            as_command(&["bash".into(), "-c".into(), "id".into()]).as_deref(),
            Some("id")
        );
    }
}
