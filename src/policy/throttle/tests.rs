use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-22 05:00 UTC);

fn at(secs: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(secs)
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn allow(delay_secs: u64) -> LoginGate {
    LoginGate::Allow {
        delay: Duration::from_secs(delay_secs),
    }
}

fn throttle() -> LoginThrottle {
    LoginThrottle::new(ThrottleConfig::default())
}

#[test]
fn five_failures_lock_the_pair_for_exactly_fifteen_minutes() {
    let t = throttle();
    for i in 0..4 {
        assert!(!t.record_failure("alice", v4(1), at(i)).pair_locked);
        assert!(!matches!(
            t.check("alice", v4(1), at(i)),
            LoginGate::Locked { .. }
        ));
    }
    let fifth = t.record_failure("alice", v4(1), at(4));
    assert!(fifth.pair_locked);
    let until = at(4) + time::Duration::minutes(15);
    assert_eq!(t.check("alice", v4(1), at(5)), LoginGate::Locked { until });
    assert_eq!(
        t.check("alice", v4(1), until - time::Duration::seconds(1)),
        LoginGate::Locked { until }
    );
    assert_eq!(t.check("alice", v4(1), until), allow(0));
}

#[test]
fn another_source_is_not_locked_but_delayed() {
    let t = throttle();
    for i in 0..5 {
        t.record_failure("alice", v4(1), at(i));
    }
    assert!(matches!(
        t.check("alice", v4(1), at(5)),
        LoginGate::Locked { .. }
    ));
    // Five failures on the account: 1 s doubled twice.
    assert_eq!(t.check("alice", v4(2), at(5)), allow(4));
    assert_eq!(t.check("bob", v4(1), at(5)), allow(0));
}

#[test]
fn failures_spread_over_more_than_the_window_do_not_lock() {
    let t = throttle();
    for i in 0..10 {
        let effects = t.record_failure("alice", v4(1), at(i * 4 * 60));
        assert!(!effects.pair_locked, "failure {i}");
    }
    assert!(matches!(
        t.check("alice", v4(1), at(40 * 60)),
        LoginGate::Allow { .. }
    ));
}

#[test]
fn spraying_one_source_gets_429_until_the_oldest_failure_ages_out() {
    let t = throttle();
    for i in 0..20u8 {
        let effects = t.record_failure(&format!("user{i}"), v4(1), at(i64::from(i) * 10));
        assert_eq!(effects.ip_limited, i == 19, "failure {i}");
    }
    let now = at(190);
    let gate = t.check("someone-else", v4(1), now);
    assert_eq!(
        gate,
        LoginGate::TooManyRequests {
            retry_after: Duration::from_secs(15 * 60 - 190)
        }
    );
    assert_eq!(t.check("user0", v4(2), now), allow(0));
    // Sub-second remainders round up; never below a second.
    let just_before = at(15 * 60) - time::Duration::milliseconds(200);
    assert_eq!(
        t.check("x", v4(1), just_before),
        LoginGate::TooManyRequests {
            retry_after: Duration::from_secs(1)
        }
    );
    assert_eq!(t.check("user0", v4(1), at(15 * 60)), allow(0));
}

#[test]
fn ipv6_sources_are_grouped_by_slash_64() {
    let t = throttle();
    for i in 0..20u16 {
        let ip = v6(&format!("2001:db8:1:2::{i:x}"));
        t.record_failure(&format!("user{i}"), ip, at(i64::from(i)));
    }
    let same_64 = v6("2001:db8:1:2:ffff:ffff:ffff:ffff");
    assert!(matches!(
        t.check("x", same_64, at(30)),
        LoginGate::TooManyRequests { .. }
    ));
    assert_eq!(t.check("x", v6("2001:db8:1:3::1"), at(30)), allow(0));
}

#[test]
fn ipv4_mapped_ipv6_counts_as_ipv4() {
    let t = throttle();
    for i in 0..5 {
        t.record_failure("alice", v4(1), at(i));
    }
    let mapped = v6("::ffff:203.0.113.1");
    assert!(matches!(
        t.check("alice", mapped, at(5)),
        LoginGate::Locked { .. }
    ));
}

#[test]
fn account_delay_doubles_and_caps_at_thirty_seconds() {
    let t = throttle();
    let expected = [0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30];
    for (failures, want) in expected.into_iter().enumerate() {
        let n = u8::try_from(failures).unwrap();
        assert_eq!(
            t.check("alice", v4(200), at(60)),
            allow(want),
            "{failures} failures"
        );
        // A new source each time, so neither the pair nor the source rule steps in.
        t.record_failure("alice", v4(n), at(60));
    }
    // Ages out with the window.
    assert_eq!(t.check("alice", v4(200), at(60 + 15 * 60)), allow(0));
}

#[test]
fn success_clears_the_pair_but_not_the_spraying_count() {
    let t = throttle();
    for i in 0..4 {
        t.record_failure("alice", v4(1), at(i));
    }
    t.record_success("alice", v4(1), at(4));
    for i in 5..9 {
        assert!(!t.record_failure("alice", v4(1), at(i)).pair_locked);
    }
    assert!(matches!(
        t.check("alice", v4(1), at(9)),
        LoginGate::Allow { .. }
    ));

    // 8 failures so far from this source; 11 more on other accounts, a success, then one.
    for i in 0..11 {
        t.record_failure(&format!("user{i}"), v4(1), at(10 + i));
    }
    t.record_success("mallory", v4(1), at(30));
    assert!(t.record_failure("user99", v4(1), at(31)).ip_limited);
    assert!(matches!(
        t.check("mallory", v4(1), at(32)),
        LoginGate::TooManyRequests { .. }
    ));
}

#[test]
fn success_does_not_lift_an_active_lock() {
    let t = throttle();
    for i in 0..5 {
        t.record_failure("alice", v4(1), at(i));
    }
    t.record_success("alice", v4(1), at(5));
    assert!(matches!(
        t.check("alice", v4(1), at(6)),
        LoginGate::Locked { .. }
    ));
}

#[test]
fn accounts_are_case_insensitive() {
    let t = throttle();
    for name in ["Alice", "ALICE", "alice", "aLiCe", "ALIce"] {
        t.record_failure(name, v4(1), at(0));
    }
    assert!(matches!(
        t.check("alicE", v4(1), at(1)),
        LoginGate::Locked { .. }
    ));
}

#[test]
fn effects_are_reported_once_per_lockout_and_limit() {
    let t = throttle();
    let mut locks = 0;
    let mut limits = 0;
    // Callers racing the check keep recording after the lock and the limit started.
    for i in 0..30 {
        let e = t.record_failure("alice", v4(1), at(i));
        locks += usize::from(e.pair_locked);
        limits += usize::from(e.ip_limited);
    }
    assert_eq!((locks, limits), (1, 1));
    // After the lock ends, five more failures start a second lock, reported once more.
    let after_lock = 30 + 15 * 60;
    for i in 0..5 {
        let e = t.record_failure("alice", v4(2), at(after_lock + i));
        assert_eq!(e.pair_locked, i == 4);
    }
}

#[test]
fn memory_stays_bounded_under_a_flood_of_distinct_keys() {
    let cap = 1_000;
    let t = LoginThrottle::new(ThrottleConfig {
        max_tracked: cap,
        ..ThrottleConfig::default()
    });
    for i in 0..5 {
        t.record_failure("alice", v4(1), at(i));
    }
    for i in 0..300_000u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let now = at(10) + time::Duration::milliseconds(i64::from(i));
        t.record_failure(&format!("flood{i}"), ip, now);
        assert!(t.tracked() <= 3 * cap, "after {i}: {}", t.tracked());
    }
    // Keys that enforce something are evicted last: the flood did not unlock alice.
    assert!(matches!(
        t.check("alice", v4(1), at(400)),
        LoginGate::Locked { .. }
    ));
}

#[test]
fn expired_keys_are_evicted_before_live_ones() {
    let t = LoginThrottle::new(ThrottleConfig {
        max_tracked: 8,
        ..ThrottleConfig::default()
    });
    for i in 0..8u8 {
        t.record_failure("alice", v4(i), at(0));
    }
    // An hour later all of it has expired: bob's new pair and source clear those maps
    // entirely, not just a quarter. The account map was not full, so alice stays there.
    t.record_failure("bob", v4(100), at(3600));
    assert_eq!(t.tracked(), 1 + 1 + 2);
}

#[test]
fn a_zero_threshold_turns_its_rule_off() {
    let t = LoginThrottle::new(ThrottleConfig {
        pair_max_failures: 0,
        ip_max_failures: 0,
        account_delay_after: 0,
        ..ThrottleConfig::default()
    });
    for i in 0..50 {
        let e = t.record_failure("alice", v4(1), at(i));
        assert_eq!(e, FailureEffects::default());
    }
    assert_eq!(t.check("alice", v4(1), at(50)), allow(0));
    assert_eq!(t.tracked(), 0);
}

#[test]
fn config_defaults_match_the_spec_and_parse_from_partial_toml() {
    let c = ThrottleConfig::default();
    assert_eq!(c.pair_window(), Duration::from_secs(900));
    assert_eq!(c.pair_lockout(), Duration::from_secs(900));
    assert_eq!(c.ip_window(), Duration::from_secs(900));
    assert_eq!(c.account_window(), Duration::from_secs(900));
    assert_eq!(c.account_delay_base(), Duration::from_secs(1));
    assert_eq!(c.account_delay_max(), Duration::from_secs(30));
    let parsed: ThrottleConfig = toml::from_str("pair_max_failures = 3").unwrap();
    assert_eq!(parsed.pair_max_failures, 3);
    assert_eq!(parsed.ip_max_failures, 20);
    assert!(toml::from_str::<ThrottleConfig>("pair_max = 3").is_err());
}
