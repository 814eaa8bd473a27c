//! The command security engine against a labelled corpus (`tests/fixtures/commands.toml`):
//! benign admin commands must not be blocked, attacks and their evasions must be. Prints the
//! confusion matrix, precision and recall of "blocked" and every miss; fails under the floors.

use std::path::Path;

use serde::Deserialize;
use tundra::policy::engine::{Engine, Verdict};

/// Floors set just under the measured values (see the closing notes of the change).
const MIN_PRECISION: f64 = 0.99;
const MIN_RECALL: f64 = 0.99;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    command: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    text: String,
    label: String,
    expect_rule: Option<String>,
    note: Option<String>,
}

fn corpus() -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/commands.toml");
    let text = std::fs::read_to_string(path).unwrap();
    toml::from_str::<Corpus>(&text).unwrap().command
}

fn summary(v: &Verdict) -> String {
    let hard = v
        .hard_block
        .as_ref()
        .map_or("-".to_string(), |h| format!("{} on {:?}", h.rule, h.part));
    let ind: Vec<String> = v
        .indicators
        .iter()
        .map(|h| format!("{}({})", h.rule, h.weight))
        .collect();
    format!(
        "score {} hard {hard} indicators [{}]",
        v.score,
        ind.join(", ")
    )
}

#[test]
fn corpus_precision_and_recall() {
    let engine = Engine::builtin().unwrap();
    let entries = corpus();
    assert!(
        entries.len() >= 220,
        "the corpus has {} commands",
        entries.len()
    );
    let (mut tp, mut fp, mut tn, mut fn_) = (0u32, 0u32, 0u32, 0u32);
    let mut misses = Vec::new();
    let mut wrong_rule = Vec::new();
    for e in &entries {
        assert!(
            e.label == "malicious" || e.label == "benign",
            "bad label {:?}",
            e.label
        );
        let v = engine.judge(&e.text);
        let malicious = e.label == "malicious";
        match (malicious, v.blocked) {
            (true, true) => tp += 1,
            (true, false) => {
                fn_ += 1;
                misses.push(format!(
                    "MISSED    {:?} ({})\n          {}",
                    e.text,
                    e.note.as_deref().unwrap_or(""),
                    summary(&v)
                ));
            }
            (false, true) => {
                fp += 1;
                misses.push(format!(
                    "FALSE HIT {:?} ({})\n          {}",
                    e.text,
                    e.note.as_deref().unwrap_or(""),
                    summary(&v)
                ));
            }
            (false, false) => tn += 1,
        }
        if let Some(rule) = &e.expect_rule {
            let decided = v.hard_block.as_ref().map(|h| h.rule.as_str());
            if v.blocked && decided != Some(rule.as_str()) {
                wrong_rule.push(format!(
                    "{:?}: expected {rule}, decided by {decided:?}",
                    e.text
                ));
            }
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    println!("engine corpus: {} commands", entries.len());
    println!("                 blocked  allowed");
    println!("  malicious      {tp:7}  {fn_:7}");
    println!("  benign         {fp:7}  {tn:7}");
    println!(
        "  precision {precision:.4} ({tp}/{})  recall {recall:.4} ({tp}/{})",
        tp + fp,
        tp + fn_
    );
    for m in &misses {
        println!("{m}");
    }
    for w in &wrong_rule {
        println!("OTHER RULE {w}");
    }
    assert!(
        precision >= MIN_PRECISION,
        "precision {precision:.4} under {MIN_PRECISION}"
    );
    assert!(
        recall >= MIN_RECALL,
        "recall {recall:.4} under {MIN_RECALL}"
    );
    assert!(
        wrong_rule.is_empty(),
        "{} commands decided by another rule than expected",
        wrong_rule.len()
    );
}

#[test]
fn every_benign_command_stays_under_the_block_score_and_levels_agree() {
    let engine = Engine::builtin().unwrap();
    for e in corpus().iter().filter(|e| e.label == "benign") {
        let v = engine.judge(&e.text);
        let expected = if v.score == 0 { "silent" } else { "elevated" };
        assert_eq!(
            v.level(),
            if v.blocked { "blocked" } else { expected },
            "{:?}",
            e.text
        );
    }
}
