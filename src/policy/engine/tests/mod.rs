//! Engine unit tests: the rule file, each family, evasions, limits and team rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod evasions;
mod families;
mod limits;
mod team;

use super::*;

/// The built-in engine, built once for all tests (compiling the rules is the slow part).
pub(super) fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().unwrap())
}

/// The rule that decided a block, or a description of why nothing did.
pub(super) fn decided(command: &str) -> String {
    let v = engine().judge(command);
    match (&v.hard_block, v.blocked) {
        (Some(h), _) => h.rule.clone(),
        (None, true) => format!("score {}", v.score),
        (None, false) => format!("allowed (score {})", v.score),
    }
}

/// Asserts that each command is hard-blocked by `rule`.
pub(super) fn blocked_by(rule: &str, commands: &[&str]) {
    for c in commands {
        assert_eq!(decided(c), rule, "{c}");
    }
}

/// Asserts that each command is allowed.
pub(super) fn allowed(commands: &[&str]) {
    let e = engine();
    for c in commands {
        let v = e.judge(c);
        assert!(!v.blocked, "{c} was blocked: {v:?}");
    }
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
        if let Err(e) = check_examples(i, spec, &compiled, &extract) {
            failures.push(format!("{}: {e}", spec.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rule_ids_are_unique_and_builtin_builds() {
    let specs = builtin_specs().unwrap();
    let mut ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len());
    assert!(Engine::builtin().is_ok());
}

#[test]
fn the_engine_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Engine>();
}

#[test]
fn levels_follow_the_score() {
    let e = engine();
    assert_eq!(e.judge("uptime").level(), "silent");
    assert_eq!(e.judge("sudo systemctl restart nginx").level(), "elevated");
    assert_eq!(e.judge("rm -rf /").level(), "blocked");
    let v = e.judge("rm -rf /");
    assert_eq!(v.score, 100);
    assert_eq!(v.hard_block.as_ref().unwrap().part, "rm -rf /");
}

#[test]
fn indicators_count_once_heaviest_first_and_add_up() {
    let e = engine();
    // temp dir (10) twice, external URL (15), download tool (15), download-then-run (35).
    let v = e.judge("curl -o /tmp/a https://example.com/a && curl -o /tmp/b https://example.com/b && bash /tmp/a");
    let ids: Vec<&str> = v.indicators.iter().map(|h| h.rule.as_str()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "{ids:?}");
    assert!(v.indicators.windows(2).all(|w| w[0].weight >= w[1].weight));
    let sum: u32 = v.indicators.iter().map(|h| u32::from(h.weight)).sum();
    assert_eq!(u32::from(v.score), sum.min(100));
    assert!(v.blocked, "{v:?}");
    assert!(v.hard_block.is_none());
}

#[test]
fn verdicts_serialize_for_the_audit_log() {
    let v = engine().judge("rm -rf /");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["blocked"], true);
    assert_eq!(json["hard_block"]["rule"], "root-delete");
}

/// `ENGINE_EXPLAIN='cmd' cargo test --lib explain -- --ignored --nocapture` lists the parts
/// of a command and the rules they match (a development aid).
#[test]
#[ignore]
fn explain() {
    let cmd = std::env::var("ENGINE_EXPLAIN").unwrap_or_default();
    let e = engine();
    for p in Analyzer::run(&cmd, &e.extract) {
        let rules: Vec<&str> = e
            .rules
            .iter()
            .filter(|r| r.matches(&p))
            .map(|r| r.id.as_str())
            .collect();
        println!(
            "{:?} {:?} prog={:?} args={:?} redir={:?} to={:?} from={:?} facts={:?}\n   text={:?}\n   => {rules:?}",
            p.kind, p.lang, p.program, p.args, p.redirects, p.piped_to, p.piped_from, p.facts, p.text
        );
    }
    println!("{:#?}", e.judge(&cmd));
}
