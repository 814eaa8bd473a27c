//! The webhooks pages: list, create through the form (secret shown once), the delivery log
//! with test and retry buttons, delete; other teams get 404 and roles below admin 403.

use super::{appliance_for, attempts, eventually, Receiver};
use crate::fixture::assert_security_headers;
use crate::fleet_api::login;

#[tokio::test]
async fn admins_add_a_webhook_through_the_form_and_follow_its_deliveries() {
    let r = Receiver::start("500").await;
    let a = appliance_for(&r, |c| c.webhook_max_attempts = 1).await;
    let ada = login(&a, "ada@example.com").await;

    let res = ada.get("/webhooks").await;
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Add a webhook") && html.contains("No webhooks yet"),
        "{html}"
    );
    assert!(html.contains(r#"value="command.*""#) && html.contains(r#"value="audit.*""#));
    assert!(html.contains(r#"href="/webhooks""#), "in the nav");

    // A refused URL is shown with the form kept.
    let res = ada
        .post_form(
            "/webhooks",
            &[("url", "https://10.0.0.1/x"), ("events", "command.*")],
        )
        .await;
    assert_eq!(res.status(), 200, "private targets are allowed here");
    let res = ada
        .post_form(
            "/webhooks",
            &[("url", "http://example.com/x"), ("events", "*")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("URL: must use https:"), "{html}");
    assert!(
        html.contains("example.com"),
        "the form keeps what was typed"
    );
    let res = ada
        .post_form("/webhooks", &[("url", &r.url()), ("patterns", "no.such")])
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Events: "));

    let res = ada
        .post_form(
            "/webhooks",
            &[
                ("url", &r.url()),
                ("events", "script.*"),
                ("patterns", "webhook.deleted, agent.enrolled"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Webhook created"), "{html}");
    let secret = html
        .split(r#"id="secret-value" class="secret-value" type="text" readonly value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 64, "{secret}");
    r.set_secret(&secret);
    let id = html.split("/webhooks/whk_").nth(1).unwrap()[..26].to_string();
    let id = format!("whk_{id}");

    let list = ada.get("/webhooks").await.text().await.unwrap();
    assert!(list.contains(&format!("localhost:{}", r.port)) && !list.contains(&secret));
    assert!(list.contains("<code>webhook.deleted</code>"));

    // Send test → the receiver answers 500 → dead (one attempt allowed) → visible, retryable.
    let res = ada.post_form(&format!("/webhooks/{id}/test"), &[]).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let dead = eventually(|| {
        let last = r.seen().pop()?;
        Some(last)
    })
    .await;
    assert_eq!(dead["valid"], true);
    let d = attempts(&ada, &a, &id, 1).await;
    let d = eventually(|| (d["state"] == "dead").then_some(d.clone())).await;
    let page = ada.get(&format!("/webhooks/{id}")).await;
    assert_eq!(page.status(), 200);
    assert_security_headers(&page);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("HTTP 500") && page.contains("status-failed"),
        "{page}"
    );
    assert!(page.contains("is failing"), "{page}");
    let did = d["id"].as_str().unwrap();
    let retry = format!("/webhooks/{id}/deliveries/{did}/retry");
    assert!(page.contains(&retry), "{page}");
    assert!(!page.contains(&secret));
    let res = ada.post_form(&retry, &[]).await;
    assert_eq!(res.status(), 303);
    attempts(&ada, &a, &id, 2).await;
    assert_eq!(r.seen().len(), 2);

    // Delete behind its confirmation step.
    let res = ada.post_form(&format!("/webhooks/{id}/delete"), &[]).await;
    assert_eq!(res.status(), 303);
    let list = ada
        .get("/webhooks?done=deleted")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("was deleted"));
    assert!(!list.contains(&format!("localhost:{}", r.port)));
}

#[tokio::test]
async fn other_teams_get_404_and_members_below_admin_403() {
    let r = Receiver::start("200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let id = super::create_for(&ada, &a, &r).await;
    let oscar = login(&a, "oscar@example.com").await;
    assert_eq!(oscar.get(&format!("/webhooks/{id}")).await.status(), 404);
    let res = oscar
        .post_form(&format!("/webhooks/{id}/delete"), &[])
        .await;
    assert_eq!(res.status(), 404);
    let res = oscar.post_form(&format!("/webhooks/{id}/test"), &[]).await;
    assert_eq!(res.status(), 404);
    assert!(!oscar
        .get("/webhooks")
        .await
        .text()
        .await
        .unwrap()
        .contains(&id));
    for who in ["otto@example.com", "vera@example.com"] {
        let b = login(&a, who).await;
        assert_eq!(b.get("/webhooks").await.status(), 403, "{who}");
        assert_eq!(
            b.get(&format!("/webhooks/{id}")).await.status(),
            403,
            "{who}"
        );
        let res = b
            .post_form("/webhooks", &[("url", &r.url()), ("events", "*")])
            .await;
        assert_eq!(res.status(), 403, "{who}");
        let home = b.get("/").await.text().await.unwrap();
        assert!(
            !home.contains(r#"href="/webhooks""#),
            "{who} has no nav entry"
        );
    }
    assert_eq!(
        ada.get(&format!("/webhooks/{id}")).await.status(),
        200,
        "the webhook is untouched"
    );
    assert!(r.seen().is_empty());
}
