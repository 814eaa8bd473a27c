//! Engine unit tests: the rule file, each family, evasions, limits, and team rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn engine() -> Engine {
    Engine::builtin().unwrap()
}

#[test]
fn rule_file_parses_and_every_example_matches_its_rule() {
    let specs = builtin_specs().unwrap();
    let extract = Extractors::new().unwrap();
    let mut failures = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let compiled = check_shape(i, spec).unwrap();
        if spec.examples.is_empty() {
            failures.push(format!("{}: no examples", spec.id));
        }
        for e in &spec.examples {
            if !Analyzer::run(e, &extract).iter().any(|p| compiled.matches(p)) {
                failures.push(format!("{}: example does not match: {e}", spec.id));
            }
        }
        for c in &spec.counterexamples {
            if Analyzer::run(c, &extract).iter().any(|p| compiled.matches(p)) {
                failures.push(format!("{}: counterexample matches: {c}", spec.id));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// `ENGINE_EXPLAIN='cmd' cargo test --lib explain -- --ignored --nocapture` lists the parts
/// of a command and the rules they match (a development aid).
#[test]
#[ignore]
fn explain() {
    let cmd = std::env::var("ENGINE_EXPLAIN").unwrap_or_default();
    let e = engine();
    for p in Analyzer::run(&cmd, &e.extract) {
        let rules: Vec<&str> = e.rules.iter().filter(|r| r.matches(&p)).map(|r| r.id.as_str()).collect();
        println!("{:?} {:?} prog={:?} args={:?} redir={:?} to={:?} from={:?} facts={:?}\n   text={:?}\n   => {:?}", p.kind, p.lang, p.program, p.args, p.redirects, p.piped_to, p.piped_from, p.facts, p.text, rules);
    }
    println!("{:#?}", e.judge(&cmd));
}
