//! Team rules: validation names the field and the reason; accepted rules take effect.

use crate::policy::engine::{validate_rules, Engine, RuleInvalid, RuleKind, RuleSpec};

fn rule(id: &str) -> RuleSpec {
    RuleSpec {
        id: id.to_string(),
        description: "Deploys go through the pipeline, not by hand.".to_string(),
        kind: None,
        weight: Some(30),
        program: vec!["kubectl".to_string()],
        not_program: vec![],
        args: Some(super::super::Patterns::One("^apply\\b".to_string())),
        any_arg: None,
        flags: vec![],
        redirect: None,
        piped_to: vec![],
        piped_from: vec![],
        powershell: false,
        language: vec![],
        facts: vec![],
        text: None,
        unless: None,
        examples: vec!["kubectl apply -f deploy.yaml".to_string()],
        counterexamples: vec!["kubectl get pods".to_string()],
    }
}

fn refused(rules: &[RuleSpec]) -> RuleInvalid {
    validate_rules(rules).unwrap_err()
}

#[test]
fn a_valid_team_rule_is_accepted_and_applies() {
    let r = rule("manual-deploy");
    validate_rules(std::slice::from_ref(&r)).unwrap();
    let e = Engine::builtin().unwrap().with_rules(&[r]).unwrap();
    let v = e.judge("sudo kubectl apply -f x.yaml");
    assert!(
        v.indicators
            .iter()
            .any(|h| h.rule == "manual-deploy" && h.weight == 30),
        "{v:?}"
    );
    assert!(!e
        .judge("kubectl get pods")
        .indicators
        .iter()
        .any(|h| h.rule == "manual-deploy"));
    let mut block = rule("no-prod-apply");
    block.kind = Some(RuleKind::Block);
    block.weight = None;
    let e = Engine::builtin().unwrap().with_rules(&[block]).unwrap();
    assert_eq!(
        e.judge("kubectl apply -f x.yaml").hard_block.unwrap().rule,
        "no-prod-apply"
    );
}

#[test]
fn rules_parse_from_json_with_unknown_fields_refused() {
    let json = r#"{"id":"x-y","description":"d","weight":5,"program":["ls"],"examples":["ls"]}"#;
    let r: RuleSpec = serde_json::from_str(json).unwrap();
    validate_rules(&[r]).unwrap();
    let bad = r#"{"id":"x-y","description":"d","weight":5,"programs":["ls"]}"#;
    assert!(serde_json::from_str::<RuleSpec>(bad).is_err());
}

#[test]
fn invalid_rules_name_the_field_and_reason() {
    let mut r = rule("Bad_Id");
    assert_eq!(refused(&[r.clone()]).field, "id");
    r.id = "root-delete".into();
    let e = refused(&[r.clone()]);
    assert_eq!(
        (e.field.as_str(), e.reason.contains("built-in")),
        ("id", true)
    );
    r.id = "ok-id".into();
    r.weight = Some(60);
    assert_eq!(refused(&[r.clone()]).field, "weight");
    r.weight = None;
    assert_eq!(refused(&[r.clone()]).field, "kind");
    r.kind = Some(RuleKind::Block);
    r.weight = Some(10);
    assert_eq!(refused(&[r.clone()]).field, "weight");
    r.weight = Some(10);
    r.kind = None;
    r.args = Some(super::super::Patterns::One("(".into()));
    assert_eq!(refused(&[r.clone()]).field, "args");
    r.args = None;
    r.examples = vec!["ls".into()];
    assert_eq!(refused(&[r.clone()]).field, "examples[0]");
    r.examples = vec!["kubectl apply".into()];
    r.counterexamples = vec!["kubectl delete".into()];
    assert_eq!(refused(&[r.clone()]).field, "counterexamples[0]");
    r.counterexamples.clear();
    r.examples.clear();
    assert_eq!(refused(&[r.clone()]).field, "examples");
    let mut none = rule("no-conditions");
    none.program.clear();
    none.args = None;
    assert_eq!(
        refused(&[none]).reason,
        "a rule needs at least one condition"
    );
    let mut lang = rule("lang-and-command");
    lang.language = vec!["python".into()];
    assert_eq!(refused(&[lang]).field, "language");
    let mut fact = rule("bad-fact");
    fact.facts = vec!["nonsense".into()];
    assert_eq!(refused(&[fact]).field, "facts[0]");
}

#[test]
fn sizes_are_bounded_and_ids_unique() {
    let many: Vec<RuleSpec> = (0..101).map(|i| rule(&format!("r-{i}"))).collect();
    assert!(validate_rules(&many).is_err());
    let mut long = rule("long");
    long.description = "x".repeat(1025);
    assert_eq!(refused(&[long]).field, "description");
    let mut examples = rule("examples");
    examples.examples = vec!["kubectl apply".into(); 21];
    assert_eq!(refused(&[examples]).field, "examples");
    let e = refused(&[rule("twice"), rule("twice")]);
    assert_eq!((e.index, e.field.as_str()), (1, "id"));
    assert_eq!(
        e.to_string(),
        "rules[1].id: already used by an earlier rule"
    );
}
