//! The policy editor: an invalid draft names its field and keeps the text, a save needs an
//! owner or admin, and the preview judges the draft without saving or running anything.

use serde_json::{json, Value};

use super::{body, location, ops};
use crate::fleet_api::login;
use crate::fleet_panel::{page, signed_in, unescape};

#[tokio::test]
async fn the_policy_editor_refuses_an_invalid_policy_naming_the_field_and_keeps_the_text() {
    let (a, _, _) = ops().await;
    let ada = signed_in(&a, "ada@example.com").await;
    let api = login(&a, "ada@example.com").await;

    let html = page(&ada, "/policy").await;
    assert!(html.contains("0 (never saved: the defaults)"));
    assert!(
        unescape(&html).contains("\"approval_threshold\": 40"),
        "the current policy as pretty JSON: {html}"
    );
    assert!(html.contains("Europe&#x2f;Berlin"), "the help's example");

    let zone = r#"{"acl": {"windows": [{"days": ["mon"], "from": "08:00", "to": "18:00", "time_zone": "Mars/Olympus"}]}}"#;
    let typed = r#"{"approval_threshold": "high"}"#;
    for (text, field) in [
        (zone, "acl.windows[0].time_zone"),
        (typed, "approval_threshold"),
        ("{\"acl\": {\"colour\": 1}}", "acl.colour"),
    ] {
        let res = ada.post_form("/policy", &[("policy", text)]).await;
        let html = body(res, 400).await;
        let plain = unescape(&html);
        assert!(
            plain.contains(&format!(
                "<p id=\"policy-error\" class=\"error-text\" role=\"alert\"><code>{field}</code>: "
            )),
            "{field}: {html}"
        );
        assert!(plain.contains("aria-invalid=\"true\""));
        assert!(
            plain.contains(&format!("{text}</textarea>")),
            "text kept: {html}"
        );
    }
    let policy: Value = api.get("/api/v1/policy").await.json().await.unwrap();
    assert_eq!(policy["version"], 0, "nothing changed");

    let otto = signed_in(&a, "otto@example.com").await;
    let res = otto
        .post_form("/policy", &[("policy", "{\"approval_threshold\": 10}")])
        .await;
    let html = body(res, 403).await;
    assert!(
        html.contains("may not change the team&#x27;s policy"),
        "{html}"
    );

    let good = r#"{"approval_threshold": 25}"#;
    let res = ada.post_form("/policy", &[("policy", good)]).await;
    assert_eq!(location(&res), "/policy?done=saved");
    let html = page(&ada, "/policy?done=saved").await;
    assert!(html.contains("The policy was saved"));
    assert!(
        html.contains("<dt>Saved by</dt><dd>ada@example.com"),
        "{html}"
    );
    assert!(unescape(&html).contains("\"approval_threshold\": 25"));
    let policy: Value = api.get("/api/v1/policy").await.json().await.unwrap();
    assert_eq!(policy["version"], 1);
    assert_eq!(policy["policy"]["approval_threshold"], 25);
    let records = a.audit_records();
    assert_eq!(
        records
            .iter()
            .filter(|r| r["action"] == "policy.updated")
            .count(),
        1,
        "one save, one record"
    );
}

#[tokio::test]
async fn the_preview_judges_the_draft_without_saving_or_running_anything() {
    let (a, web, _) = ops().await;
    let vera = signed_in(&a, "vera@example.com").await;
    let api = login(&a, "ada@example.com").await;

    let draft = r#"{"acl": {"block_agents": ["tag:web"]}}"#;
    let res = vera
        .post_form(
            "/policy/preview",
            &[
                ("policy", draft),
                ("command", "uptime"),
                ("agent", &web),
                ("role", "operator"),
            ],
        )
        .await;
    let html = body(res, 200).await;
    assert!(
        html.contains("Preview: <span class=\"badge status-blocked\">blocked</span>"),
        "{html}"
    );
    assert!(html.contains("rule <code>blocklisted</code>"), "{html}");
    assert!(
        unescape(&html).contains(&format!("{draft}</textarea>")),
        "the draft stays"
    );

    let res = vera
        .post_form(
            "/policy/preview",
            &[
                ("policy", "{}"),
                ("command", "uptime"),
                ("tags", "require-approval, web"),
                ("role", "operator"),
                ("at", "2030-01-07T09:30"),
            ],
        )
        .await;
    let html = body(res, 200).await;
    assert!(html.contains("status-pending_approval"), "{html}");
    assert!(html.contains("the agent is tagged require-approval"));
    assert!(html.contains("<th scope=\"row\">Approval gate</th>"));

    let res = vera
        .post_form(
            "/policy/preview",
            &[("policy", "{}"), ("command", ""), ("role", "operator")],
        )
        .await;
    let html = body(res, 400).await;
    assert!(html.contains("Command: must not be empty."), "{html}");
    let res = vera
        .post_form(
            "/policy/preview",
            &[("policy", "{}"), ("command", "uptime"), ("at", "someday")],
        )
        .await;
    assert!(body(res, 400).await.contains("Time: use YYYY-MM-DDTHH:MM"));

    let policy: Value = api.get("/api/v1/policy").await.json().await.unwrap();
    assert_eq!(policy["version"], 0, "nothing saved");
    let history: Value = api.get("/api/v1/commands").await.json().await.unwrap();
    assert_eq!(history["commands"], json!([]), "nothing ran");
}
