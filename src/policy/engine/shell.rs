//! Walks the shell AST: lists, pipelines (who feeds whom), compound commands, functions.

use brush_parser::ast;

use super::analyze::{Analyzer, Ctx, Stream};
use super::command::{Arg, Scope, Stage};
use super::part::{Fact, Lang, PartKind};
use super::stream::Behavior;

impl Analyzer<'_> {
    /// Walks a parsed program; returns what it is known to print.
    pub(crate) fn program(&mut self, program: &ast::Program, ctx: &Ctx) -> Stream {
        let mut scope = Scope::default();
        let mut out = Stream::Known(String::new());
        for list in &program.complete_commands {
            let (s, _) = self.compound_list(list, &mut scope, ctx);
            out = out.then(s);
        }
        out
    }

    /// Walks a list; returns its output and every program it runs.
    pub(crate) fn compound_list(
        &mut self,
        list: &ast::CompoundList,
        scope: &mut Scope,
        ctx: &Ctx,
    ) -> (Stream, Vec<String>) {
        let mut out = Stream::Known(String::new());
        let mut programs = Vec::new();
        for ast::CompoundListItem(and_or, _sep) in &list.0 {
            let (s, p) = self.pipeline(&and_or.first, scope, ctx);
            out = out.then(s);
            programs.extend(p);
            for next in &and_or.additional {
                let (ast::AndOr::And(pipe) | ast::AndOr::Or(pipe)) = next;
                let (s, p) = self.pipeline(pipe, scope, ctx);
                out = out.then(s);
                programs.extend(p);
            }
        }
        (out, programs)
    }

    /// Walks a pipeline: each stage's parts learn which programs feed them and which they
    /// feed, and literal data is followed through decoders into interpreters.
    fn pipeline(
        &mut self,
        pipe: &ast::Pipeline,
        scope: &mut Scope,
        ctx: &Ctx,
    ) -> (Stream, Vec<String>) {
        let mut stages: Vec<(Stage, std::ops::Range<usize>)> = Vec::with_capacity(pipe.seq.len());
        for cmd in &pipe.seq {
            let start = self.parts.len();
            let stage = self.stage(cmd, scope, ctx);
            stages.push((stage, start..self.parts.len()));
        }
        for i in 0..stages.len() {
            let after: Vec<String> = stages[i + 1..]
                .iter()
                .flat_map(|(s, _)| s.feeds.iter().cloned())
                .chain(ctx.sink.iter().cloned())
                .collect();
            let before: Vec<String> = stages[..i]
                .iter()
                .flat_map(|(s, _)| s.programs.iter().cloned())
                .collect();
            let range = stages[i].1.clone();
            for part in self.parts[range]
                .iter_mut()
                .filter(|p| p.kind == PartKind::Command)
            {
                part.piped_to.extend(after.iter().cloned());
                part.piped_from.extend(before.iter().cloned());
            }
        }
        let programs = stages
            .iter()
            .flat_map(|(s, _)| s.programs.iter().cloned())
            .collect();
        let out = self.flow(stages.into_iter().map(|(s, _)| s).collect(), ctx);
        (out, programs)
    }

    /// Follows literal data through the stages of a pipeline.
    fn flow(&mut self, stages: Vec<Stage>, ctx: &Ctx) -> Stream {
        let mut stream = Stream::Unknown;
        // Whether `stream` was decoded, and already judged as a command.
        let (mut decoded, mut judged) = (false, false);
        for stage in stages {
            if let Some(lit) = stage.stdin {
                stream = Stream::Known(lit);
                (decoded, judged) = (false, false);
            }
            if let (Some(cmd), Stream::Known(input)) = (&stage.xargs, &stream) {
                // `… | xargs rm -rf`: the input becomes the command's arguments.
                let words: Vec<&str> = input.split_whitespace().take(256).collect();
                let text = format!("{cmd} {}", words.join(" "));
                self.text(&text, Lang::Shell, &ctx.nested(None, Vec::new()));
            }
            stream = match stage.behavior {
                Behavior::Produce(s) => {
                    (decoded, judged) = (false, false);
                    Stream::Known(s)
                }
                Behavior::Pass => stream,
                Behavior::Tee { persist } => {
                    if let Some(system) = persist {
                        self.persisted(stream.clone(), system, ctx);
                    }
                    stream
                }
                Behavior::Decode(d) => match stream {
                    Stream::Known(s) => match d.apply(&s) {
                        Some(out) => {
                            self.text(
                                &out,
                                Lang::Shell,
                                &ctx.nested(Some(Fact::Decoded), Vec::new()),
                            );
                            (decoded, judged) = (true, true);
                            Stream::Known(out)
                        }
                        None => Stream::Unknown,
                    },
                    _ => Stream::Unknown,
                },
                Behavior::Run(lang) => {
                    if !judged {
                        let mut inner = ctx.nested(Some(Fact::PipedScript), Vec::new());
                        if decoded {
                            inner.facts.add(Fact::Decoded);
                        }
                        for piece in stream.pieces() {
                            self.text(&piece, lang, &inner);
                        }
                    }
                    Stream::Unknown
                }
                Behavior::Persist { system } => {
                    self.persisted(stream, system, ctx);
                    Stream::Unknown
                }
                Behavior::Other => Stream::Unknown,
            };
            if let Some(system) = stage.persist_redirect {
                self.persisted(stream.clone(), system, ctx);
            }
        }
        stream
    }

    /// Judges text that is written where something runs it later.
    fn persisted(&mut self, stream: Stream, system: bool, ctx: &Ctx) {
        for piece in stream.pieces() {
            let commands = super::stream::scheduled_commands(&piece, system);
            self.text(
                &commands,
                Lang::Shell,
                &ctx.nested(Some(Fact::Persisted), Vec::new()),
            );
        }
    }

    /// One stage of a pipeline.
    fn stage(&mut self, cmd: &ast::Command, scope: &mut Scope, ctx: &Ctx) -> Stage {
        match cmd {
            ast::Command::Simple(simple) => self.simple(simple, scope, ctx),
            ast::Command::Compound(compound, redirects) => {
                let mut stage = self.compound(compound, scope, ctx);
                if let Some(list) = redirects {
                    let mut texts = Vec::new();
                    for r in &list.0 {
                        let (text, stdin) = self.redirect(r, scope, ctx);
                        if let Some(s) = stdin {
                            stage.stdin = Some(s);
                        }
                        if let Some(system) = super::stream::persist_target(&text) {
                            stage.persist_redirect = Some(system);
                        }
                        texts.push(text);
                    }
                    // The redirections apply to the whole compound: judge them as a command.
                    let raw = texts.join(" ");
                    self.command_redirects(texts, &raw, ctx);
                }
                stage
            }
            ast::Command::Function(def) => {
                let start = self.parts.len();
                let mut inner = scope.clone();
                let ast::FunctionBody(body, _) = &def.body;
                let stage = self.compound(body, &mut inner, ctx);
                let name = def.fname.value.as_str();
                let calls_itself = self.parts[start..]
                    .iter()
                    .any(|p| p.kind == PartKind::Command && p.program == name);
                let floods = self.parts[start..].iter().any(|p| {
                    p.kind == PartKind::Command
                        && p.program == name
                        && (p.piped_to.iter().any(|q| q == name)
                            || p.piped_from.iter().any(|q| q == name))
                });
                let backgrounds = body_backgrounds(body);
                if calls_itself && (floods || backgrounds) {
                    self.current.add(Fact::ForkBomb);
                }
                Stage {
                    feeds: stage.programs.clone(),
                    programs: stage.programs,
                    ..Stage::default()
                }
            }
            ast::Command::ExtendedTest(test, _) => {
                let mut words = Vec::new();
                collect_test_words(&test.expr, &mut words);
                for w in words {
                    self.expand(&w.value, scope, ctx, &[]);
                }
                Stage::default()
            }
        }
    }

    fn compound(&mut self, compound: &ast::CompoundCommand, scope: &mut Scope, ctx: &Ctx) -> Stage {
        use ast::CompoundCommand as C;
        let mut lists: Vec<&ast::CompoundList> = Vec::new();
        let mut words: Vec<&ast::Word> = Vec::new();
        match compound {
            C::Arithmetic(_) | C::ArithmeticForClause(_) => {}
            C::BraceGroup(b) => lists.push(&b.list),
            C::Subshell(s) => lists.push(&s.list),
            C::ForClause(f) => {
                // The loop variable takes the listed words; known ones are remembered so
                // `for f in /var/log/*; do > $f; done` is judged with its value.
                let mut values = Vec::new();
                let mut known = true;
                for w in f.values.iter().flatten() {
                    let arg = self.expand(&w.value, scope, ctx, &[]);
                    known &= !arg.dynamic;
                    values.push(arg.value);
                }
                scope.set_var(&f.variable_name, known.then(|| values.join(" ")));
                lists.push(&f.body.list);
            }
            C::CaseClause(c) => {
                words.push(&c.value);
                lists.extend(c.cases.iter().filter_map(|i| i.cmd.as_ref()));
            }
            C::IfClause(i) => {
                lists.push(&i.condition);
                lists.push(&i.then);
                for e in i.elses.iter().flatten() {
                    lists.extend(e.condition.iter());
                    lists.push(&e.body);
                }
            }
            C::WhileClause(w) | C::UntilClause(w) => {
                lists.push(&w.0);
                lists.push(&w.1.list);
            }
            C::Coprocess(c) => {
                let stage = self.stage(&c.body, scope, ctx);
                return Stage {
                    feeds: stage.programs.clone(),
                    programs: stage.programs,
                    ..Stage::default()
                };
            }
        }
        for w in words {
            self.expand(&w.value, scope, ctx, &[]);
        }
        let mut out = Stream::Known(String::new());
        let mut programs = Vec::new();
        for list in lists {
            let (s, p) = self.compound_list(list, scope, ctx);
            out = out.then(s);
            programs.extend(p);
        }
        let behavior = match out {
            Stream::Known(s) if !s.is_empty() => Behavior::Produce(s),
            Stream::Fragments(v) => Behavior::Produce(v.join("\n")),
            _ => Behavior::Other,
        };
        Stage {
            feeds: programs.clone(),
            programs,
            behavior,
            ..Stage::default()
        }
    }

    /// Judges text the parser rejected, word by word on a rough split, so a broken quote
    /// cannot hide `rm -rf /` from the rules.
    pub(crate) fn fallback(&mut self, text: &str, ctx: &Ctx) {
        let mut budget = 256usize;
        for segment in text.split(['\n', ';', '|', '&', '(', ')', '`', '{', '}']) {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let words: Vec<Arg> = segment
                .split_whitespace()
                .take(256)
                .map(|w| Arg::literal(w.trim_matches(['\'', '"', '\\']).replace(['\'', '"'], "")))
                .filter(|a| !a.value.is_empty() && !a.value.starts_with('$'))
                .collect();
            if !words.is_empty() {
                let mut inner = ctx.clone();
                inner.facts.add(Fact::Unparseable);
                self.command(words, Vec::new(), segment.trim(), &inner);
            }
        }
    }
}

/// Whether a function body starts anything in the background (`f & f`).
fn body_backgrounds(body: &ast::CompoundCommand) -> bool {
    let list = match body {
        ast::CompoundCommand::BraceGroup(b) => &b.list,
        ast::CompoundCommand::Subshell(s) => &s.list,
        _ => return false,
    };
    list.0
        .iter()
        .any(|ast::CompoundListItem(_, sep)| matches!(sep, ast::SeparatorOperator::Async))
}

fn collect_test_words<'a>(expr: &'a ast::ExtendedTestExpr, out: &mut Vec<&'a ast::Word>) {
    use ast::ExtendedTestExpr as E;
    match expr {
        E::And(a, b) | E::Or(a, b) => {
            collect_test_words(a, out);
            collect_test_words(b, out);
        }
        E::Not(a) | E::Parenthesized(a) => collect_test_words(a, out),
        E::UnaryTest(_, w) => out.push(w),
        E::BinaryTest(_, a, b) => {
            out.push(a);
            out.push(b);
        }
    }
}
