//! A pipeline decision (the `decision` of a command, or a preview's) as the templates show
//! it: one entry per stage in pipeline order, and the engine's hard block and indicators.

use serde::Deserialize;
use serde_json::Value;

/// The pipeline's stages in order: the key in the decision and the name people read.
const STAGES: [(&str, &str); 4] = [
    ("acl", "ACL"),
    ("engine", "Command security engine"),
    ("approval", "Approval gate"),
    ("rate_limit", "Rate limit"),
];

/// One rule the engine matched, as the decision records it.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Hit {
    rule: String,
    description: String,
    part: String,
    weight: u32,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// What one stage decided, in a sentence.
fn summary(key: &str, v: &Value) -> (bool, String) {
    match key {
        "acl" => {
            let allowed = flag(v, "allowed");
            let word = if allowed { "allowed" } else { "denied" };
            (
                !allowed,
                format!("{word} by rule {}: {}", text(v, "rule"), text(v, "reason")),
            )
        }
        "engine" => {
            let score = v.get("score").and_then(Value::as_u64).unwrap_or(0);
            let blocked = flag(v, "blocked");
            let mut s = format!("{}, risk score {score}", text(v, "level"));
            if flag(v, "library_script") {
                s.push_str(" (an approved library script: the score threshold does not apply)");
            }
            (blocked, s)
        }
        "approval" => match v.get("reason").and_then(Value::as_str) {
            Some(reason) if flag(v, "required") => (false, format!("required: {reason}")),
            _ => (false, "not required".into()),
        },
        "rate_limit" => match text(v, "decision") {
            "allowed" => {
                let left = v.get("remaining").and_then(Value::as_u64).unwrap_or(0);
                (false, format!("within the limit ({left} more this hour)"))
            }
            other => (true, other.to_string()),
        },
        _ => (false, String::new()),
    }
}

/// Every stage of `decision`: its name, whether it was reached, whether it refused, what
/// it decided, and its record as pretty JSON.
pub fn stages(decision: &Value) -> Vec<minijinja::Value> {
    STAGES
        .iter()
        .map(|(key, name)| match decision.get(*key) {
            Some(v) => {
                let (refused, summary) = summary(key, v);
                minijinja::context! {
                    name, reached => true, refused, summary,
                    json => serde_json::to_string_pretty(v).unwrap_or_default(),
                }
            }
            None => minijinja::context! {
                name, reached => false, refused => false,
                summary => "not reached", json => "",
            },
        })
        .collect()
}

fn hit_context(h: &Hit) -> minijinja::Value {
    minijinja::context! {
        rule => &h.rule, description => &h.description, part => &h.part, weight => h.weight,
    }
}

/// The engine's hard block (if any) and its indicators, from `decision`.
pub fn engine_hits(decision: &Value) -> (Option<minijinja::Value>, Vec<minijinja::Value>) {
    let Some(engine) = decision.get("engine") else {
        return (None, Vec::new());
    };
    let hard = engine
        .get("hard_block")
        .filter(|v| !v.is_null())
        .and_then(|v| Hit::deserialize(v).ok())
        .map(|h| hit_context(&h));
    let indicators = engine
        .get("indicators")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .filter_map(|v| Hit::deserialize(v).ok())
                .map(|h| hit_context(&h))
                .collect()
        })
        .unwrap_or_default();
    (hard, indicators)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stages_come_in_pipeline_order_and_unreached_ones_say_so() {
        let d = json!({
            "acl": {"allowed": true, "rule": "default_allow", "reason": "no list names it"},
            "engine": {"blocked": true, "level": "blocked", "score": 100,
                       "hard_block": {"rule": "root-delete", "description": "deletes /",
                                      "part": "rm -rf /", "weight": 100},
                       "indicators": []},
        });
        let s = stages(&d);
        let names: Vec<String> = s
            .iter()
            .map(|v| v.get_attr("name").unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "ACL",
                "Command security engine",
                "Approval gate",
                "Rate limit"
            ]
        );
        assert_eq!(
            s[0].get_attr("summary").unwrap().to_string(),
            "allowed by rule default_allow: no list names it"
        );
        assert!(s[1].get_attr("refused").unwrap().is_true());
        assert!(!s[2].get_attr("reached").unwrap().is_true());
        let (hard, indicators) = engine_hits(&d);
        assert_eq!(
            hard.unwrap().get_attr("part").unwrap().to_string(),
            "rm -rf /"
        );
        assert!(indicators.is_empty());
    }

    #[test]
    fn a_rate_limited_or_approval_stage_reads_as_a_sentence() {
        let (refused, s) = summary(
            "rate_limit",
            &json!({"decision": "allowed", "remaining": 59}),
        );
        assert!(!refused);
        assert_eq!(s, "within the limit (59 more this hour)");
        let (_, s) = summary("approval", &json!({"required": true, "reason": "tagged"}));
        assert_eq!(s, "required: tagged");
        let (_, s) = summary("approval", &json!({"required": false, "reason": null}));
        assert_eq!(s, "not required");
    }
}
