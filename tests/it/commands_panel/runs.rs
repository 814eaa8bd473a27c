//! Running from an agent's page and by tag, the history with its filters and paging, and
//! blocked commands with the rule that blocked them.

use super::{
    api_command, body, hidden, location, ops, ops_with, run, run_from_agent_page, stage_row,
};
use crate::fleet_api::login;
use crate::fleet_panel::{page, signed_in, unescape};

#[tokio::test]
async fn running_from_the_agent_page_lands_on_the_command_and_a_double_submit_runs_once() {
    let (a, web, _) = ops_with(|c| c.command_rate_limit_per_hour = 2).await;
    let otto = signed_in(&a, "otto@example.com").await;

    let html = page(&otto, &format!("/agents/{web}")).await;
    assert!(html.contains("No commands on this agent yet."));
    let request_id = hidden(&html, "request_id");
    assert!(request_id.len() > 20, "random: {request_id}");
    let again = hidden(&page(&otto, &format!("/agents/{web}")).await, "request_id");
    assert_ne!(request_id, again, "a new key per rendered form");
    let form = [
        ("command", "uptime && echo '<b>done</b>'"),
        ("timeout_s", "30"),
        ("request_id", request_id.as_str()),
    ];
    let first = location(
        &otto
            .post_form(&format!("/agents/{web}/commands"), &form)
            .await,
    );
    let second = location(
        &otto
            .post_form(&format!("/agents/{web}/commands"), &form)
            .await,
    );
    assert_eq!(first, second, "the same form sent twice is one command");
    let id = first.strip_prefix("/commands/").unwrap();

    let one = page(&otto, &first).await;
    assert!(
        one.contains("uptime &amp;&amp; echo &#x27;&lt;b&gt;done&lt;&#x2f;b&gt;&#x27;"),
        "escaped: {one}"
    );
    assert!(one.contains("<span class=\"badge status-queued\">queued</span>"));
    assert!(one.contains("data-pending"), "refreshes while not final");
    assert!(one.contains("<script src=\"/assets/commands.js\" defer></script>"));
    assert!(one.contains("<th scope=\"row\">ACL</th>"));
    assert!(one.contains("allowed by rule default_allow"), "{one}");
    assert!(one.contains("<th scope=\"row\">Rate limit</th>"));
    assert!(one.contains("within the limit (1 more this hour)"), "{one}");
    assert!(one.contains("30 s"), "the timeout");
    assert!(one.contains("otto@example.com"));
    assert!(one.contains("Not run yet."));
    let api = login(&a, "otto@example.com").await;
    let view = api_command(&api, id).await;
    assert_eq!(view["status"], "queued");
    assert_eq!(view["timeout_s"], 30);
    assert!(one.contains(&format!("{} of 100", view["risk_score"])));

    let agent = page(&otto, &format!("/agents/{web}")).await;
    assert!(
        agent.contains(&format!("href=\"/commands/{id}\"")),
        "last commands"
    );
    let list = page(&otto, &format!("/commands?agent={web}")).await;
    assert_eq!(list.matches(&format!("href=\"/commands/{id}\"")).count(), 1);
    let none = page(&otto, "/commands?status=completed").await;
    assert!(none.contains("No command matches."));
    let bad = page(&otto, "/commands?status=%3Cb%3E").await;
    assert!(
        bad.contains("Status &quot;&lt;b&gt;&quot; is not one of"),
        "{bad}"
    );

    let res = otto.get(&format!("/commands/{id}/stdout")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"{id}-stdout.txt\"")
    );
    assert_eq!(res.text().await.unwrap(), "", "nothing ran yet");

    // Refusals show the agent page again with the reason and the typed command.
    for (timeout, message) in [
        ("soon", "Timeout: must be a whole number of seconds"),
        ("0", "Timeout: must be between 1 and"),
    ] {
        let res = otto
            .post_form(
                &format!("/agents/{web}/commands"),
                &[
                    ("command", "df -h /var"),
                    ("timeout_s", timeout),
                    ("request_id", "fresh-1"),
                ],
            )
            .await;
        let html = body(res, 400).await;
        assert!(html.contains(message), "{html}");
        assert!(
            unescape(&html).contains(">df -h /var</textarea>"),
            "typed text kept"
        );
        assert!(unescape(&html).contains(&format!("value=\"{timeout}\"")));
    }
    let second = run(&otto, &web, "hostname").await;
    assert_ne!(second, id);
    let res = run_from_agent_page(&otto, &web, "whoami").await;
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let html = body(res, 429).await;
    assert!(
        html.contains("Too many commands: at most 2 per hour"),
        "{html}"
    );
    assert!(html.contains(">whoami</textarea>"));

    let vera = signed_in(&a, "vera@example.com").await;
    let res = vera
        .post_form(
            &format!("/agents/{web}/commands"),
            &[("command", "uptime"), ("request_id", "vera-1")],
        )
        .await;
    let html = body(res, 403).await;
    assert!(html.contains("may not run commands"), "{html}");
}

#[tokio::test]
async fn a_run_by_tag_lands_on_its_batch_and_the_history_pages_back() {
    let (a, web, gate) = ops().await;
    let otto = signed_in(&a, "otto@example.com").await;

    let html = page(&otto, "/commands").await;
    assert!(html.contains("No commands yet."));
    assert!(!html.contains("class=\"pager\""), "one page: no paging");
    let request_id = hidden(&html, "request_id");
    let form = [
        ("tag", "linux"),
        ("command", "uptime"),
        ("timeout_s", ""),
        ("request_id", request_id.as_str()),
    ];
    let to = location(&otto.post_form("/commands", &form).await);
    let batch = to.strip_prefix("/commands?batch=").unwrap().to_string();
    assert!(batch.starts_with("bat_"), "{to}");
    let html = page(&otto, &to).await;
    assert!(
        html.contains(&format!("(batch <code>{batch}</code>)")),
        "{html}"
    );
    assert_eq!(
        html.matches("href=\"/commands/cmd_").count(),
        2,
        "one per agent"
    );
    assert!(html.contains(&format!("href=\"/agents/{web}\">web-1")));
    assert!(html.contains(&format!("href=\"/agents/{gate}\">gate-1")));
    assert!(html.contains("status-queued") && html.contains("status-pending_approval"));
    assert_eq!(
        location(&otto.post_form("/commands", &form).await),
        to,
        "runs once"
    );

    let res = otto
        .post_form(
            "/commands",
            &[
                ("tag", "nowhere"),
                ("command", "uptime"),
                ("request_id", "t-1"),
            ],
        )
        .await;
    let html = body(res, 400).await;
    assert!(
        html.contains("Tag: no active agent of your team carries the tag"),
        "{html}"
    );
    assert!(html.contains("value=\"nowhere\"") && html.contains(">uptime</textarea>"));

    // 26 requests reach both agents: 52 commands, 50 on the first page.
    for i in 1..26 {
        let id = format!("more-{i}");
        let res = otto
            .post_form(
                "/commands",
                &[("tag", "linux"), ("command", "date"), ("request_id", &id)],
            )
            .await;
        assert_eq!(res.status(), 303, "{i}");
    }
    let first = page(&otto, "/commands").await;
    assert_eq!(first.matches("href=\"/commands/cmd_").count(), 50);
    assert!(!first.contains(">Newest</a>"));
    let plain = unescape(&first);
    let end = plain.find("\" rel=\"next\">Older</a>").unwrap();
    let start = plain[..end].rfind("href=\"").unwrap() + "href=\"".len();
    let older = plain[start..end].to_string();
    assert!(older.starts_with("/commands?after="), "{older}");
    let second = page(&otto, &older).await;
    assert_eq!(
        second.matches("href=\"/commands/cmd_").count(),
        2,
        "{older}"
    );
    assert!(second.contains(">Newest</a>"));
    assert!(!second.contains("rel=\"next\""), "the end");
    let web_only = page(&otto, &format!("/commands?agent={web}")).await;
    assert_eq!(web_only.matches("href=\"/commands/cmd_").count(), 26);
}

#[tokio::test]
async fn blocked_commands_show_the_rule_that_blocked_them() {
    let (a, web, _) = ops().await;
    let otto = signed_in(&a, "otto@example.com").await;
    let api = login(&a, "otto@example.com").await;

    let id = run(&otto, &web, "rm -rf /").await;
    let view = api_command(&api, &id).await;
    assert_eq!(view["status"], "blocked");
    assert_eq!(view["blocked"]["stage"], "engine");
    let rule = view["blocked"]["rule"].as_str().unwrap();
    let html = page(&otto, &format!("/commands/{id}")).await;
    assert!(html.contains("<span class=\"badge status-blocked\">blocked</span>"));
    assert!(
        html.contains(&format!(
            "Blocked by the engine stage, rule <code>{rule}</code>"
        )),
        "{html}"
    );
    assert!(html.contains("<h3>Hard block</h3>"), "{html}");
    let hard = &view["decision"]["engine"]["hard_block"];
    assert!(unescape(&html).contains(&format!("<code>{}</code>", hard["part"].as_str().unwrap())));
    assert!(!html.contains("data-pending"), "final: no refresh");
    assert!(html.contains("It never ran."));
    assert!(
        stage_row(&html, "Approval gate").contains("class=\"unreached\""),
        "stages after the block are not reached: {html}"
    );

    // An ACL block list by tag stops it at the first stage.
    let ada = signed_in(&a, "ada@example.com").await;
    let saved = ada
        .post_form(
            "/policy",
            &[("policy", r#"{"acl": {"block_agents": ["tag:web"]}}"#)],
        )
        .await;
    assert_eq!(location(&saved), "/policy?done=saved");
    let id = run(&otto, &web, "uptime").await;
    let html = page(&otto, &format!("/commands/{id}")).await;
    assert!(
        html.contains("Blocked by the acl stage, rule <code>blocklisted</code>"),
        "{html}"
    );
    assert!(html.contains("denied by rule blocklisted"), "{html}");
    assert!(html.contains("tag:web"));
    let list = page(&otto, "/commands?status=blocked").await;
    assert_eq!(
        list.matches("status-blocked\">blocked").count(),
        2,
        "{list}"
    );
}
