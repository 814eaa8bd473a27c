//! Limits: depth, size, unparseable input, and a property test that nothing panics.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;

use super::{decided, engine};
use crate::policy::engine::MAX_COMMAND_BYTES;

#[test]
fn unparseable_input_is_blocked_and_says_why() {
    assert_eq!(decided("echo 'unterminated"), "could-not-parse");
    // The broken quote does not hide the worst part either.
    assert_eq!(decided("rm -rf / '"), "root-delete");
}

#[test]
fn deep_nesting_is_refused_not_followed() {
    assert_eq!(
        decided(&format!("{}ls{}", "(".repeat(40), ")".repeat(40))),
        "too-deep"
    );
    assert_eq!(
        decided(&format!("{}ls", "case x in x) ".repeat(30))),
        "too-deep"
    );
    // Programs in programs: a payload whose decoded text decodes a payload, eight times over.
    let mut nested = "id".to_string();
    for _ in 0..8 {
        nested = format!("echo {} | base64 -d", STANDARD.encode(&nested));
    }
    assert_eq!(decided(&nested), "too-deep");
}

#[test]
fn oversized_input_is_judged_on_its_prefix_and_blocked() {
    let e = engine();
    let long = format!("rm -rf / #{}", "x".repeat(MAX_COMMAND_BYTES));
    assert_eq!(e.judge(&long).hard_block.unwrap().rule, "root-delete");
    let long = format!("echo {}", "é".repeat(MAX_COMMAND_BYTES));
    let v = e.judge(&long);
    assert!(v.blocked);
    assert_eq!(v.hard_block.unwrap().rule, "input-too-long");
}

#[test]
fn large_benign_input_finishes_quickly() {
    let e = engine();
    let script = "ls -la /srv && df -h | tail -3\n".repeat(MAX_COMMAND_BYTES / 40);
    let v = e.judge(&script);
    assert!(!v.blocked, "{v:?}");
}

#[test]
fn hits_show_at_most_200_characters() {
    let v = engine().judge(&format!("rm -rf / {}", "a".repeat(500)));
    assert!(v.hard_block.unwrap().part.chars().count() <= 201);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_input_never_panics(s in "\\PC{0,300}") {
        let v = engine().judge(&s);
        prop_assert!(v.score <= 100);
        prop_assert!(v.blocked == (v.hard_block.is_some() || v.score >= crate::policy::engine::BLOCK_SCORE));
    }

    #[test]
    fn shell_shaped_input_never_panics(parts in proptest::collection::vec(
        prop_oneof![
            Just("ls"), Just("rm -rf"), Just("/"), Just("|"), Just("&&"), Just(";"), Just("$("),
            Just(")"), Just("`"), Just("'"), Just("\""), Just("<<EOF\nx\nEOF"), Just("<<<"), Just("{"),
            Just("}"), Just("("), Just("sh -c"), Just("base64 -d"), Just("echo cm0gLXJmIC8="),
            Just("powershell -enc"), Just("ZABpAHIA"), Just("case x in x)"), Just("esac"), Just("if"),
            Just("then"), Just("fi"), Just("${IFS}"), Just("$'\\x72'"), Just(">& /dev/tcp/1.2.3.4/1"),
            Just("python3 -c 'import os;os.system(\"id\")'"), Just("iex"), Just("(New-Object x)"),
        ],
        0..40,
    )) {
        let text = parts.join(" ");
        let started = std::time::Instant::now();
        let v = engine().judge(&text);
        prop_assert!(v.score <= 100);
        // Bounded work: generous for a loaded debug build, far from exponential blow-ups.
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(2), "{} took {:?}", text, started.elapsed());
    }
}
