//! The script library: approve versions, run one by name on an agent or a tag, retire.

use serde_json::Value;

use super::{body, hidden, location, ops};
use crate::fleet_api::login;
use crate::fleet_panel::{page, signed_in, unescape};

#[tokio::test]
async fn a_script_is_approved_run_by_name_and_retired() {
    let (a, web, _) = ops().await;
    let ada = signed_in(&a, "ada@example.com").await;
    let otto = signed_in(&a, "otto@example.com").await;
    let api = login(&a, "ada@example.com").await;

    let form = [
        ("name", "disk-usage"),
        ("description", "How full the disks are"),
        ("content", "df -h\ndu -sh /var/log"),
    ];
    assert_eq!(
        location(&ada.post_form("/scripts", &form).await),
        "/scripts/disk-usage?done=approved"
    );
    let v2 = [
        ("name", "disk-usage"),
        ("description", "v2"),
        ("content", "df -hT"),
    ];
    assert_eq!(
        location(&ada.post_form("/scripts", &v2).await),
        "/scripts/disk-usage?done=approved"
    );
    let listed: Value = api
        .get("/api/v1/scripts/disk-usage")
        .await
        .json()
        .await
        .unwrap();
    let sha2 = listed["scripts"][0]["sha256"].as_str().unwrap().to_string();
    let sha1 = listed["scripts"][1]["sha256"].as_str().unwrap().to_string();

    let library = page(&otto, "/scripts").await;
    assert!(library.contains("href=\"/scripts/disk-usage\">disk-usage</a>"));
    assert!(library.contains(&format!("<code title=\"{sha2}\">{}</code>", &sha2[..12])));
    assert!(library.contains("<td>2</td>"), "the newest version");
    assert!(library.contains("ada@example.com"));
    let one = page(&otto, "/scripts/disk-usage").await;
    assert!(one.contains("Version 2") && one.contains("Version 1"));
    assert!(one.contains(&sha1) && one.contains(&sha2));
    assert!(
        one.contains("df -h\ndu -sh &#x2f;var&#x2f;log"),
        "the content: {one}"
    );
    assert!(one.contains("action=\"/scripts/disk-usage/run\""));

    let request_id = hidden(&one, "request_id");
    let res = otto
        .post_form(
            "/scripts/disk-usage/run",
            &[
                ("version", "1"),
                ("agent", &web),
                ("tag", ""),
                ("request_id", &request_id),
            ],
        )
        .await;
    let id = location(&res)
        .strip_prefix("/commands/")
        .unwrap()
        .to_string();
    let html = page(&otto, &format!("/commands/{id}")).await;
    assert!(
        html.contains("href=\"/scripts/disk-usage\">disk-usage</a> version 1"),
        "{html}"
    );
    assert!(html.contains(&sha1));
    let res = otto
        .post_form(
            "/scripts/disk-usage/run",
            &[("agent", &web), ("tag", "web"), ("request_id", "x-2")],
        )
        .await;
    assert!(body(res, 400).await.contains("not both"));

    // By tag: one agent carries it, so the run lands on that one command.
    let res = otto
        .post_form(
            "/scripts/disk-usage/run",
            &[("agent", ""), ("tag", "web"), ("request_id", "by-tag-1")],
        )
        .await;
    assert!(location(&res).starts_with("/commands/cmd_"));

    let refused = otto.post_form("/scripts", &form).await;
    assert!(body(refused, 403).await.contains("may not approve"));
    let blocked = ada
        .post_form("/scripts", &[("name", "wipe"), ("content", "rm -rf /")])
        .await;
    let html = body(blocked, 400).await;
    assert!(html.contains("Content: refused by rule"), "{html}");
    assert!(
        unescape(&html).contains(">rm -rf /</textarea>"),
        "typed text kept"
    );

    let res = ada.post_form("/scripts/disk-usage/retire", &[]).await;
    assert_eq!(location(&res), "/scripts?done=retired");
    let library = page(&ada, "/scripts?done=retired").await;
    assert!(library.contains("The script was retired"));
    assert!(library.contains("status-denied\">retired"));
    assert!(!library.contains("action=\"/scripts/disk-usage/retire\""));
    let one = page(&otto, "/scripts/disk-usage").await;
    assert!(
        !one.contains("action=\"/scripts/disk-usage/run\""),
        "nothing to run"
    );
    let res = otto
        .post_form(
            "/scripts/disk-usage/run",
            &[("agent", &web), ("request_id", "after-retire")],
        )
        .await;
    assert!(body(res, 400).await.contains("is retired"));
    assert_eq!(
        ada.post_form("/scripts/nope/retire", &[]).await.status(),
        404
    );
}
