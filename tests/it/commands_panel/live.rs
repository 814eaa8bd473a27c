//! A command a live agent ran, as its page shows it: exit code, duration, output with its
//! sizes and digests, the agent's signature, and the downloads.

use std::time::Duration;

use serde_json::Value;
use tundra::agent::RunOptions;
use tundra::crypto::digest::sha256;

use super::{api_command, ops, run};
use crate::agents::{enroll_and_run, wait_online};
use crate::fleet_api::login;
use crate::fleet_panel::{page, signed_in};

/// Polls the API until command `id` is final (at most 20 s).
async fn finished(api: &crate::fixture::Browser, id: &str) -> Value {
    for _ in 0..10 {
        let v: Value = api
            .get(&format!("/api/v1/commands/{id}?wait_s=2"))
            .await
            .json()
            .await
            .unwrap();
        if v["final"] == true {
            return v;
        }
    }
    panic!("command {id} did not finish");
}

#[tokio::test]
async fn a_finished_command_shows_its_exit_code_output_digests_and_signature() {
    let (a, _, _) = ops().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..RunOptions::default()
    };
    let agent = enroll_and_run(&a, dir.path(), opts).await;
    wait_online(&a, &agent.id, true).await;
    let otto = signed_in(&a, "otto@example.com").await;
    let api = login(&a, "otto@example.com").await;

    let id = run(&otto, &agent.id, "echo out-$((40+2)); echo err >&2; exit 3").await;
    let view = finished(&api, &id).await;
    assert_eq!(view["status"], "completed", "{view}");
    let html = page(&otto, &format!("/commands/{id}")).await;
    assert!(html.contains("<span class=\"badge status-completed\">completed</span>"));
    assert!(!html.contains("data-pending"), "final: no refresh");
    assert!(html.contains("<dd>exit code 3</dd>"), "{html}");
    assert!(html.contains("complete within the cap"));
    let out = hex::encode(sha256(b"out-42\n"));
    let err = hex::encode(sha256(b"err\n"));
    assert!(
        html.contains(&format!(
            "7 bytes · SHA-256 <code class=\"fingerprint\">{out}</code>"
        )),
        "{html}"
    );
    assert!(html.contains(&format!(
        "4 bytes · SHA-256 <code class=\"fingerprint\">{err}</code>"
    )));
    assert!(
        html.contains(">out-42\n</pre>") && html.contains(">err\n</pre>"),
        "{html}"
    );
    let signature = view["result"]["agent_signature"].as_str().unwrap();
    assert!(html.contains(signature), "the signature");
    let ms = view["result"]["duration_ms"].as_i64().unwrap();
    let ran = format!("<dd>{}.{:03} s, from <time", ms / 1000, ms % 1000);
    assert!(html.contains(&ran), "{ran} in {html}");

    for (stream, text) in [("stdout", "out-42\n"), ("stderr", "err\n")] {
        let res = otto.get(&format!("/commands/{id}/{stream}")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), text, "{stream}");
    }
    let agent_page = page(&otto, &format!("/agents/{}", agent.id)).await;
    assert!(
        agent_page.contains("<td>3</td>"),
        "the exit code in the last commands"
    );
    assert_eq!(api_command(&api, &id).await["result"]["exit_code"], 3);
    agent.stop().await;
}
