//! The approval queue: the requester cannot approve, another admin approves after the
//! re-auth form, denies from the command's own page, and a decided command stays decided.

use super::{api_command, body, location, ops, run};
use crate::fleet_api::{login, PW};
use crate::fleet_panel::{page, signed_in, unescape};

#[tokio::test]
async fn another_admin_approves_from_the_approvals_page_after_the_reauth_form() {
    let (a, web, gate) = ops().await;
    let ada = signed_in(&a, "ada@example.com").await;
    let api = login(&a, "ada@example.com").await;

    let id = run(&ada, &gate, "uptime").await;
    let own = page(&ada, "/approvals").await;
    assert!(own.contains("Your own: waiting for another owner or admin"));
    assert!(!own.contains(&format!("action=\"/approvals/{id}/approve\"")));
    let res = ada
        .post_form(&format!("/approvals/{id}/approve"), &[])
        .await;
    let html = body(res, 403).await;
    assert!(
        html.contains("another owner or admin must decide"),
        "{html}"
    );

    let adam = signed_in(&a, "adam@example.com").await;
    // Signing in counts as a password confirmation; 6 minutes later it no longer does.
    a.clock.advance(time::Duration::minutes(6));
    let queue = page(&adam, "/approvals").await;
    assert!(
        queue.contains("<span class=\"badge count\">1<span"),
        "nav count"
    );
    assert!(
        unescape(&queue).contains("name=\"back\" value=\"/approvals\""),
        "re-auth form"
    );
    assert!(queue.contains("9 min"), "time left: {queue}");
    let res = adam
        .post_form(&format!("/approvals/{id}/approve"), &[])
        .await;
    let html = body(res, 403).await;
    assert!(
        html.contains("Approving needs your password confirmed"),
        "{html}"
    );
    assert_eq!(api_command(&api, &id).await["status"], "pending_approval");

    let res = adam
        .post_form(
            "/account/reauth",
            &[("password", PW), ("back", "/approvals")],
        )
        .await;
    assert_eq!(location(&res), "/approvals?done=reauth");
    let queue = page(&adam, "/approvals?done=reauth").await;
    assert!(queue.contains("Password confirmed"));
    assert!(!queue.contains("name=\"back\""), "no re-auth form now");
    let res = adam
        .post_form(&format!("/approvals/{id}/approve"), &[])
        .await;
    assert_eq!(location(&res), "/approvals?done=approved");
    let view = api_command(&api, &id).await;
    assert_eq!(view["status"], "queued");
    assert_eq!(view["approval"]["decided_by"], "adam@example.com");
    let queue = page(&adam, "/approvals?done=approved").await;
    assert!(queue.contains("Nothing waits for an approval."));
    assert!(!queue.contains("badge count"), "no count when none wait");
    let html = page(&ada, &format!("/commands/{id}")).await;
    assert!(
        html.contains("<dt>Decided by</dt><dd>adam@example.com</dd>"),
        "{html}"
    );
    assert!(html.contains("status-queued"));

    // Denying from the command's own page returns there.
    let second = run(&ada, &gate, "hostname").await;
    let html = page(&adam, &format!("/commands/{second}")).await;
    assert!(html.contains("This command waits for an approval"));
    assert!(!html.contains("name=\"back\""), "confirmed a moment ago");
    let res = adam
        .post_form(&format!("/approvals/{second}/deny"), &[("from", "command")])
        .await;
    assert_eq!(location(&res), format!("/commands/{second}?done=denied"));
    let html = page(&adam, &format!("/commands/{second}?done=denied")).await;
    assert!(html.contains("Denied: the command will not run."));
    assert!(html.contains("status-denied"));
    let res = adam
        .post_form(
            &format!("/approvals/{second}/approve"),
            &[("from", "command")],
        )
        .await;
    let html = body(res, 409).await;
    assert!(html.contains("no longer waits for an approval"), "{html}");

    // A command's page asks for the re-auth itself when the window has closed.
    let third = run(&ada, &gate, "uptime").await;
    a.clock.advance(time::Duration::minutes(6));
    let html = page(&adam, &format!("/commands/{third}")).await;
    assert!(unescape(&html).contains(&format!("name=\"back\" value=\"/commands/{third}\"")));
    let res = adam
        .post_form(
            "/account/reauth",
            &[("password", PW), ("back", &format!("/commands/{third}"))],
        )
        .await;
    assert_eq!(location(&res), format!("/commands/{third}?done=reauth"));

    // Not pending on an ordinary agent: nothing to approve there.
    let plain = run(&ada, &web, "uptime").await;
    let html = page(&adam, &format!("/commands/{plain}")).await;
    assert!(!html.contains("/approve\""));
}
