//! The panel's command pages, driven like a browser: running from an agent's page and by
//! tag, the history, one command with every pipeline stage, the approval queue with its
//! re-auth step, the script library and the policy editor with its preview — each page for
//! each role, every form refused without its CSRF field. Agents are enrolled but offline,
//! so an accepted command stays `queued` (a live agent running it is tested elsewhere).

use serde_json::{json, Value};
use tundra::model::Role;

use crate::fixture::{Appliance, Browser};
use crate::fleet_api::{enroll, login, reg_token, PW};
use crate::fleet_panel::{no_inline_code, page, signed_in};

mod approvals;
mod live;
mod policy;
mod runs;
mod scripts;

/// The value of the hidden field `name` in the first form that has one.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"))
        .to_string()
}

/// The table row of pipeline stage `name` on a page.
pub fn stage_row<'a>(html: &'a str, name: &str) -> &'a str {
    let at = html
        .find(&format!("<th scope=\"row\">{name}</th>"))
        .unwrap_or_else(|| panic!("no stage {name}"));
    let start = html[..at].rfind("<tr").unwrap();
    &html[start..at]
}

/// The redirect target of a 303.
pub fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 303, "{}", res.url());
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The body of a page answered with `status`, checked for inline code.
pub async fn body(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status(), status, "{}", res.url());
    let html = res.text().await.unwrap();
    no_inline_code(&html);
    html
}

/// A command as the JSON API shows it (the panel must show the same facts).
pub async fn api_command(api: &Browser, id: &str) -> Value {
    api.get(&format!("/api/v1/commands/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

/// Team Ops (admin ada, operator otto, viewer vera, and a second admin adam) with agent
/// web-1 (tags web, linux) and agent gate-1 (tags require-approval, linux), both offline.
pub async fn ops() -> (Appliance, String, String) {
    ops_with(|_| {}).await
}

pub async fn ops_with(
    tweak: impl FnOnce(&mut tundra::config::Config),
) -> (Appliance, String, String) {
    let a = Appliance::start_with(|c| {
        c.require_two_factor = false;
        tweak(c);
    })
    .await;
    a.add_user("Ops", "ada@example.com", Role::Admin, PW);
    a.add_user("Ops", "adam@example.com", Role::Admin, PW);
    a.add_user("Ops", "otto@example.com", Role::Operator, PW);
    a.add_user("Ops", "vera@example.com", Role::Viewer, PW);
    a.add_user("Other", "oscar@example.com", Role::Admin, PW);
    let api = login(&a, "ada@example.com").await;
    let web = reg_token(&api, json!({"tags": ["web"]})).await;
    let web = enroll(&a, web["token"].as_str().unwrap(), "web-1", "0.1.0").await;
    let gate = reg_token(&api, json!({"tags": ["require-approval"]})).await;
    let gate = enroll(&a, gate["token"].as_str().unwrap(), "gate-1", "0.1.0").await;
    (a, web, gate)
}

/// Runs `command` from agent `agent`'s page as `b`; answers the POST's response.
pub async fn run_from_agent_page(b: &Browser, agent: &str, command: &str) -> reqwest::Response {
    let html = page(b, &format!("/agents/{agent}")).await;
    let request_id = hidden(&html, "request_id");
    b.post_form(
        &format!("/agents/{agent}/commands"),
        &[
            ("command", command),
            ("timeout_s", ""),
            ("request_id", &request_id),
        ],
    )
    .await
}

/// Runs `command` on `agent` and answers the new command's id.
pub async fn run(b: &Browser, agent: &str, command: &str) -> String {
    let to = location(&run_from_agent_page(b, agent, command).await);
    to.strip_prefix("/commands/").unwrap().to_string()
}
#[tokio::test]
async fn every_page_renders_for_each_role_with_what_that_role_may_do() {
    let (a, web, gate) = ops().await;
    let otto = signed_in(&a, "otto@example.com").await;
    let pending = run(&otto, &gate, "uptime").await;

    for (who, role) in [
        ("ada@example.com", "admin"),
        ("otto@example.com", "operator"),
        ("vera@example.com", "viewer"),
    ] {
        let b = signed_in(&a, who).await;
        let (operates, approves) = (role != "viewer", role == "admin");
        for (path, section) in [
            ("/commands", "Commands"),
            ("/approvals", "Approvals"),
            ("/scripts", "Scripts"),
            ("/policy", "Policy"),
        ] {
            let html = page(&b, path).await;
            assert!(
                html.contains(&format!("href=\"{path}\" aria-current=\"page\">{section}")),
                "{who} {path}: the nav marks the page"
            );
            for other in ["/commands", "/approvals", "/scripts", "/policy"] {
                assert!(
                    html.contains(&format!("href=\"{other}\"")),
                    "{who} {path} {other}"
                );
            }
            assert!(
                html.contains("<span class=\"badge count\">1<span class=\"skip\"> waiting"),
                "{who}: one approval waits"
            );
        }

        let agent = page(&b, &format!("/agents/{web}")).await;
        let run_form = format!("action=\"/agents/{web}/commands\"");
        assert_eq!(agent.contains(&run_form), operates, "{who}: run form");
        assert_eq!(agent.contains("name=\"request_id\""), operates, "{who}");

        let list = page(&b, "/commands").await;
        assert_eq!(
            list.contains("method=\"post\" action=\"/commands\""),
            operates,
            "{who}: run by tag"
        );
        assert!(
            list.contains("method=\"get\" action=\"/commands\""),
            "{who}: filters"
        );
        assert!(
            list.contains(&format!("href=\"/commands/{pending}\"")),
            "{who}: {list}"
        );
        assert!(list.contains("status-pending_approval"), "{who}");

        let queue = page(&b, "/approvals").await;
        assert!(
            queue.contains(&format!("href=\"/commands/{pending}\"")),
            "{who}"
        );
        assert!(
            queue.contains("the agent is tagged require-approval"),
            "{who}: {queue}"
        );
        let approve = format!("action=\"/approvals/{pending}/approve\"");
        assert_eq!(queue.contains(&approve), approves, "{who}: approve buttons");
        let one = page(&b, &format!("/commands/{pending}")).await;
        assert_eq!(
            one.contains(&approve),
            approves,
            "{who}: approve on the command"
        );
        if role == "operator" {
            assert!(queue.contains("Your own: waiting for another owner or admin"));
            assert!(one.contains("waiting for another owner or admin to approve it"));
        }

        let scripts = page(&b, "/scripts").await;
        assert_eq!(
            scripts.contains("action=\"/scripts\""),
            approves,
            "{who}: approve a script"
        );
        let policy = page(&b, "/policy").await;
        assert_eq!(
            policy.contains("formaction=\"/policy\""),
            approves,
            "{who}: save"
        );
        assert!(
            policy.contains("action=\"/policy/preview\""),
            "{who}: everyone previews"
        );
    }

    // Another team sees none of it, and its probe of the command is a 404.
    let oscar = signed_in(&a, "oscar@example.com").await;
    assert!(!page(&oscar, "/commands").await.contains(&pending));
    assert!(!page(&oscar, "/approvals").await.contains(&pending));
    let res = oscar.get(&format!("/commands/{pending}")).await;
    assert_eq!(res.status(), 404);
    let res = oscar.get(&format!("/commands/{pending}/stdout")).await;
    assert_eq!(res.status(), 404);
    for path in ["/commands", "/approvals", "/scripts", "/policy"] {
        assert_eq!(
            a.browser().get(path).await.status(),
            401,
            "{path} signed out"
        );
    }
}

#[tokio::test]
async fn forms_without_the_csrf_field_are_refused_and_change_nothing() {
    let (a, web, gate) = ops().await;
    let ada = signed_in(&a, "ada@example.com").await;
    let otto = signed_in(&a, "otto@example.com").await;
    let pending = run(&otto, &gate, "uptime").await;
    let res = ada
        .post_form(
            "/scripts",
            &[("name", "disk"), ("description", ""), ("content", "df -h")],
        )
        .await;
    assert_eq!(location(&res), "/scripts/disk?done=approved");

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("/agents/{web}/commands"),
            vec![("command", "uptime"), ("request_id", "r1")],
        ),
        (
            "/commands".into(),
            vec![("tag", "web"), ("command", "uptime"), ("request_id", "r2")],
        ),
        (format!("/approvals/{pending}/approve"), vec![]),
        (format!("/approvals/{pending}/deny"), vec![]),
        (
            "/scripts".into(),
            vec![("name", "other"), ("content", "uptime")],
        ),
        (
            "/scripts/disk/run".into(),
            vec![("agent", web.as_str()), ("request_id", "r3")],
        ),
        ("/scripts/disk/retire".into(), vec![]),
        (
            "/policy".into(),
            vec![("policy", "{\"approval_threshold\": 5}")],
        ),
        (
            "/policy/preview".into(),
            vec![("policy", "{}"), ("command", "uptime")],
        ),
    ];
    for (path, fields) in &forms {
        let res = ada
            .client
            .post(a.url(path))
            .form(fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
        assert!(
            res.text().await.unwrap().contains("security token"),
            "{path}"
        );
    }

    let api = login(&a, "ada@example.com").await;
    let history: Value = api.get("/api/v1/commands").await.json().await.unwrap();
    assert_eq!(
        history["commands"].as_array().unwrap().len(),
        1,
        "{history}"
    );
    assert_eq!(
        api_command(&api, &pending).await["status"],
        "pending_approval"
    );
    let scripts: Value = api.get("/api/v1/scripts").await.json().await.unwrap();
    assert_eq!(scripts["scripts"].as_array().unwrap().len(), 1);
    assert_eq!(scripts["scripts"][0]["retired"], false);
    let policy: Value = api.get("/api/v1/policy").await.json().await.unwrap();
    assert_eq!(policy["version"], 0);
}
