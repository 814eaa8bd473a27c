//! One simple command: words expanded, redirections read, wrappers peeled, a part emitted
//! per layer, nested programs (`sh -c`, `python -c`, `find -exec`, …) followed.

use brush_parser::ast;

use super::analyze::{Analyzer, Ctx};
use super::nested::{is_shell, script_lang};
use super::part::{Fact, Facts, Lang, Part, PartKind};
use super::scan::WINDOWS_PROGRAMS;
use super::stream::{behavior, persist_target, Behavior};
use super::wrappers::{peel, Peel};

/// At most this many wrapper layers are peeled from one command.
const MAX_LAYERS: usize = 16;

/// Shell variables with literal values seen so far in a text (`x=rm; $x -rf /`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    vars: Vec<(String, String)>,
}

impl Scope {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn set_var(&mut self, name: &str, value: Option<String>) {
        self.set(name, value);
    }
    fn set(&mut self, name: &str, value: Option<String>) {
        self.vars.retain(|(n, _)| n != name);
        if let Some(v) = value {
            if self.vars.len() < 256 {
                self.vars.push((name.to_string(), v));
            }
        }
    }
}

/// One expanded word.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arg {
    pub value: String,
    /// Part of the value is not known (an unset variable, a substitution with unknown output).
    pub dynamic: bool,
    /// The spelling hides the word (`r''m`).
    pub obfuscated: bool,
    /// `$IFS` was used to split.
    pub ifs: bool,
    /// The value is split into words by the shell (unquoted expansion with spaces).
    pub split: bool,
    /// Characters it is split on besides blanks (an assigned `IFS`).
    pub separators: Option<String>,
}

impl Arg {
    pub(crate) fn literal(value: String) -> Arg {
        Arg {
            value,
            ..Arg::default()
        }
    }
}

/// What a pipeline needs to know about one of its stages.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stage {
    /// Every program the stage runs (wrappers included).
    pub programs: Vec<String>,
    /// The programs its standard input reaches: `programs` less an interpreter that does not
    /// run its input as code (`python3 -m json.tool` reads data).
    pub feeds: Vec<String>,
    pub behavior: Behavior,
    /// A here-document or here-string on standard input.
    pub stdin: Option<String>,
    /// Output written to a file that runs later (`Some(true)` for a system crontab).
    pub persist_redirect: Option<bool>,
    /// For `xargs CMD…`: the command its input becomes arguments of.
    pub xargs: Option<String>,
}

/// What a command runs, as a pipeline needs to know it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ran {
    /// Every program, wrappers first.
    pub programs: Vec<String>,
    /// How the innermost command treats its standard input.
    pub behavior: Behavior,
    /// For `xargs CMD…`: `CMD…`, which gets its arguments from standard input.
    pub xargs: Option<String>,
}

/// The normalized program name of a word and whether it is a Windows program.
pub(crate) fn program_name(word: &str) -> (String, bool) {
    let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
    let lower = base.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix(".exe") {
        return (stem.to_string(), true);
    }
    if WINDOWS_PROGRAMS.contains(&lower.as_str()) {
        return (lower, true);
    }
    (base.to_string(), false)
}

impl Analyzer<'_> {
    /// A simple command as a pipeline stage.
    pub(crate) fn simple(
        &mut self,
        cmd: &ast::SimpleCommand,
        scope: &mut Scope,
        ctx: &Ctx,
    ) -> Stage {
        use ast::CommandPrefixOrSuffixItem as Item;
        let mut words: Vec<Arg> = Vec::new();
        let mut redirects: Vec<String> = Vec::new();
        let mut stdin = None;
        let mut assignments: Vec<(String, Option<String>)> = Vec::new();
        let mut raw = String::new();
        let name_item = cmd.word_or_name.clone().map(Item::Word);
        let items = cmd
            .prefix
            .iter()
            .flat_map(|p| p.0.iter())
            .chain(name_item.iter())
            .chain(cmd.suffix.iter().flat_map(|s| s.0.iter()));
        let add_raw = |raw: &mut String, t: &str| {
            if !raw.is_empty() {
                raw.push(' ');
            }
            raw.push_str(t);
        };
        for item in items {
            match item {
                Item::Word(w) => {
                    add_raw(&mut raw, &w.value);
                    let arg = self.expand(&w.value, scope, ctx, &words);
                    push_arg(&mut words, arg);
                }
                Item::AssignmentWord(a, w) => {
                    add_raw(&mut raw, &w.value);
                    let value = match &a.value {
                        ast::AssignmentValue::Scalar(v) => {
                            let arg = self.expand(&v.value, scope, ctx, &words);
                            (!arg.dynamic).then_some(arg.value)
                        }
                        ast::AssignmentValue::Array(_) => None,
                    };
                    let name = match &a.name {
                        ast::AssignmentName::VariableName(n) => n.clone(),
                        ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
                    };
                    if words.is_empty() {
                        assignments.push((name, value));
                    } else {
                        // `export x=1`, `declare x=1`: a word to the command and a variable.
                        let v = value.clone().unwrap_or_default();
                        push_arg(&mut words, Arg::literal(format!("{name}={v}")));
                        assignments.push((name, value));
                    }
                }
                Item::IoRedirect(r) => {
                    let (text, input) = self.redirect(r, scope, ctx);
                    add_raw(&mut raw, &text);
                    redirects.push(text);
                    if input.is_some() {
                        stdin = input;
                    }
                }
                Item::ProcessSubstitution(kind, sub) => {
                    add_raw(&mut raw, &format!("{kind}({})", sub.list));
                    // `<(cmd)`: cmd's output is read by this command.
                    let sink = if matches!(kind, ast::ProcessSubstitutionKind::Read) {
                        super::words::sink_of(&words)
                    } else {
                        Vec::new()
                    };
                    let mut inner = scope.clone();
                    self.compound_list(&sub.list, &mut inner, &ctx.nested(None, sink));
                    push_arg(&mut words, Arg::literal("/dev/fd/63".to_string()));
                }
            }
        }
        let is_declaration = matches!(
            words.first().map(|a| a.value.as_str()),
            None | Some("export" | "declare" | "local" | "readonly" | "typeset")
        );
        if is_declaration {
            for (n, v) in assignments {
                scope.set(&n, v);
            }
        }
        let raw_text = raw;
        let persist_redirect = redirects
            .iter()
            .filter(|r| r.starts_with('>') || r.starts_with("1>"))
            .find_map(|r| persist_target(r));
        if words.is_empty() {
            if !redirects.is_empty() {
                self.emit(&[], &redirects, &raw_text, ctx);
            }
            return Stage {
                stdin,
                persist_redirect,
                ..Stage::default()
            };
        }
        let Ran {
            programs,
            behavior,
            xargs,
        } = self.command(words, redirects, &raw_text, ctx);
        let mut feeds = programs.clone();
        let interpreter =
            |p: &str| is_shell(p) || script_lang(p).is_some() || p == "powershell" || p == "pwsh";
        if !matches!(behavior, Behavior::Run(_)) && feeds.last().is_some_and(|p| interpreter(p)) {
            feeds.pop();
        }
        Stage {
            programs,
            feeds,
            behavior,
            stdin,
            persist_redirect,
            xargs,
        }
    }

    /// Formats one redirection (`"> /dev/sda"`) and returns the literal it feeds to standard
    /// input, if any (here-documents, here-strings).
    pub(crate) fn redirect(
        &mut self,
        r: &ast::IoRedirect,
        scope: &mut Scope,
        ctx: &Ctx,
    ) -> (String, Option<String>) {
        use ast::{IoFileRedirectKind as K, IoFileRedirectTarget as T, IoRedirect as R};
        match r {
            R::File(fd, kind, target) => {
                let op = match kind {
                    K::Read => "<",
                    K::Write => ">",
                    K::Append => ">>",
                    K::ReadAndWrite => "<>",
                    K::Clobber => ">|",
                    K::DuplicateInput => "<&",
                    K::DuplicateOutput => ">&",
                };
                let target = match target {
                    T::Filename(w) | T::Duplicate(w) => {
                        self.expand(&w.value, scope, ctx, &[]).value
                    }
                    T::Fd(n) => n.to_string(),
                    T::ProcessSubstitution(_, sub) => {
                        let mut inner = scope.clone();
                        self.compound_list(&sub.list, &mut inner, &ctx.nested(None, Vec::new()));
                        "/dev/fd/63".to_string()
                    }
                };
                let fd = fd.map(|n| n.to_string()).unwrap_or_default();
                (format!("{fd}{op} {target}"), None)
            }
            R::HereDocument(_, doc) => {
                let body = if doc.requires_expansion && doc.doc.value.contains(['$', '`']) {
                    self.heredoc(&doc.doc.value, scope, ctx)
                } else {
                    doc.doc.value.clone()
                };
                (format!("<< {}", doc.here_end.value), Some(body))
            }
            R::HereString(_, w) => {
                let arg = self.expand(&w.value, scope, ctx, &[]);
                (format!("<<< {}", w.value), Some(format!("{}\n", arg.value)))
            }
            R::OutputAndError(w, append) => {
                let target = self.expand(&w.value, scope, ctx, &[]).value;
                (
                    format!("{} {target}", if *append { "&>>" } else { "&>" }),
                    None,
                )
            }
        }
    }

    /// A here-document body with its substitutions judged (and filled in when known).
    fn heredoc(&mut self, body: &str, scope: &mut Scope, ctx: &Ctx) -> String {
        let options = brush_parser::ParserOptions::default();
        match brush_parser::word::parse_heredoc(body, &options) {
            Ok(pieces) => {
                let mut out = String::new();
                for p in pieces {
                    let src = super::words::char_slice(body, p.start_index, p.end_index);
                    // Re-expanding each piece's source judges substitutions and fills values;
                    // quotes in a here-document are literal, so plain text is kept as written.
                    match p.piece {
                        brush_parser::word::WordPiece::Text(t) => out.push_str(&t),
                        _ => out.push_str(&self.expand(src, scope, ctx, &[]).value),
                    }
                }
                out
            }
            Err(_) => body.to_string(),
        }
    }

    /// Emits parts for a command and each wrapper layer, follows nested programs, and says
    /// how the innermost command treats its standard input.
    pub(crate) fn command(
        &mut self,
        words: Vec<Arg>,
        redirects: Vec<String>,
        raw: &str,
        ctx: &Ctx,
    ) -> Ran {
        let mut argv = words;
        let mut ran = Ran::default();
        for _ in 0..MAX_LAYERS {
            if argv.is_empty() {
                break;
            }
            let values: Vec<String> = argv.iter().map(|a| a.value.clone()).collect();
            let program = self.emit(&argv, &redirects, raw, ctx);
            ran.programs.push(program.clone());
            // A command name that is not known but is given `-c STRING` is a shell in
            // disguise (`$0 -c '…'`): judge the string.
            let dynamic = argv[0].dynamic || argv[0].value.contains(['*', '?', '[']);
            if dynamic && values.get(1).is_some_and(|a| a == "-c") {
                if let Some(text) = values.get(2) {
                    self.text(text, Lang::Shell, &ctx.nested(None, Vec::new()));
                }
            }
            match peel(&program, &values) {
                Peel::Inner(i) => {
                    if program == "xargs" {
                        ran.xargs = Some(values.get(i..).unwrap_or(&[]).join(" "));
                    }
                    argv = argv.split_off(i.min(argv.len()));
                }
                Peel::Replace(new) => argv = new.into_iter().map(Arg::literal).collect(),
                Peel::Also(inners) => {
                    for inner in inners {
                        let more = self.command(
                            inner.into_iter().map(Arg::literal).collect(),
                            Vec::new(),
                            raw,
                            ctx,
                        );
                        ran.programs.extend(more.programs);
                    }
                    return ran;
                }
                Peel::Nested(texts) => {
                    for (text, lang, fact) in texts {
                        self.text(&text, lang, &ctx.nested(fact, Vec::new()));
                    }
                    ran.behavior = behavior(&program, &values[1..]);
                    return ran;
                }
                Peel::Done => {
                    ran.behavior = behavior(&program, &values[1..]);
                    return ran;
                }
            }
        }
        ran
    }

    /// Emits a part for redirections without a command (`done < /etc/shadow`).
    pub(crate) fn command_redirects(&mut self, redirects: Vec<String>, raw: &str, ctx: &Ctx) {
        self.emit(&[], &redirects, raw, ctx);
    }

    /// Emits one command part; returns its normalized program name.
    fn emit(&mut self, argv: &[Arg], redirects: &[String], raw: &str, ctx: &Ctx) -> String {
        let empty = Arg::default();
        let first = argv.first().unwrap_or(&empty);
        let (program, windows) = program_name(&first.value);
        let mut facts: Facts = ctx.facts;
        if (first.dynamic || first.value.contains(['*', '?', '['])) && !first.value.is_empty() {
            facts.add(Fact::DynamicProgram);
        }
        if first.obfuscated {
            facts.add(Fact::QuotedProgram);
        }
        if argv.iter().any(|a| a.ifs) {
            facts.add(Fact::Ifs);
        }
        let rest = argv.get(1..).unwrap_or(&[]);
        let args: Vec<String> = if windows {
            rest.iter().map(|a| a.value.to_ascii_lowercase()).collect()
        } else {
            rest.iter().map(|a| a.value.clone()).collect()
        };
        let joined = args.join(" ");
        // URL facts of the command itself, looked for only when its text has a URL at all.
        if self.current.has(Fact::ExternalUrl) {
            super::scan::url_facts(raw, &mut facts);
        }
        let part = Part {
            kind: PartKind::Command,
            also_powershell: false,
            lang: if windows {
                Lang::PowerShell
            } else {
                Lang::Shell
            },
            windows,
            program: program.clone(),
            args,
            joined,
            redirects: redirects.to_vec(),
            piped_to: ctx.sink.clone(),
            piped_from: Vec::new(),
            text: raw.to_string(),
            facts,
        };
        self.push(part);
        program
    }
}

/// Adds an expanded word, splitting it where the shell would (`{a,b}`, `$IFS`, unquoted
/// known values with spaces).
fn push_arg(words: &mut Vec<Arg>, arg: Arg) {
    let brace = arg.value.len() > 2
        && arg.value.starts_with('{')
        && arg.value.ends_with('}')
        && arg.value.contains(',')
        && !arg.value[1..arg.value.len() - 1].contains(['{', '}', ' ']);
    let pieces: Vec<String> = if brace {
        arg.value[1..arg.value.len() - 1]
            .split(',')
            .map(str::to_string)
            .collect()
    } else if arg.split {
        let extra = arg.separators.as_deref().unwrap_or("");
        arg.value
            .split(|c: char| c.is_whitespace() || extra.contains(c))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        if words.len() < 4096 {
            words.push(arg);
        }
        return;
    };
    for (i, v) in pieces.into_iter().enumerate() {
        if words.len() >= 4096 {
            return;
        }
        words.push(Arg {
            value: v,
            dynamic: arg.dynamic,
            obfuscated: arg.obfuscated && i == 0,
            ifs: arg.ifs,
            split: false,
            separators: None,
        });
    }
}
