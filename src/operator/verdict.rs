//! What a finished command means for `tundra exec`'s exit status and its stderr, as ssh
//! users expect: the remote exit code, `128+N` for signal N, `124` for a timeout, `126`
//! when it did not run, `255` when the CLI itself failed.

use super::api::Command;

/// The command ran past its timeout.
pub const EXIT_TIMED_OUT: u8 = 124;
/// The command did not run (blocked, denied, expired, refused, failed, interrupted).
pub const EXIT_DID_NOT_RUN: u8 = 126;
/// The CLI, the network or the API failed.
pub const EXIT_ERROR: u8 = 255;

/// The exit status `tundra exec` reports for the final command `c`.
pub fn exit_status(c: &Command) -> u8 {
    match c.status.as_str() {
        "completed" => match c.result.as_ref().map(|r| (r.signal, r.exit_code)) {
            Some((Some(sig), _)) => u8::try_from(128 + i64::from(sig.max(0))).unwrap_or(EXIT_ERROR),
            Some((None, Some(code))) => u8::try_from(code).unwrap_or(1),
            // "completed" without a result would be the appliance's bug; do not call it 0.
            _ => EXIT_ERROR,
        },
        "timed_out" => EXIT_TIMED_OUT,
        "blocked" | "denied" | "expired" | "refused" | "failed" | "interrupted" => EXIT_DID_NOT_RUN,
        _ => EXIT_ERROR,
    }
}

/// What to tell the operator on stderr about the final command `c`, if anything.
pub fn explain(c: &Command) -> Option<String> {
    let message = c
        .result
        .as_ref()
        .map(|r| r.message.trim())
        .filter(|m| !m.is_empty());
    let said = |what: &str| match message {
        Some(m) => format!("{what}: {m}"),
        None => what.to_string(),
    };
    let text = match c.status.as_str() {
        "completed" => {
            let r = c.result.as_ref()?;
            match (r.signal, r.truncated) {
                (Some(sig), _) => format!("killed by signal {sig}"),
                (None, true) => "the output was cut at the appliance's limit".into(),
                (None, false) => return None,
            }
        }
        "blocked" => match &c.blocked {
            Some(b) => format!(
                "blocked by the {} stage, rule {}: {}",
                b.stage, b.rule, b.reason
            ),
            None => "blocked by policy".into(),
        },
        "denied" => match c.approval.as_ref().and_then(|a| a.decided_by.as_deref()) {
            Some(who) => format!("denied by {who}; it did not run"),
            None => "denied; it did not run".into(),
        },
        "expired" => {
            if c.approval.as_ref().is_some_and(|a| a.decided_by.is_none()) {
                "expired: nobody approved it in time; it did not run".into()
            } else {
                "expired: the agent did not pick it up in time; it did not run".into()
            }
        }
        "refused" => said("refused by the agent"),
        "failed" => said("failed to start"),
        "interrupted" => said("interrupted (the agent restarted or lost its connection)"),
        "timed_out" => said("timed out and was stopped"),
        other => format!("ended as {other}"),
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(status: &str, extra: serde_json::Value) -> Command {
        let mut v = serde_json::json!({"id": "cmd_1", "agent": "agt_1", "status": status,
            "final": true});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn exit_codes_follow_ssh() {
        let done = |r: serde_json::Value| command("completed", serde_json::json!({"result": r}));
        assert_eq!(exit_status(&done(serde_json::json!({"exit_code": 0}))), 0);
        assert_eq!(exit_status(&done(serde_json::json!({"exit_code": 3}))), 3);
        assert_eq!(exit_status(&done(serde_json::json!({"exit_code": 300}))), 1);
        assert_eq!(exit_status(&done(serde_json::json!({"signal": 9}))), 137);
        assert_eq!(
            exit_status(&command("completed", serde_json::json!({}))),
            255
        );
        assert_eq!(
            exit_status(&command("timed_out", serde_json::json!({}))),
            124
        );
        for s in [
            "blocked",
            "denied",
            "expired",
            "refused",
            "failed",
            "interrupted",
        ] {
            assert_eq!(exit_status(&command(s, serde_json::json!({}))), 126, "{s}");
        }
    }

    #[test]
    fn a_blocked_command_names_its_stage_rule_and_reason() {
        let c = command(
            "blocked",
            serde_json::json!({"blocked": {"stage": "engine", "rule": "destructive_root",
                "reason": "deletes the root file system"}}),
        );
        assert_eq!(
            explain(&c).unwrap(),
            "blocked by the engine stage, rule destructive_root: deletes the root file system"
        );
        let ok = command("completed", serde_json::json!({"result": {"exit_code": 0}}));
        assert_eq!(explain(&ok), None);
        let denied = command(
            "denied",
            serde_json::json!({"approval": {"reason": "r", "expires": 1, "decided_by": "ada@x"}}),
        );
        assert!(explain(&denied).unwrap().contains("ada@x"));
    }
}
