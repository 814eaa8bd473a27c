//! The panel's audit page: filters, paging, chain status (verified, and broken after the
//! store was edited behind the appliance's back), publishing a head, downloads.

use serde_json::Value;
use tundra::audit::{AuditContext, AuditEvent};
use tundra::model::{Actor, TeamId};

use super::{export, team_of, two_teams, verify};
use crate::fleet_api::login;

async fn page(b: &crate::fixture::Browser, path: &str) -> (u16, String) {
    let res = b.get(path).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

fn rows(html: &str) -> usize {
    html.matches("<td title=\"seq ").count()
}

#[tokio::test]
async fn the_page_filters_pages_and_shows_a_verified_chain() {
    let (a, ada, _oscar) = two_teams().await;
    let ops = team_of(&ada).await;
    let core = a.core();
    let ctx = AuditContext {
        team: Some(TeamId(ops.clone())),
        ..AuditContext::actor(Actor::System)
    };
    for i in 0..70 {
        let e = AuditEvent::TeamCreated {
            name: format!("n{i}"),
        };
        core.audit.append_alone(&core.store, &ctx, &e).unwrap();
    }
    let (status, html) = page(&ada, "/audit").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Chain verified through #"), "{html}");
    assert_eq!(rows(&html), 50, "one page");
    assert!(html.contains("Older records"));
    assert!(!html.contains("other-secret"));

    // Following the cursor shows the older records, and they end.
    let next = html
        .split("<div class=\"pager\"><a href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(
        next.starts_with("/audit?") && next.contains("before="),
        "{next}"
    );
    let (status, older) = page(&ada, &next).await;
    assert_eq!(status, 200);
    let total = export(&ada, 1000).await.len();
    assert_eq!(rows(&older), total - 50);

    // Filters: by action prefix, by actor, by target, by time.
    let (_, html) = page(&ada, "/audit?action=registration_token.*").await;
    assert_eq!(rows(&html), 3, "three tokens created");
    assert!(!html.contains("<code>team.created</code>"));
    let (_, html) = page(&ada, "/audit?actor=system&action=team.created").await;
    assert_eq!(rows(&html), 50);
    let (_, html) = page(&ada, "/audit?target=registration_token:").await;
    assert_eq!(rows(&html), 3);
    let (_, html) = page(&ada, "/audit?to=2000-01-01T00:00").await;
    assert_eq!(rows(&html), 0);
    assert!(html.contains("No records match."));
    let (status, html) = page(&ada, "/audit?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("From: &quot;yesterday&quot; is not a date and time like"),
        "{html}"
    );
}

#[tokio::test]
async fn publishing_and_downloads_from_the_page() {
    let (a, ada, _oscar) = two_teams().await;
    let (_, html) = page(&ada, "/audit").await;
    assert!(html.contains("No head published yet"));
    let res = ada.post_form("/audit/head", &[]).await;
    assert_eq!(res.status(), 303);
    let (_, html) = page(&ada, "/audit?done=published").await;
    assert!(
        html.contains("The team&#x27;s head was published")
            || html.contains("The team's head was published"),
        "{html}"
    );
    assert!(html.contains("on request"));
    assert!(html.contains("<code>audit.head_published</code>"));

    // A viewer sees the page but no publish button, and cannot publish.
    let vera = login(&a, "vera@example.com").await;
    let (status, html) = page(&vera, "/audit").await;
    assert_eq!(status, 200);
    assert!(!html.contains("Publish the head now"));
    assert_eq!(vera.post_form("/audit/head", &[]).await.status(), 403);

    // The downloads verify offline together.
    let dir = tempfile::tempdir().unwrap();
    let res = ada.get("/audit/export.jsonl").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let body = res.text().await.unwrap();
    assert_eq!(body.lines().count(), export(&ada, 1000).await.len());
    let file = dir.path().join("team.jsonl");
    std::fs::write(&file, &body).unwrap();
    let key = dir.path().join("audit.pub");
    std::fs::write(&key, ada.get("/audit/pubkey").await.text().await.unwrap()).unwrap();
    let head = dir.path().join("head.json");
    let head_text = ada.get("/audit/head.json").await.text().await.unwrap();
    let parsed: Value = serde_json::from_str(&head_text).unwrap();
    assert_eq!(
        parsed["team_seq"].as_u64().unwrap() as usize,
        body.lines().count()
    );
    std::fs::write(&head, head_text).unwrap();
    let (code, out) = verify(
        &a.data_dir(),
        &file,
        &key,
        &["--head", head.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn an_edited_store_shows_a_broken_chain() {
    let (mut a, ada, _oscar) = two_teams().await;
    let (_, html) = page(&ada, "/audit").await;
    assert!(html.contains("Chain verified through #"));
    let ops = team_of(&ada).await;
    let victim: Value = export(&ada, 1000)
        .await
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["action"] == "registration_token.created")
        .unwrap();
    let seq = victim["seq"].as_u64().unwrap();
    a.stop().await;
    {
        // Someone with the store file rewrites one record's details.
        let db = redb::Database::open(a.data_dir().join(tundra::store::FILE_NAME)).unwrap();
        let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("audit_log");
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(table).unwrap();
            let mut r = victim.clone();
            r["detail"]["uses"] = Value::from(999);
            let bytes = serde_json::to_vec(&r).unwrap();
            t.insert(seq, bytes.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    a.restart().await;
    let ada = login(&a, "ada@example.com").await;
    assert_eq!(team_of(&ada).await, ops);
    let (status, html) = page(&ada, "/audit").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("Chain broken at seq {seq}: edited")),
        "{html}"
    );
}
