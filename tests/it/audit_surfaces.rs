//! The audit log's surfaces: a team's export over the API verifies offline with the real CLI
//! and holds nothing of another team; heads are published on request and on the schedule (by
//! moving the clock) and a saved head catches a cut-off tail; archive round trips (`archive`);
//! the panel's page (`panel`).

mod archive;
mod panel;

use std::path::Path;

use serde_json::{json, Value};
use tundra::audit::published_head;
use tundra::model::{Role, TeamId};

use crate::fixture::{stdout, tundra_cli, Appliance, Browser};
use crate::fleet_api::{login, reg_token, status_and_body, PW};

/// Team Ops (admin ada, viewer vera) and team Other (admin oscar), each with a few records.
pub async fn two_teams() -> (Appliance, Browser, Browser) {
    let a = Appliance::start_with(|c| c.require_two_factor = false).await;
    a.add_user("Ops", "ada@example.com", Role::Admin, PW);
    a.add_user("Ops", "vera@example.com", Role::Viewer, PW);
    a.add_user("Other", "oscar@example.com", Role::Admin, PW);
    let ada = login(&a, "ada@example.com").await;
    let oscar = login(&a, "oscar@example.com").await;
    for _ in 0..3 {
        reg_token(&ada, json!({})).await;
        reg_token(&oscar, json!({})).await;
    }
    (a, ada, oscar)
}

/// The caller's team's whole export, fetched `page` lines at a time by following
/// `X-Tundra-Next-After`.
pub async fn export(b: &Browser, page: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut after = 0u64;
    loop {
        let res = b
            .get(&format!("/api/v1/audit-log?after={after}&limit={page}"))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/x-ndjson"
        );
        let next = res
            .headers()
            .get("x-tundra-next-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let text = res.text().await.unwrap();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        assert!(got.len() <= page);
        lines.extend(got);
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    lines
}

/// `tundra audit verify FILE --pubkey KEY [extra…]`: (exit code, stdout).
pub async fn verify(dir: &Path, file: &Path, pubkey: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "audit",
        "verify",
        file.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = tundra_cli(dir, &args).await;
    (out.status.code().unwrap_or(-1), stdout(&out))
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

async fn team_of(b: &Browser) -> String {
    let (_, me) = status_and_body(b.get("/api/v1/me").await).await;
    me["team"]["id"]
        .as_str()
        .or(me["team_id"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no team id in /me: {me}"))
}

#[tokio::test]
async fn a_teams_export_verifies_offline_and_holds_nothing_of_another_team() {
    let (a, ada, oscar) = two_teams().await;
    let ops = team_of(&ada).await;
    let other = team_of(&oscar).await;
    let dir = tempfile::tempdir().unwrap();
    let pubkey = dir.path().join("audit.pub");
    let res = ada.get("/api/v1/audit-log/pubkey").await;
    assert_eq!(res.status(), 200);
    std::fs::write(&pubkey, res.text().await.unwrap()).unwrap();
    let (status, head) = status_and_body(ada.get("/api/v1/audit-log/head").await).await;
    assert_eq!(status, 200, "{head}");
    let head_path = dir.path().join("head.json");
    std::fs::write(&head_path, head["head"].to_string()).unwrap();

    // Paged in threes: the pages join into one chain.
    let lines = export(&ada, 3).await;
    assert!(lines.len() >= 4, "the team's records: {lines:?}");
    let text = lines.join("\n");
    assert!(!text.contains(&other), "another team's id leaked");
    let theirs = export(&oscar, 1000).await;
    assert!(theirs.len() >= 4);
    // Of another team's records, only a hash can show up, and only as the appliance-wide
    // `prev_hash` of the Ops record written right after it: no team, actor, target or detail.
    let ours: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in &theirs {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["team"], other.as_str());
        let hash = r["hash"].as_str().unwrap();
        for o in &ours {
            let mut without_link = o.clone();
            without_link["prev_hash"] = Value::Null;
            assert!(!without_link.to_string().contains(hash));
        }
        for field in ["actor", "target", "request_id"] {
            let v = match &r[field] {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let shared = ["local_cli", "\"system\"", "anonymous"];
            if v.len() > 10 && !shared.iter().any(|s| v.contains(s)) {
                assert!(!text.contains(&v), "Ops's export names {v}");
            }
        }
    }
    // The appliance-wide log interleaves the two teams: Ops's export really skips records.
    let all = a.audit_records();
    assert!(all.iter().any(|r| r["team"] == other.as_str()));

    let file = dir.path().join("ops.jsonl");
    write_lines(&file, &lines);
    let head_arg = head_path.to_str().unwrap();
    let (code, out) = verify(&a.data_dir(), &file, &pubkey, &["--head", head_arg]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: team "), "{out}");
    assert!(out.contains("saved head matched"), "{out}");
    let (code, out) = verify(&a.data_dir(), &file, &pubkey, &["--team", &ops]).await;
    assert_eq!(code, 0, "{out}");

    // The same export claimed for the other team fails: its records are not that team's.
    let (code, out) = verify(&a.data_dir(), &file, &pubkey, &["--team", &other]).await;
    assert_eq!(code, 1, "{out}");

    // A cut-off tail passes on its own but not against the saved head.
    let head_seq = head["head"]["team_seq"].as_u64().unwrap() as usize;
    write_lines(&file, &lines[..head_seq - 1]);
    let (code, _) = verify(&a.data_dir(), &file, &pubkey, &["--team", &ops]).await;
    assert_eq!(code, 0);
    let (code, out) = verify(&a.data_dir(), &file, &pubkey, &["--head", head_arg]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAILED"), "{out}");

    // An edited record is named.
    let mut edited = lines.clone();
    let mut r: Value = serde_json::from_str(&lines[1]).unwrap();
    r["detail"] = json!({"edited": true});
    edited[1] = r.to_string();
    write_lines(&file, &edited);
    let (code, out) = verify(&a.data_dir(), &file, &pubkey, &["--team", &ops]).await;
    assert_eq!(code, 1, "{out}");
    let seq = serde_json::from_str::<Value>(&lines[1]).unwrap()["seq"].clone();
    assert!(out.contains(&format!("{seq}")), "names the record: {out}");

    // A viewer reads the export too; the other team's export has none of Ops's records.
    let vera = login(&a, "vera@example.com").await;
    let hers = export(&vera, 1000).await;
    assert!(hers.len() >= lines.len());
    assert_eq!(hers[..lines.len()], lines[..]);
    assert!(!theirs.join("\n").contains(&ops));
}

#[tokio::test]
async fn export_queries_are_checked_and_need_a_session() {
    let (a, ada, _) = two_teams().await;
    let res = ada.get("/api/v1/audit-log?after=abc").await;
    assert_eq!(res.status(), 400);
    let res = a.browser().get("/api/v1/audit-log").await;
    assert_eq!(res.status(), 401);
    // Past the end: an empty page and no cursor.
    let res = ada.get("/api/v1/audit-log?after=100000").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-tundra-next-after").is_none());
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn heads_are_published_on_request_and_on_the_schedule() {
    let (a, ada, oscar) = two_teams().await;
    let other_id = team_of(&oscar).await;
    let vera = login(&a, "vera@example.com").await;
    let (status, _) =
        status_and_body(vera.post_json("/api/v1/audit-log/head", json!({})).await).await;
    assert_eq!(status, 403, "viewers cannot publish");

    let (status, published) =
        status_and_body(ada.post_json("/api/v1/audit-log/head", json!({})).await).await;
    assert_eq!(status, 201, "{published}");
    let seq = published["head"]["team_seq"].as_u64().unwrap();
    assert_eq!(published["record_position"], seq + 1);
    assert_eq!(published["scheduled"], false);
    let lines = export(&ada, 1000).await;
    let record: Value = serde_json::from_str(&lines[seq as usize]).unwrap();
    assert_eq!(record["action"], "audit.head_published");
    assert_eq!(record["detail"]["head"], published["head"]);
    let (_, now) = status_and_body(ada.get("/api/v1/audit-log/head").await).await;
    assert_eq!(now["published"]["head"], published["head"]);

    // The schedule: Other never published, so its moved chain is due at once; Ops published
    // just now, so it waits for the interval even after its chain moves.
    let upkeep = std::sync::Arc::clone(&a.running.as_ref().unwrap().audit_upkeep);
    reg_token(&ada, json!({})).await;
    let round = upkeep.rounds();
    upkeep.wake();
    upkeep.wait_for_rounds(round + 1).await;
    let (_, theirs) = status_and_body(oscar.get("/api/v1/audit-log/head").await).await;
    assert_eq!(theirs["published"]["scheduled"], true, "{theirs}");
    let (_, ours) = status_and_body(ada.get("/api/v1/audit-log/head").await).await;
    assert_eq!(ours["published"]["head"], published["head"], "not due yet");

    a.clock.advance(time::Duration::seconds(3600));
    let round = upkeep.rounds();
    upkeep.wake();
    upkeep.wait_for_rounds(round + 1).await;
    // (An hour later the session is idle-expired; sign in again.)
    let ada = login(&a, "ada@example.com").await;
    let (_, ours) = status_and_body(ada.get("/api/v1/audit-log/head").await).await;
    assert_eq!(ours["published"]["scheduled"], true, "{ours}");
    assert!(ours["published"]["head"]["team_seq"].as_u64().unwrap() > seq + 1);

    // Other's chain has not moved since its publication: hours later, nothing new for it.
    let other = TeamId(other_id);
    let core = a.core();
    let theirs = published_head(&core.store, &other).unwrap().unwrap();
    a.clock.advance(time::Duration::seconds(7200));
    let round = upkeep.rounds();
    upkeep.wake();
    upkeep.wait_for_rounds(round + 1).await;
    assert_eq!(
        published_head(&core.store, &other).unwrap().unwrap(),
        theirs
    );
}
