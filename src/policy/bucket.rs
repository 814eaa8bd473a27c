//! Keyed token buckets: at most `burst` events at once per key, refilled at `per_minute`.
//! Time comes from the caller, so the policy is a pure function of what it has seen.
//! Memory is bounded: at most `max_keys` keys, full buckets are forgotten first.

use std::collections::HashMap;
use std::hash::Hash;

/// Token buckets per key.
#[derive(Debug)]
pub struct Buckets<K> {
    burst: f64,
    per_sec: f64,
    max_keys: usize,
    state: HashMap<K, (f64, f64)>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    /// `burst` events at once, refilled at `per_minute`, for at most `max_keys` keys.
    pub fn new(burst: u32, per_minute: u32, max_keys: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_minute) / 60.0,
            max_keys: max_keys.max(1),
            state: HashMap::new(),
        }
    }

    /// Takes one token for `key` at `now` (seconds, any epoch); `false` when none is left.
    pub fn allow(&mut self, key: &K, now: f64) -> bool {
        if !self.state.contains_key(key) && self.state.len() >= self.max_keys {
            let (burst, rate) = (self.burst, self.per_sec);
            self.state
                .retain(|_, (tokens, at)| *tokens + (now - *at).max(0.0) * rate < burst);
            if self.state.len() >= self.max_keys {
                return false;
            }
        }
        let (tokens, at) = self.state.entry(key.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + (now - *at).max(0.0) * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate() {
        let mut b = Buckets::new(3, 60, 10);
        assert!((0..3).all(|_| b.allow(&"a", 0.0)));
        assert!(!b.allow(&"a", 0.0));
        assert!(b.allow(&"b", 0.0), "keys are independent");
        assert!(!b.allow(&"a", 0.5));
        assert!(b.allow(&"a", 1.0), "one token a second at 60/min");
    }

    #[test]
    fn memory_is_bounded_and_full_buckets_go_first() {
        let mut b = Buckets::new(1, 60, 2);
        assert!(b.allow(&1, 0.0));
        assert!(b.allow(&2, 0.0));
        assert!(!b.allow(&3, 0.0), "no room while both are in use");
        assert!(
            b.allow(&3, 5.0),
            "refilled buckets are forgotten to make room"
        );
    }
}
