//! Deliveries end to end: signed, retried with backoff on the manual clock, surviving a
//! restart, dead-lettered and retried by hand.

use reqwest::Method;
use serde_json::Value;

use super::{
    advance_and_deliver, appliance_for, approve_script, attempts, create_for, eventually, log,
    Receiver,
};
use crate::commands_api::call;
use crate::fleet_api::login;

fn statuses(d: &Value) -> Vec<Value> {
    d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

#[tokio::test]
async fn a_failing_receiver_gets_the_delivery_on_the_third_attempt_after_backoff() {
    let r = Receiver::start("500,500,200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let id = create_for(&ada, &a, &r).await;

    approve_script(&ada, &a, "hello").await;
    let first = attempts(&ada, &a, &id, 1).await;
    assert_eq!(first["event"], "script.approved");
    assert_eq!(first["state"], "pending");
    assert_eq!(statuses(&first), [500]);
    assert_eq!(first["attempts"][0]["error"], "HTTP 500");

    // The first retry is due 10 s later: not a moment before.
    let early = advance_and_deliver(&a, 9).await;
    assert_eq!(early.attempted, 0, "{early:?}");
    assert_eq!(r.seen().len(), 1);
    advance_and_deliver(&a, 1).await;
    let second = attempts(&ada, &a, &id, 2).await;
    assert_eq!(statuses(&second), [500, 500]);
    // Then 20 s.
    assert_eq!(advance_and_deliver(&a, 19).await.attempted, 0);
    advance_and_deliver(&a, 1).await;
    let third = attempts(&ada, &a, &id, 3).await;
    assert_eq!(statuses(&third), [500, 500, 200]);
    assert_eq!(third["state"], "delivered");
    assert_eq!(third["next_attempt_ms"], Value::Null);
    let numbers: Vec<u64> = third["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);

    let seen = r.seen();
    assert_eq!(seen.len(), 3);
    let record = a
        .audit_records()
        .into_iter()
        .find(|rec| rec["action"] == "script.approved")
        .unwrap();
    for (i, got) in seen.iter().enumerate() {
        assert_eq!(got["valid"], true, "signature {i}: {got}");
        assert_eq!(got["event"], "script.approved");
        assert_eq!(got["delivery"], third["id"]);
        assert_eq!(got["content_type"], "application/json");
        assert_eq!(got["path"], "/hook");
        assert_eq!(got["body"]["event"], "script.approved");
        assert_eq!(got["body"]["delivery"], third["id"]);
        assert_eq!(
            got["body"]["record"], record,
            "the record exactly as exported"
        );
    }
    // Each attempt is signed at its own time (the clock moved 30 s).
    let t = |i: usize| seen[i]["t"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(t(2) - t(0), 30);
    // The list shows the newest delivery's outcome.
    let (_, list) = call(&ada, &a, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["webhooks"][0]["last_delivery"]["state"], "delivered");
    assert_eq!(list["webhooks"][0]["last_delivery"]["status"], 200);
}

#[tokio::test]
async fn a_delivery_pending_across_a_restart_lands_exactly_once() {
    let r = Receiver::start("500,200").await;
    let mut a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let id = create_for(&ada, &a, &r).await;
    approve_script(&ada, &a, "hello").await;
    let first = attempts(&ada, &a, &id, 1).await;
    assert_eq!(statuses(&first), [500]);

    a.restart().await;
    advance_and_deliver(&a, 10).await;
    let done = attempts(&ada, &a, &id, 2).await;
    assert_eq!(done["state"], "delivered");
    assert_eq!(done["id"], first["id"]);
    let all = log(&ada, &a, &id).await;
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 1, "{all}");
    let seen = r.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let ok: Vec<&Value> = seen.iter().filter(|s| s["answered"] == 200).collect();
    assert_eq!(ok.len(), 1);
    assert!(seen
        .iter()
        .all(|s| s["delivery"] == first["id"] && s["valid"] == true));
    // Nothing else becomes due later.
    assert_eq!(advance_and_deliver(&a, 7200).await.attempted, 0);
    assert_eq!(r.seen().len(), 2);
}

#[tokio::test]
async fn a_dead_letter_is_retried_from_the_api_and_lands() {
    let r = Receiver::start("500,500,200").await;
    let a = appliance_for(&r, |c| c.webhook_max_attempts = 2).await;
    let ada = login(&a, "ada@example.com").await;
    let id = create_for(&ada, &a, &r).await;
    approve_script(&ada, &a, "hello").await;
    attempts(&ada, &a, &id, 1).await;
    advance_and_deliver(&a, 10).await;
    let dead = attempts(&ada, &a, &id, 2).await;
    assert_eq!(dead["state"], "dead");
    assert_eq!(statuses(&dead), [500, 500]);
    // Dead letters stay dead (well past any backoff; within the session's idle timeout).
    assert_eq!(advance_and_deliver(&a, 1500).await.attempted, 0);
    let (_, list) = call(&ada, &a, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["webhooks"][0]["last_delivery"]["state"], "dead");

    let did = dead["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{id}/deliveries/{did}/retry");
    let (s, v) = call(&ada, &a, Method::POST, &path, None).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["state"], "pending");
    let landed = attempts(&ada, &a, &id, 3).await;
    assert_eq!(landed["state"], "delivered");
    assert_eq!(statuses(&landed), [500, 500, 200]);
    let (s, v) = call(&ada, &a, Method::POST, &path, None).await;
    assert_eq!(s, 409, "only dead letters are retried: {v}");
    assert!(
        eventually(|| {
            let n = crate::commands_api::records(&a, "webhook.delivery_retried").len();
            (n == 1).then_some(true)
        })
        .await
    );
}

#[tokio::test]
async fn a_test_delivery_goes_to_that_webhook_only_whatever_its_filter() {
    let r = Receiver::start("200").await;
    let other = Receiver::start("200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let id = create_for(&ada, &a, &r).await;
    create_for(&ada, &a, &other).await;
    let (s, v) = call(
        &ada,
        &a,
        Method::POST,
        &format!("/api/v1/webhooks/{id}/test"),
        None,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["event"], "webhook.test");
    let got = eventually(|| r.seen().pop()).await;
    assert_eq!(got["event"], "webhook.test");
    assert_eq!(got["valid"], true);
    assert_eq!(got["body"]["record"]["action"], "webhook.test_sent");
    assert_eq!(got["body"]["record"]["detail"]["delivery"], v["id"]);
    // The other webhook (script.* only) got nothing: not the test, not webhook.* records.
    advance_and_deliver(&a, 1).await;
    assert!(other.seen().is_empty());
    assert_eq!(attempts(&ada, &a, &id, 1).await["state"], "delivered");
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_not_followed() {
    let r = Receiver::start("302,200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let id = create_for(&ada, &a, &r).await;
    approve_script(&ada, &a, "hello").await;
    let first = attempts(&ada, &a, &id, 1).await;
    assert_eq!(statuses(&first), [302]);
    let error = first["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("redirects are not followed"), "{error}");
    assert_eq!(first["state"], "pending");
    advance_and_deliver(&a, 10).await;
    assert_eq!(attempts(&ada, &a, &id, 2).await["state"], "delivered");
    assert_eq!(r.seen().len(), 2);
}

#[tokio::test]
async fn a_new_webhook_is_not_sent_its_own_creation_but_others_are() {
    let r = Receiver::start("200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = super::create(&ada, &a, &r.url(), &["webhook.*"]).await;
    assert_eq!(s, 201, "{v}");
    r.set_secret(v["secret"].as_str().unwrap());
    let first = v["id"].as_str().unwrap().to_string();
    let (s, v) = super::create(&ada, &a, "https://localhost:9/other", &["command.*"]).await;
    assert_eq!(s, 201, "{v}");
    let got = eventually(|| r.seen().pop()).await;
    assert_eq!(got["event"], "webhook.created");
    assert_eq!(got["body"]["record"]["detail"]["webhook"], v["id"]);
    assert_eq!(got["valid"], true);
    let own = log(&ada, &a, &first).await;
    assert_eq!(own["deliveries"].as_array().unwrap().len(), 1, "{own}");
}

#[tokio::test]
async fn a_published_head_reaches_the_teams_webhook_and_verifies() {
    let r = Receiver::start("200").await;
    let a = appliance_for(&r, |_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = super::create(&ada, &a, &r.url(), &["audit.head_published"]).await;
    assert_eq!(s, 201, "{v}");
    r.set_secret(v["secret"].as_str().unwrap());
    approve_script(&ada, &a, "hello").await;
    let (s, published) = call(&ada, &a, Method::POST, "/api/v1/audit-log/head", None).await;
    assert_eq!(s, 201, "{published}");
    let got = eventually(|| r.seen().pop()).await;
    assert_eq!(
        got["valid"], true,
        "signature checked by the receiver's own HMAC"
    );
    assert_eq!(got["event"], "audit.head_published");
    let head = &got["body"]["record"]["detail"]["head"];
    assert_eq!(head, &published["head"]);
    // What the receiver keeps is a head `tundra audit verify --head` takes.
    let head: tundra::audit::TeamHead = serde_json::from_value(head.clone()).unwrap();
    head.verify(&a.core().audit.public_key()).unwrap();
    assert_eq!(r.seen().len(), 1, "script.approved is not in the filter");
}
