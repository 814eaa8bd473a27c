use super::*;
use proptest::prelude::*;

fn allowed(remaining: u32) -> RateDecision {
    RateDecision::Allowed { remaining }
}

fn limited(retry_after_secs: u64) -> RateDecision {
    RateDecision::Limited { retry_after_secs }
}

#[test]
fn the_window_is_exact_at_its_boundaries() {
    let mut r = RateLimiter::new(3, 10, 100);
    assert_eq!(r.check(&"a", 0), allowed(2));
    assert_eq!(r.check(&"a", 1), allowed(1));
    assert_eq!(r.check(&"a", 2), allowed(0));
    assert_eq!(r.check(&"a", 2), limited(8), "the event at 0 leaves at 10");
    assert_eq!(r.check(&"a", 9), limited(1));
    assert_eq!(
        r.check(&"a", 10),
        allowed(0),
        "an event counts until t + window"
    );
    assert_eq!(r.check(&"a", 10), limited(1), "the event at 1 leaves at 11");
    assert_eq!(r.check(&"a", 11), allowed(0));
    assert_eq!(r.check(&"a", 12), allowed(0));
    assert_eq!(r.check(&"a", 12), limited(8));
}

#[test]
fn thirty_commands_an_hour() {
    let mut r = RateLimiter::new(30, 3600, 100);
    for i in 0..30 {
        assert_eq!(r.check(&"user", i), allowed(29 - u32::try_from(i).unwrap()));
    }
    assert_eq!(r.check(&"user", 100), limited(3500));
    assert_eq!(r.check(&"user", 3599), limited(1));
    assert_eq!(r.check(&"user", 3600), allowed(0));
    assert_eq!(r.check(&"user", 3600), limited(1));
    // After a quiet hour the whole budget is back.
    assert_eq!(r.check(&"user", 3600 + 3629), allowed(29));
}

#[test]
fn refused_events_are_not_counted() {
    let mut r = RateLimiter::new(1, 10, 100);
    assert_eq!(r.check(&"a", 0), allowed(0));
    for t in 1..10 {
        assert_eq!(r.check(&"a", t), limited(10 - u64::try_from(t).unwrap()));
    }
    assert_eq!(r.check(&"a", 10), allowed(0));
}

#[test]
fn keys_are_independent() {
    let mut r = RateLimiter::new(1, 60, 100);
    assert_eq!(r.check(&("team1", "ann"), 0), allowed(0));
    assert_eq!(r.check(&("team1", "ann"), 1), limited(59));
    assert_eq!(r.check(&("team2", "ann"), 1), allowed(0));
    assert_eq!(r.check(&("team1", "bob"), 1), allowed(0));
}

#[test]
fn peek_answers_like_check_and_records_nothing() {
    let mut r = RateLimiter::new(2, 10, 100);
    assert_eq!(r.peek(&"a", 0), allowed(1));
    assert_eq!(r.peek(&"a", 0), allowed(1));
    assert_eq!(r.tracked(), 0);
    assert_eq!(r.check(&"a", 0), allowed(1));
    assert_eq!(r.peek(&"a", 3), allowed(0));
    assert_eq!(r.check(&"a", 3), allowed(0));
    assert_eq!(r.peek(&"a", 4), limited(6));
    assert_eq!(r.peek(&"a", 10), allowed(0), "the event at 0 has left");
    assert_eq!(r.check(&"a", 4), limited(6));
}

#[test]
fn memory_is_bounded_and_new_keys_are_refused_while_every_slot_is_live() {
    let mut r = RateLimiter::new(5, 10, 2);
    assert_eq!(r.check(&1, 0), allowed(4));
    assert_eq!(r.check(&2, 3), allowed(4));
    // Key 1's events leave at 10, key 2's at 13: the first slot frees in 10 s.
    assert_eq!(r.check(&3, 0), limited(10));
    assert_eq!(r.peek(&3, 0), limited(10));
    assert_eq!(r.check(&3, 9), limited(1));
    assert_eq!(r.tracked(), 2);
    // Tracked keys keep working while the table is full.
    assert_eq!(r.check(&1, 9), allowed(3));
    assert_eq!(
        r.check(&3, 12),
        limited(1),
        "both live; key 2's last event leaves at 13"
    );
    // Key 2's events have all left at 13: it is forgotten to make room.
    assert_eq!(r.peek(&3, 13), allowed(4));
    assert_eq!(r.check(&3, 13), allowed(4));
    assert_eq!(r.tracked(), 2);
    assert_eq!(
        r.check(&2, 13),
        limited(6),
        "key 2 now waits for key 1's slot"
    );
}

#[test]
fn a_flood_of_new_keys_cannot_evict_a_live_history() {
    let mut r = RateLimiter::new(2, 3600, 10);
    assert_eq!(r.check(&0u32, 0), allowed(1));
    assert_eq!(r.check(&0u32, 0), allowed(0));
    for k in 1..10_000u32 {
        let d = r.check(&k, 1);
        assert_eq!(d == allowed(1), k < 10, "key {k}");
        assert!(r.tracked() <= 10);
    }
    assert_eq!(
        r.check(&0u32, 2),
        limited(3598),
        "the user's budget is not reset"
    );
}

#[test]
fn a_clock_going_backwards_grants_nothing_and_never_panics() {
    let mut r = RateLimiter::new(2, 10, 100);
    assert_eq!(r.check(&"a", 100), allowed(1));
    // The clock steps back 50 s: the event is recorded at 100, the latest time seen.
    assert_eq!(r.check(&"a", 50), allowed(0));
    assert_eq!(r.check(&"a", 50), limited(60));
    // Had it been recorded at 50 it would have left at 60.
    for t in [61, 99, 109] {
        assert_eq!(r.peek(&"a", t), limited(u64::try_from(110 - t).unwrap()));
        assert_eq!(r.check(&"a", t), limited(u64::try_from(110 - t).unwrap()));
    }
    assert_eq!(
        r.check(&"a", 110),
        allowed(1),
        "both events leave together at 110"
    );
}

#[test]
fn extreme_times_and_sizes_do_not_panic() {
    let mut r = RateLimiter::new(1, u64::MAX, 1);
    assert_eq!(r.check(&"a", i64::MAX), allowed(0));
    assert_eq!(r.check(&"a", i64::MIN), limited(u64::MAX));
    assert_eq!(r.check(&"b", i64::MIN), limited(u64::MAX));
    let mut r = RateLimiter::new(u32::MAX, 1, usize::MAX);
    assert_eq!(r.check(&"a", i64::MIN), allowed(u32::MAX - 1));
    assert_eq!(r.check(&"a", i64::MAX), allowed(u32::MAX - 1));
}

#[test]
fn zero_sizes_are_taken_as_one() {
    let mut r = RateLimiter::new(0, 0, 0);
    assert_eq!(r.check(&"a", 0), allowed(0));
    assert_eq!(r.check(&"a", 0), limited(1));
    assert_eq!(r.check(&"b", 0), limited(1));
    assert_eq!(r.check(&"a", 1), allowed(0));
}

#[test]
fn decisions_serialize_with_a_tag() {
    assert_eq!(
        serde_json::to_value(allowed(3)).unwrap(),
        serde_json::json!({ "decision": "allowed", "remaining": 3 })
    );
    assert_eq!(
        serde_json::to_value(limited(42)).unwrap(),
        serde_json::json!({ "decision": "limited", "retry_after_secs": 42 })
    );
}

/// The same rule computed from scratch over every accepted event.
fn reference(limit: u32, window: i64, steps: &[i64]) -> Vec<RateDecision> {
    let (mut accepted, mut clock, mut out) = (Vec::<i64>::new(), i64::MIN, Vec::new());
    for &now in steps {
        clock = clock.max(now);
        let counted: Vec<i64> = accepted
            .iter()
            .copied()
            .filter(|&t| clock - t < window)
            .collect();
        let used = u32::try_from(counted.len()).unwrap();
        if used < limit {
            accepted.push(clock);
            out.push(allowed(limit - used - 1));
        } else {
            let wait = counted[0] + window - now;
            out.push(limited(u64::try_from(wait.max(1)).unwrap()));
        }
    }
    out
}

proptest! {
    #[test]
    fn matches_the_reference_and_never_exceeds_the_limit_in_any_span(
        limit in 1u32..6,
        window in 1i64..40,
        deltas in proptest::collection::vec(-20i64..30, 1..200),
    ) {
        let steps: Vec<i64> = deltas
            .iter()
            .scan(1_000i64, |t, d| { *t += d; Some(*t) })
            .collect();
        let mut r = RateLimiter::new(limit, u64::try_from(window).unwrap(), 4);
        let mut clock = i64::MIN;
        let mut accepted_at = Vec::new();
        let mut got = Vec::new();
        for &now in &steps {
            let preview = r.peek(&"k", now);
            let d = r.check(&"k", now);
            prop_assert_eq!(preview, d);
            if let RateDecision::Limited { retry_after_secs } = d {
                prop_assert!(retry_after_secs >= 1);
            }
            clock = clock.max(now);
            if let RateDecision::Allowed { .. } = d {
                accepted_at.push(clock);
            }
            got.push(d);
        }
        prop_assert_eq!(got, reference(limit, window, &steps));
        let n = usize::try_from(limit).unwrap();
        for pair in accepted_at.windows(n + 1) {
            prop_assert!(pair[n] - pair[0] >= window, "{:?}", pair);
        }
    }
}
