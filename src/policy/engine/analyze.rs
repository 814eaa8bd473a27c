//! The analysis of one command: every text in it (the command, `sh -c` strings, substitutions,
//! decoded payloads, script code) becomes parts the rules are matched against.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::command::Arg;
use super::part::{Fact, Facts, Lang, Part};
use super::scan::{first_program, looks_windows, syntax_depth, text_facts, MAX_SYNTAX_DEPTH};
use super::script::Extractors;
use super::stream::Behavior;

/// Texts nested deeper than this (a `sh -c` in an `eval` in a substitution …) are not
/// followed; the innermost is flagged `too-deep` instead.
pub(crate) const MAX_NESTING: u8 = 6;
/// At most this many texts are analysed for one command.
const MAX_TEXTS: usize = 64;
/// At most this many parts are produced for one command.
const MAX_PARTS: usize = 4096;

/// What a text inherits from where it was found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ctx {
    pub depth: u8,
    /// Facts that hold for everything inside (decoded, persisted, piped-script, from-script).
    pub facts: Facts,
    /// Programs the output of this text reaches.
    pub sink: Vec<String>,
}

impl Ctx {
    /// The context of a text nested in this one.
    pub(crate) fn nested(&self, fact: Option<Fact>, sink: Vec<String>) -> Ctx {
        let mut facts = self.facts;
        if let Some(f) = fact {
            facts.add(f);
        }
        Ctx {
            depth: self.depth.saturating_add(1),
            facts,
            sink,
        }
    }
}

/// What a command's standard output is known to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stream {
    /// Exactly this text.
    Known(String),
    /// At least these pieces, among unknown output.
    Fragments(Vec<String>),
    Unknown,
}

impl Stream {
    /// `self` followed by `next` (output of two commands in sequence).
    pub(crate) fn then(self, next: Stream) -> Stream {
        use Stream::*;
        match (self, next) {
            (Known(a), Known(b)) => Known(a + &b),
            (Unknown, Unknown) => Unknown,
            (a, b) => {
                let mut out = a.pieces();
                out.extend(b.pieces());
                Fragments(out)
            }
        }
    }

    /// The known pieces.
    pub(crate) fn pieces(self) -> Vec<String> {
        match self {
            Stream::Known(s) => vec![s],
            Stream::Fragments(v) => v,
            Stream::Unknown => Vec::new(),
        }
    }
}

/// Walks texts and collects parts.
pub(crate) struct Analyzer<'e> {
    pub parts: Vec<Part>,
    pub extract: &'e Extractors,
    /// Facts of the text being walked (fork bombs, parse failures are found mid-walk).
    pub current: Facts,
    texts: usize,
}

impl<'e> Analyzer<'e> {
    /// All parts of `command`.
    pub(crate) fn run(command: &str, extract: &'e Extractors) -> Vec<Part> {
        let mut a = Analyzer {
            parts: Vec::new(),
            extract,
            current: Facts::default(),
            texts: 0,
        };
        a.text(command, Lang::Shell, &Ctx::default());
        a.parts
    }

    /// Adds a part unless the budget is spent (then the current text is flagged too-deep).
    pub(crate) fn push(&mut self, part: Part) {
        if self.parts.len() < MAX_PARTS {
            self.parts.push(part);
        } else {
            self.current.add(Fact::TooDeep);
        }
    }

    /// Analyses one text; for shell texts returns what it is known to print.
    pub(crate) fn text(&mut self, text: &str, lang: Lang, ctx: &Ctx) -> Stream {
        let saved = std::mem::take(&mut self.current);
        self.current = ctx.facts.union(text_facts(text));
        let mut out = Stream::Unknown;
        let mut also_powershell = false;
        if self.texts >= MAX_TEXTS || ctx.depth > MAX_NESTING || self.parts.len() >= MAX_PARTS {
            self.current.add(Fact::TooDeep);
        } else {
            self.texts += 1;
            match lang {
                Lang::Shell => {
                    let windows = looks_windows(text);
                    let parsed;
                    (out, parsed) = self.shell(text, ctx, windows);
                    // `powershell …`/`cmd …` that parsed as shell had its payload followed
                    // already, unless shell unquoting ate backslashes (Windows paths); other
                    // Windows lines are read again as PowerShell.
                    let launcher =
                        matches!(first_program(text).as_str(), "powershell" | "pwsh" | "cmd");
                    if windows && !(parsed && launcher && !text.contains('\\')) {
                        self.powershell(text, ctx);
                        also_powershell = true;
                    }
                }
                Lang::PowerShell => self.powershell(text, ctx),
                _ => self.script(text, lang, ctx),
            }
        }
        let facts = self.current;
        self.current = saved;
        // A budget or depth failure inside a nested text fails the whole command closed.
        if facts.has(Fact::TooDeep) {
            self.current.add(Fact::TooDeep);
        }
        let mut part = Part::text(text, lang, facts);
        part.also_powershell = also_powershell;
        self.push(part);
        out
    }

    /// Parses and walks a shell text; unparseable text is still judged word by word. Returns
    /// what the text prints and whether it parsed.
    fn shell(&mut self, text: &str, ctx: &Ctx, windows: bool) -> (Stream, bool) {
        if let Some(words) = plain_words(text) {
            let args = words
                .into_iter()
                .map(|w| Arg::literal(w.to_string()))
                .collect();
            let ran = self.command(args, Vec::new(), text.trim(), ctx);
            let out = match ran.behavior {
                Behavior::Produce(s) => Stream::Known(s),
                _ => Stream::Unknown,
            };
            return (out, true);
        }
        if let Some(program) = super::quick::simple_program(text) {
            return (self.program(&program, ctx), true);
        }
        if syntax_depth(text, MAX_SYNTAX_DEPTH) > MAX_SYNTAX_DEPTH {
            self.current.add(Fact::TooDeep);
            self.fallback(text, ctx);
            return (Stream::Unknown, false);
        }
        let options = brush_parser::ParserOptions::default();
        // The parser is third-party code on peer input: a panic in it must fail closed as a
        // parse error rather than take the caller down.
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), &options)
                .parse_program()
        }));
        match parsed {
            Ok(Ok(program)) => (self.program(&program, ctx), true),
            _ => {
                if !windows && !ctx.facts.has(Fact::Decoded) {
                    self.current.add(Fact::Unparseable);
                }
                if !windows {
                    self.fallback(text, ctx);
                }
                (Stream::Unknown, false)
            }
        }
    }
}

/// A text that is one simple command of plain words (no quotes, expansions, globs, operators
/// or assignments): the shell would only split it on blanks, so the parser is not needed.
fn plain_words(text: &str) -> Option<Vec<&str>> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b" \t_./:=@%+,-".contains(&b);
    if text.len() > 4096 || !text.bytes().all(plain) {
        return None;
    }
    let words: Vec<&str> = text.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let first = words.first()?;
    if first.contains('=') || super::quick::RESERVED.contains(first) {
        return None;
    }
    Some(words)
}
