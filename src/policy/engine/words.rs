//! Word expansion as far as it can be known without running anything: quotes removed,
//! escapes decoded, known variables and literal substitutions filled in, the rest marked.

use brush_parser::word::{Parameter, ParameterExpr, TildeExpr, WordPiece, WordPieceWithSource};

use super::analyze::{Analyzer, Ctx, Stream};
use super::command::{Arg, Scope};
use super::decode::{decode_escapes, Escapes};
use super::part::Lang;

/// Characters after which a word needs the real word parser.
const SPECIAL: &[char] = &['\'', '"', '\\', '$', '`', '~'];

/// `s[start..end]` in characters (the parser's positions count characters).
pub(crate) fn char_slice(s: &str, start: usize, end: usize) -> &str {
    if s.is_ascii() {
        return s.get(start..end.min(s.len())).unwrap_or("");
    }
    let mut idx = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()));
    let b = idx.nth(start).unwrap_or(s.len());
    let e = if end > start {
        idx.nth(end - start - 1).unwrap_or(s.len())
    } else {
        b
    };
    s.get(b..e).unwrap_or("")
}

/// Whether the spelling of a command name hides it: quotes or escapes inside the word
/// (`r''m`, `"r"m`, `r\m`), not a plain quoted path (`'/usr/bin/rm'`) or a leading `\rm`,
/// which admins use to skip aliases.
fn obfuscated(raw: &str) -> bool {
    let quotes = raw.matches(['\'', '"']).count();
    let wrapped = quotes == 2
        && raw.len() >= 2
        && (raw.starts_with('\'') && raw.ends_with('\'')
            || raw.starts_with('"') && raw.ends_with('"'));
    let inner_escape = raw
        .char_indices()
        .nth(1)
        .is_some_and(|(i, _)| raw[i..].contains('\\'));
    (quotes > 0 && !wrapped) || inner_escape || raw.starts_with("$'")
}

/// Removes quotes and backslashes from a word that expands nothing (no `$`, backticks or
/// leading `~`), exactly as the shell would; `None` when the word needs the full parser.
fn unquote(raw: &str) -> Option<String> {
    if raw.contains(['$', '`']) || raw.starts_with('~') {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => {
                        let n = chars.next()?;
                        if !matches!(n, '"' | '\\' | '$' | '`' | '\n') {
                            out.push('\\');
                        }
                        if n != '\n' {
                            out.push(n);
                        }
                    }
                    c => out.push(c),
                }
            },
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => out.push(n),
                None => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// Where a substitution's output goes: to the words before it, or run as the command.
pub(crate) fn sink_of(preceding: &[Arg]) -> Vec<String> {
    if preceding.is_empty() {
        vec!["sh".to_string()]
    } else {
        preceding.iter().map(|a| a.value.clone()).collect()
    }
}

/// Marks an unquoted expansion for word splitting when its value holds a separator: blanks,
/// or the characters of an `IFS` the text assigned (`IFS=,;` then `` `echo rm,-rf,/` ``), which
/// is itself a trick to hide words.
fn mark_split(scope: &Scope, value: &str, arg: &mut Arg) {
    if value.contains(char::is_whitespace) {
        arg.split = true;
    }
    if let Some(ifs) = scope
        .get("IFS")
        .filter(|ifs| value.contains(|c: char| ifs.contains(c)))
    {
        arg.split = true;
        arg.ifs = true;
        arg.separators = Some(ifs.to_string());
    }
}

impl Analyzer<'_> {
    /// Expands one word. `preceding` are the command's words before it: a substitution's
    /// output reaches them (or the shell itself, in command position).
    pub(crate) fn expand(
        &mut self,
        raw: &str,
        scope: &mut Scope,
        ctx: &Ctx,
        preceding: &[Arg],
    ) -> Arg {
        if !raw.contains(SPECIAL) {
            return Arg::literal(raw.to_string());
        }
        if let Some(value) = unquote(raw) {
            let mut arg = Arg::literal(value);
            arg.obfuscated = obfuscated(raw);
            return arg;
        }
        let options = brush_parser::ParserOptions::default();
        let pieces = match brush_parser::word::parse(raw, &options) {
            Ok(p) => p,
            Err(_) => {
                let mut a = Arg::literal(raw.replace(['\'', '"', '\\'], ""));
                a.dynamic = raw.contains('$') || raw.contains('`');
                return a;
            }
        };
        let mut arg = Arg::literal(String::new());
        arg.obfuscated = obfuscated(raw);
        self.pieces(raw, &pieces, false, scope, ctx, preceding, &mut arg);
        arg
    }

    #[allow(clippy::too_many_arguments)]
    fn pieces(
        &mut self,
        raw: &str,
        pieces: &[WordPieceWithSource],
        quoted: bool,
        scope: &mut Scope,
        ctx: &Ctx,
        preceding: &[Arg],
        arg: &mut Arg,
    ) {
        for p in pieces {
            let source = char_slice(raw, p.start_index, p.end_index);
            match &p.piece {
                WordPiece::Text(t) => arg.value.push_str(t),
                WordPiece::SingleQuotedText(t) => arg.value.push_str(t),
                WordPiece::AnsiCQuotedText(t) => {
                    arg.value.push_str(&decode_escapes(t, Escapes::Printf))
                }
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.pieces(raw, inner, true, scope, ctx, preceding, arg)
                }
                WordPiece::TildeExpansion(t) => match t {
                    TildeExpr::Home => arg.value.push('~'),
                    TildeExpr::UserHome(u) => {
                        arg.value.push('~');
                        arg.value.push_str(u);
                    }
                    _ => arg.value.push_str(source),
                },
                WordPiece::EscapeSequence(e) => arg
                    .value
                    .push_str(e.strip_prefix('\\').unwrap_or(e).trim_start_matches('\n')),
                WordPiece::ParameterExpansion(expr) => {
                    self.parameter(expr, source, quoted, scope, arg)
                }
                WordPiece::CommandSubstitution(text)
                | WordPiece::BackquotedCommandSubstitution(text) => {
                    let sink = sink_of(preceding);
                    match self.text(text, Lang::Shell, &ctx.nested(None, sink)) {
                        Stream::Known(out) => {
                            let out = out.trim_end_matches('\n');
                            if !quoted {
                                mark_split(scope, out, arg);
                            }
                            arg.value.push_str(out);
                        }
                        _ => {
                            arg.value.push_str(source);
                            arg.dynamic = true;
                        }
                    }
                }
                WordPiece::ArithmeticExpression(_) => {
                    arg.value.push_str(source);
                    arg.dynamic = true;
                }
            }
        }
    }

    fn parameter(
        &mut self,
        expr: &ParameterExpr,
        source: &str,
        quoted: bool,
        scope: &Scope,
        arg: &mut Arg,
    ) {
        let known = |p: &Parameter| match p {
            Parameter::Named(n) => scope.get(n).map(str::to_string),
            _ => None,
        };
        let value = match expr {
            ParameterExpr::Parameter {
                parameter: Parameter::Named(n),
                indirect: false,
            } if n == "IFS" => {
                arg.ifs = true;
                arg.split = true;
                Some(" ".to_string())
            }
            ParameterExpr::Parameter {
                parameter,
                indirect: false,
            } => known(parameter),
            ParameterExpr::UseDefaultValues {
                parameter,
                indirect: false,
                default_value,
                ..
            } => known(parameter)
                .or_else(|| default_value.as_ref().map(|d| d.replace(['\'', '"'], ""))),
            _ => None,
        };
        match value {
            Some(v) => {
                if !quoted {
                    mark_split(scope, &v, arg);
                }
                arg.value.push_str(&v);
            }
            None => {
                arg.value.push_str(source);
                arg.dynamic = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_slices_count_characters() {
        assert_eq!(char_slice("héllo", 1, 3), "él");
        assert_eq!(char_slice("abc", 1, 9), "bc");
        assert_eq!(char_slice("abc", 5, 9), "");
    }

    #[test]
    fn quotes_are_removed_as_the_shell_does() {
        assert_eq!(unquote("r''m").as_deref(), Some("rm"));
        assert_eq!(unquote("\"a\\\"b\\x\"").as_deref(), Some("a\"b\\x"));
        assert_eq!(unquote("a\\ b").as_deref(), Some("a b"));
        assert_eq!(unquote("'unterminated"), None);
        assert_eq!(unquote("\"$x\""), None);
    }

    #[test]
    fn obfuscated_spellings() {
        assert!(obfuscated("r''m"));
        assert!(obfuscated("\"r\"m"));
        assert!(obfuscated("r\\m"));
        assert!(!obfuscated("\\rm"));
        assert!(!obfuscated("'/usr/bin/rm'"));
    }
}
