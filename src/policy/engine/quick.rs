//! A fast path for the commands most people send: plain words, quotes without expansions,
//! and the operators `|`, `&&`, `||`, `;`. For that subset the shell's tokenization is
//! simple enough to do exactly here, which saves the full parser's cost; anything else
//! (expansions, redirections, groups, backslashes, keywords, assignments, newlines) goes to
//! the parser.

use brush_parser::ast;

/// Words that are syntax at the start of a command.
pub(crate) const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "function", "time", "coproc", "in", "!", "[[", "]]", "{", "}",
];

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Pipe,
    And,
    Or,
    Semi,
}

fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c)
}

fn tokenize(text: &str) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    let end_word = |word: &mut String, toks: &mut Vec<Tok>| {
        if !word.is_empty() {
            toks.push(Tok::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => end_word(&mut word, &mut toks),
            '\'' => {
                word.push(c);
                loop {
                    let d = chars.next()?;
                    word.push(d);
                    if d == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                word.push(c);
                loop {
                    let d = chars.next()?;
                    if matches!(d, '$' | '`' | '\\') {
                        return None;
                    }
                    word.push(d);
                    if d == '"' {
                        break;
                    }
                }
            }
            '|' => {
                end_word(&mut word, &mut toks);
                if chars.peek() == Some(&'|') {
                    chars.next();
                    toks.push(Tok::Or);
                } else {
                    toks.push(Tok::Pipe);
                }
            }
            '&' => {
                end_word(&mut word, &mut toks);
                if chars.next()? != '&' {
                    return None;
                }
                toks.push(Tok::And);
            }
            ';' => {
                end_word(&mut word, &mut toks);
                toks.push(Tok::Semi);
            }
            c if plain(c) => word.push(c),
            _ => return None,
        }
    }
    end_word(&mut word, &mut toks);
    Some(toks)
}

fn word(value: String) -> ast::Word {
    ast::Word { value, loc: None }
}

fn command(words: Vec<String>) -> Option<ast::Command> {
    let mut words = words.into_iter();
    let first = words.next()?;
    // Assignments and keywords need the parser.
    let unquoted_head = first.split(['\'', '"']).next().unwrap_or("");
    if unquoted_head.contains('=') || RESERVED.contains(&first.as_str()) {
        return None;
    }
    let rest: Vec<ast::CommandPrefixOrSuffixItem> = words
        .map(|w| ast::CommandPrefixOrSuffixItem::Word(word(w)))
        .collect();
    Some(ast::Command::Simple(ast::SimpleCommand {
        prefix: None,
        word_or_name: Some(word(first)),
        suffix: (!rest.is_empty()).then_some(ast::CommandSuffix(rest)),
    }))
}

/// The program for `text` if it is in the simple subset, built as the parser would.
pub(crate) fn simple_program(text: &str) -> Option<ast::Program> {
    if text.len() > 4096 {
        return None;
    }
    let toks = tokenize(text)?;
    let mut items = Vec::new();
    let mut and_or: Option<ast::AndOrList> = None;
    let mut pending: Option<Tok> = None;
    let mut pipeline: Vec<ast::Command> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let finish_command =
        |words: &mut Vec<String>, pipeline: &mut Vec<ast::Command>| -> Option<()> {
            pipeline.push(command(std::mem::take(words))?);
            Some(())
        };
    let mut toks = toks.into_iter().peekable();
    while let Some(t) = toks.next() {
        match t {
            Tok::Word(w) => words.push(w),
            Tok::Pipe => finish_command(&mut words, &mut pipeline)?,
            Tok::And | Tok::Or | Tok::Semi => {
                finish_command(&mut words, &mut pipeline)?;
                let p = ast::Pipeline {
                    timed: None,
                    bang: false,
                    seq: std::mem::take(&mut pipeline),
                };
                match (and_or.as_mut(), pending.take()) {
                    (None, _) => {
                        and_or = Some(ast::AndOrList {
                            first: p,
                            additional: Vec::new(),
                        })
                    }
                    (Some(list), Some(Tok::And)) => list.additional.push(ast::AndOr::And(p)),
                    (Some(list), _) => list.additional.push(ast::AndOr::Or(p)),
                }
                if t == Tok::Semi {
                    let list = and_or.take()?;
                    items.push(ast::CompoundListItem(
                        list,
                        ast::SeparatorOperator::Sequence,
                    ));
                    // A trailing `;` ends the text.
                    if toks.peek().is_none() {
                        return Some(program(items));
                    }
                } else {
                    // `a &&` at the end is a syntax error: the parser reports it.
                    toks.peek()?;
                    pending = Some(t);
                }
            }
        }
    }
    finish_command(&mut words, &mut pipeline)?;
    let p = ast::Pipeline {
        timed: None,
        bang: false,
        seq: pipeline,
    };
    match (and_or.as_mut(), pending.take()) {
        (None, _) => {
            and_or = Some(ast::AndOrList {
                first: p,
                additional: Vec::new(),
            })
        }
        (Some(list), Some(Tok::And)) => list.additional.push(ast::AndOr::And(p)),
        (Some(list), _) => list.additional.push(ast::AndOr::Or(p)),
    }
    items.push(ast::CompoundListItem(
        and_or?,
        ast::SeparatorOperator::Sequence,
    ));
    Some(program(items))
}

fn program(items: Vec<ast::CompoundListItem>) -> ast::Program {
    ast::Program {
        complete_commands: vec![ast::CompoundList(items)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path must build exactly what the parser builds.
    fn same_as_parser(text: &str) {
        let quick = simple_program(text).unwrap_or_else(|| panic!("not simple: {text}"));
        let options = brush_parser::ParserOptions::default();
        let parsed = brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), &options)
            .parse_program()
            .unwrap();
        assert_eq!(quick.to_string(), parsed.to_string(), "{text}");
    }

    #[test]
    fn the_subset_matches_the_parser() {
        for t in [
            "ls -la /srv",
            "curl -s https://x/y | sh",
            "a && b || c; d",
            "echo 'a | b; c' \"d && e\" | tr a-z A-Z",
            "r''m -rf /",
            "ls;",
            "grep -c x f | wc -l && echo ok",
        ] {
            same_as_parser(t);
        }
    }

    #[test]
    fn everything_else_goes_to_the_parser() {
        for t in [
            "echo $HOME",
            "echo \"$(id)\"",
            "a > /dev/sda",
            "a &",
            "(ls)",
            "x=1 ls",
            "if true; then ls; fi",
            "a \\| b",
            "a &&",
            "| a",
            "a || | b",
            "echo 'unterminated",
            "ls\nrm -rf /",
            "ls ~",
            "ls *",
            "! ls",
        ] {
            assert!(simple_program(t).is_none(), "{t}");
        }
    }
}
