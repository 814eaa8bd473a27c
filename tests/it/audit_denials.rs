//! Denied attempts are audited, and a flood of them is counted instead of stored one by one:
//! the first 20 per source, kind and minute are records, the rest become one
//! `audit.denials_suppressed` record with their count once the minute is over.

use serde_json::json;

use crate::commands_api::{agent_with_tags, records, run, team};
use crate::fixture::Appliance;
use crate::fleet_api::login;

#[tokio::test]
async fn a_flood_of_csrf_refusals_is_recorded_twenty_times_then_counted() {
    let a = Appliance::start().await;
    let client = a.client();
    for _ in 0..30 {
        let r = client
            .post(a.url("/api/v1/auth/logout"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "no CSRF token: refused every time");
    }
    // CSRF refusals are audited off the request path; give them a moment to land.
    for _ in 0..100 {
        if records(&a, "request.csrf_refused").len() >= 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(records(&a, "request.csrf_refused").len(), 20);
    assert!(
        records(&a, "audit.denials_suppressed").is_empty(),
        "the minute is not over"
    );
    a.clock.advance(time::Duration::seconds(61));
    let core = a.core();
    assert_eq!(core.audit.flush_denials(&core.store).unwrap(), 1);
    let s = records(&a, "audit.denials_suppressed");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["detail"]["denied_action"], "request.csrf_refused");
    assert_eq!(s[0]["detail"]["count"], 10);
    assert_eq!(s[0]["detail"]["source"], "127.0.0.1");
    assert_eq!(
        core.audit.flush_denials(&core.store).unwrap(),
        0,
        "reported once"
    );
}

#[tokio::test]
async fn a_flood_of_refused_commands_is_cut_off_with_429_and_counted() {
    let a = team(|_| {}).await;
    let ada = login(&a, "ada@example.com").await;
    let agent = agent_with_tags(&a, &ada, "web-1", &[]).await;
    for i in 0..20 {
        let (s, v) = run(&ada, &a, &agent, "rm -rf /", &format!("r{i}")).await;
        assert_eq!((s, v["status"].as_str()), (202, Some("blocked")), "{v}");
    }
    let (s, v) = run(&ada, &a, &agent, "rm -rf /", "r20").await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "too_many_refused");
    assert_eq!(records(&a, "command.blocked").len(), 20);
    // A command that passes is not held back by the refusals.
    let (s, _) = run(&ada, &a, &agent, "uptime", "fine").await;
    assert_eq!(s, 202);
    a.clock.advance(time::Duration::seconds(61));
    let ada = login(&a, "ada@example.com").await;
    let (s, v) = run(&ada, &a, &agent, "rm -rf /", "r21").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (202, Some("blocked")),
        "a new minute: {v}"
    );
    let s = records(&a, "audit.denials_suppressed");
    assert_eq!(s.len(), 1, "the count came with the next refusal");
    assert_eq!(s[0]["detail"]["count"], 1);
    assert_eq!(
        s[0]["team"],
        json!(a.core().identity.team_id_by_name("Ops").unwrap().0)
    );
}
