//! The panel's fleet pages, driven like a browser: the dashboard counts, the agents list with
//! its search, an agent's page with server-rendered SVG charts, the admin actions with their
//! confirmation (and re-auth for delete), and the enroll page that shows the command once.

use serde_json::json;
use tundra::model::Role;

use crate::fixture::{assert_security_headers, Appliance, Browser};
use crate::fleet_api::{
    enroll, expected_enroll_command, fleet_with_people, login, record_history, reg_token, PW,
};

pub async fn signed_in(a: &Appliance, email: &str) -> Browser {
    let b = a.browser();
    let res = b
        .post_form("/login", &[("email", email), ("password", PW)])
        .await;
    assert_eq!(res.status(), 303, "{email}");
    b
}

/// No inline script, style or event handler: every `<script` loads a file.
pub fn no_inline_code(html: &str) {
    for (i, _) in html.match_indices("<script") {
        assert!(
            html[i..].starts_with("<script src=\"/assets/"),
            "inline script: {html}"
        );
    }
    assert!(!html.contains("style="), "inline style: {html}");
    for handler in ["onclick=", "onload=", "onerror=", "onsubmit=", "onchange="] {
        assert!(!html.contains(handler), "inline handler: {html}");
    }
}

/// Undoes minijinja's HTML escaping (it escapes `/` too).
pub fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// GETs a page that must render; checks the headers and that it has no inline code.
pub async fn page(b: &Browser, path: &str) -> String {
    let res = b.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    assert_security_headers(&res);
    assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    let html = res.text().await.unwrap();
    no_inline_code(&html);
    html
}

/// Two agents in team Ops: web-1 (tags web, linux; with 2 h of history) and db-1 (0.0.9).
async fn two_agents(a: &Appliance) -> (String, String) {
    let api = login(a, "ada@example.com").await;
    let token = reg_token(&api, json!({"uses": 2, "tags": ["web"]})).await;
    let token = token["token"].as_str().unwrap();
    let web = enroll(a, token, "web-1", "0.1.0").await;
    let db = enroll(a, token, "db-1", "0.0.9").await;
    record_history(a, &web, 120);
    (web, db)
}

#[tokio::test]
async fn the_dashboard_and_agents_list_show_the_fleet_and_search_it_on_the_server() {
    let a = fleet_with_people().await;
    let (web, db) = two_agents(&a).await;
    let vera = signed_in(&a, "vera@example.com").await;

    let home = page(&vera, "/").await;
    assert!(home.contains("<a href=\"/agents\">Agents</a>"), "nav link");
    assert!(
        !home.contains("href=\"/enroll\""),
        "viewers get no enroll link"
    );
    for (n, what) in [
        (2, "agents"),
        (0, "online"),
        (2, "offline"),
        (1, "need an update"),
    ] {
        let shown = format!("<span class=\"stat-value\">{n}</span> {what}");
        assert!(home.contains(&shown), "{shown} in {home}");
    }
    // The team's recent events: the two enrollments are among them.
    assert!(home.contains("Recent events"), "{home}");
    assert_eq!(home.matches("<td>agent.enrolled</td>").count(), 2, "{home}");

    let list = page(&vera, "/agents").await;
    assert!(list.contains("<script src=\"/assets/agents.js\" defer></script>"));
    assert!(
        list.contains(&format!("href=\"/agents/{web}\">web-1</a>")),
        "{list}"
    );
    assert!(list.contains(&format!("href=\"/agents/{db}\">db-1</a>")));
    assert!(list.contains("update needed"), "db-1 is below the minimum");
    assert!(list.contains("state-offline"));
    assert!(
        list.contains("href=\"/agents?q=web\">web</a>"),
        "tags link to a search"
    );

    for q in ["db-1", "DB-1", "linux", &db[..12]] {
        let found = page(&vera, &format!("/agents?q={q}")).await;
        assert!(found.contains(">db-1</a>"), "{q}");
        if q != "linux" {
            assert!(!found.contains(">web-1</a>"), "{q} filters web-1 out");
        }
    }
    let none = page(&vera, "/agents?q=%3Cscript%3E").await;
    assert!(none.contains("No agent matches “&lt;script&gt;”"), "{none}");

    let js = a
        .client()
        .get(a.url("/assets/agents.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
}

#[tokio::test]
async fn an_agent_page_draws_its_history_as_inline_svg() {
    let a = fleet_with_people().await;
    let (web, db) = two_agents(&a).await;
    let otto = signed_in(&a, "otto@example.com").await;

    let html = page(&otto, &format!("/agents/{web}")).await;
    assert!(html.contains("<h1>web-1</h1>"));
    assert!(unescape(&html).contains("Debian GNU/Linux 12"));
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        4,
        "CPU, memory, disk, network"
    );
    assert!(
        html.matches("<polyline class=\"line series-a\"").count() >= 4,
        "{html}"
    );
    assert!(
        html.contains("<polyline class=\"line series-b\""),
        "network out"
    );
    assert!(html.contains("aria-current=\"page\" class=\"current\">1h</a>"));
    for r in ["6h", "24h", "7d"] {
        assert!(
            html.contains(&format!("href=\"/agents/{web}?range={r}\"")),
            "{r}"
        );
    }
    for action in ["tags", "deactivate", "delete"] {
        assert!(
            !html.contains(&format!("action=\"/agents/{web}/{action}\"")),
            "operators get no admin forms ({action})"
        );
    }
    assert!(
        html.contains(&format!("action=\"/agents/{web}/commands\"")),
        "but they may run commands"
    );

    let week = page(&otto, &format!("/agents/{web}?range=7d")).await;
    assert!(week.contains("aria-current=\"page\" class=\"current\">7d</a>"));
    assert!(week.contains("<polyline"));

    let empty = page(&otto, &format!("/agents/{db}")).await;
    assert_eq!(empty.matches("No data in this range").count(), 4);
    assert!(!empty.contains("<polyline"));
    assert!(
        empty.contains("below the appliance's minimum 0.1.0"),
        "{empty}"
    );

    let oscar = signed_in(&a, "oscar@example.com").await;
    let res = oscar.get(&format!("/agents/{web}")).await;
    assert_eq!(res.status(), 404, "another team's agent");
    assert_security_headers(&res);
    assert_eq!(oscar.get("/agents/not-an-id").await.status(), 404);
}

#[tokio::test]
async fn admins_tag_deactivate_and_delete_from_the_page_and_delete_needs_reauth() {
    let a = fleet_with_people().await;
    let (web, _) = two_agents(&a).await;
    let ada = signed_in(&a, "ada@example.com").await;
    let base = format!("/agents/{web}");

    let html = page(&ada, &base).await;
    for action in ["tags", "deactivate", "delete"] {
        assert!(
            html.contains(&format!("action=\"{base}/{action}\"")),
            "{action}"
        );
    }
    assert!(
        html.contains("<details class=\"confirm\">"),
        "actions sit behind a disclosure"
    );
    assert!(
        !html.contains("name=\"back\""),
        "signed in just now: no re-auth needed yet"
    );

    let res = ada
        .post_form(&format!("{base}/tags"), &[("tags", "web, Blue ,")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("{base}?done=tags"));
    let html = page(&ada, &format!("{base}?done=tags")).await;
    assert!(html.contains("The tags were saved."));
    assert!(html.contains("value=\"web, blue\""), "{html}");
    let res = ada
        .post_form(&format!("{base}/tags"), &[("tags", "bad tag!")])
        .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Tags: &quot;bad tag!&quot; is not a tag"),
        "{html}"
    );
    assert!(
        html.contains("value=\"bad tag!\""),
        "the typed value is shown again"
    );

    let vera = signed_in(&a, "vera@example.com").await;
    let res = vera.post_form(&format!("{base}/deactivate"), &[]).await;
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Your role does not allow that"));

    let res = ada.post_form(&format!("{base}/deactivate"), &[]).await;
    assert_eq!(res.status(), 303);
    let html = page(&ada, &format!("{base}?done=deactivated")).await;
    assert!(html.contains("class=\"badge state-deactivated\""));
    assert!(!html.contains(&format!("action=\"{base}/deactivate\"")));

    // Signing in counts as a password confirmation; 6 minutes later it no longer does.
    a.clock.advance(time::Duration::minutes(6));
    let res = ada.post_form(&format!("{base}/delete"), &[]).await;
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains("needs your password confirmed"), "{html}");
    assert!(
        html.contains("<details class=\"confirm\" open>"),
        "the delete step stays open"
    );
    assert!(
        unescape(&html).contains(&format!("name=\"back\" value=\"{base}\"")),
        "re-auth form"
    );
    assert_eq!(ada.get(&base).await.status(), 200, "still there");

    let res = ada
        .post_form("/account/reauth", &[("password", PW), ("back", &base)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("{base}?done=reauth"));
    let res = ada
        .post_form(
            "/account/reauth",
            &[("password", PW), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(
        res.headers()["location"],
        "/account?done=reauth",
        "no open redirect"
    );
    let res = ada.post_form(&format!("{base}/delete"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/agents?done=deleted");
    assert_eq!(ada.get(&base).await.status(), 404);
    let list = page(&ada, "/agents?done=deleted").await;
    assert!(list.contains("deleted with its history"));
    assert!(!list.contains(">web-1</a>"));
}

#[tokio::test]
async fn the_enroll_page_shows_the_install_and_enroll_command_once() {
    let a = fleet_with_people().await;
    let ada = signed_in(&a, "ada@example.com").await;

    let form = page(&ada, "/enroll").await;
    for field in ["ttl_secs", "uses", "tags"] {
        assert!(form.contains(&format!("<label for=\"{field}\"")), "{field}");
    }
    assert!(form.contains("<option value=\"3600\" selected>1 hour</option>"));
    assert!(
        form.contains(a.core().fleet.ca_fingerprint()),
        "the pin is shown for checking"
    );

    let res = ada
        .post_form(
            "/enroll",
            &[("ttl_secs", "900"), ("uses", "3"), ("tags", "web, prod")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    no_inline_code(&html);
    assert!(html.contains("<script src=\"/assets/copy.js\" defer></script>"));
    assert!(html.contains("data-copy-target=\"enroll-command\""));
    assert!(html.contains("will not be shown again"));
    let token = html
        .split("--token ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();
    assert!(token.starts_with("tnd_reg_"), "{token}");
    assert_eq!(html.matches(&token[8..]).count(), 1, "shown exactly once");
    let command = format!(
        "sudo ./install.sh --agent && {} && sudo systemctl enable --now tundra-agent",
        expected_enroll_command(&a, &token)
    );
    assert!(
        unescape(&html).contains(&format!("value=\"{command}\"")),
        "{html}"
    );

    // The token works (three times) and carries its tags; the list never shows its value.
    let agent = enroll(&a, &token, "edge-1", "0.1.0").await;
    let api = login(&a, "ada@example.com").await;
    let one: serde_json::Value = api
        .get(&format!("/api/v1/agents/{agent}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["tags"], json!(["web", "prod", "linux"]));
    let listed = page(&ada, "/enroll").await;
    assert!(!listed.contains(&token[8..]));
    assert!(listed.contains("1 of 3"), "{listed}");
    let id = listed
        .split("action=\"/enroll/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let res = ada.post_form(&format!("/enroll/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), 303);
    assert!(page(&ada, "/enroll?done=revoked")
        .await
        .contains("None: every token"));

    let res = ada
        .post_form("/enroll", &[("ttl_secs", "3600"), ("uses", "0")])
        .await;
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Uses: must be between 1 and"));

    a.add_user("Ops", "otto2@example.com", Role::Operator, PW);
    let otto = signed_in(&a, "otto2@example.com").await;
    let res = otto.get("/enroll").await;
    assert_eq!(res.status(), 403);
    assert_security_headers(&res);
    let res = otto
        .post_form("/enroll", &[("ttl_secs", "3600"), ("uses", "1")])
        .await;
    assert_eq!(res.status(), 403);
    assert!(!res.text().await.unwrap().contains("tnd_reg_"));
}
