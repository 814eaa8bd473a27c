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
