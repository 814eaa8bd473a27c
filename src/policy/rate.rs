//! The command rate limiter (SPEC §4 "Commands", step 4): an exact sliding window per key,
//! e.g. 30 commands per (team, user) per hour.
//!
//! Guarantees:
//! - **Exact.** A key never has more than `limit` recorded events in any span of
//!   `window_secs` seconds: an event at `t` counts until `t + window_secs` (exclusive). When
//!   the key is full, `retry_after_secs` is when its oldest event leaves the window, at least 1.
//! - **Time is a parameter.** `now_unix` comes from the caller. A clock that goes backwards
//!   neither panics nor grants extra events: each key's clock is the latest time it has seen,
//!   so events are recorded no earlier than that and stay counted at least as long.
//! - **Bounded memory.** At most `max_keys` keys, each with at most `limit` timestamps. A new
//!   key that finds the table full first makes room by forgetting keys whose events have all
//!   left the window; if none has, the new key is **refused** (fail closed: a flood of new
//!   keys cannot evict someone's live history to reset their budget) until the first
//!   tracked key frees up, which its `retry_after_secs` says.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use serde::Serialize;

/// Whether one more event fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RateDecision {
    /// It fits; `remaining` more would fit right after it.
    Allowed {
        /// Events the key may still have in the current window after this one.
        remaining: u32,
    },
    /// It does not; try again in `retry_after_secs` seconds (≥ 1), for `Retry-After`.
    Limited {
        /// Seconds until one more event fits.
        retry_after_secs: u64,
    },
}

/// One key's recent events, oldest first, and the latest time the key has seen.
#[derive(Debug)]
struct History {
    events: VecDeque<i64>,
    latest: i64,
}

/// Sliding-window limits per key. Not synchronized: the caller wraps it in a lock.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: u32,
    window: i64,
    max_keys: usize,
    keys: HashMap<K, History>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// At most `limit` events per key in any `window_secs` span, for at most `max_keys` keys.
    /// Each of the three is taken as at least 1.
    pub fn new(limit: u32, window_secs: u64, max_keys: usize) -> Self {
        Self {
            limit: limit.max(1),
            window: i64::try_from(window_secs).unwrap_or(i64::MAX).max(1),
            max_keys: max_keys.max(1),
            keys: HashMap::new(),
        }
    }

    /// Whether one more event for `key` at `now_unix` (seconds) fits; records it if so.
    pub fn check(&mut self, key: &K, now_unix: i64) -> RateDecision {
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            self.keys.retain(|_, h| h.is_live(now_unix, self.window));
            if self.keys.len() >= self.max_keys {
                return self.table_full(now_unix);
            }
        }
        let (limit, window) = (self.limit, self.window);
        let history = self.keys.entry(key.clone()).or_insert(History {
            events: VecDeque::new(),
            latest: now_unix,
        });
        history.latest = history.latest.max(now_unix);
        let at = history.latest;
        while history
            .events
            .front()
            .is_some_and(|&t| !in_window(t, at, window))
        {
            history.events.pop_front();
        }
        let oldest = history.events.front().copied();
        let decision = decide(limit, window, history.events.len(), oldest, now_unix);
        if let RateDecision::Allowed { .. } = decision {
            history.events.push_back(at);
        }
        decision
    }

    /// Whether it would fit, without recording (for previews): the answer `check` would give.
    pub fn peek(&self, key: &K, now_unix: i64) -> RateDecision {
        let Some(history) = self.keys.get(key) else {
            let live = self
                .keys
                .values()
                .filter(|h| h.is_live(now_unix, self.window))
                .count();
            return if live >= self.max_keys {
                self.table_full(now_unix)
            } else {
                decide(self.limit, self.window, 0, None, now_unix)
            };
        };
        let at = history.latest.max(now_unix);
        let mut counted = history
            .events
            .iter()
            .copied()
            .filter(|&t| in_window(t, at, self.window));
        let oldest = counted.next();
        let used = counted.count() + usize::from(oldest.is_some());
        decide(self.limit, self.window, used, oldest, now_unix)
    }

    /// How many keys are tracked now (never more than `max_keys`).
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }

    /// The answer for a new key when every slot holds live events: wait until the first
    /// tracked key's last event leaves the window.
    fn table_full(&self, now_unix: i64) -> RateDecision {
        let frees_at = self
            .keys
            .values()
            .filter_map(|h| h.events.back().copied())
            .min()
            .unwrap_or(now_unix);
        RateDecision::Limited {
            retry_after_secs: secs_until(frees_at, self.window, now_unix),
        }
    }
}

impl History {
    /// Whether any event still counts at `now` (by the key's own clock, which never runs
    /// backwards).
    fn is_live(&self, now: i64, window: i64) -> bool {
        let at = self.latest.max(now);
        self.events
            .back()
            .is_some_and(|&t| in_window(t, at, window))
    }
}

/// Whether an event at `t` still counts at `now`.
fn in_window(t: i64, now: i64, window: i64) -> bool {
    i128::from(now) - i128::from(t) < i128::from(window)
}

/// Seconds from `now` until an event at `t` leaves the window; at least 1.
fn secs_until(t: i64, window: i64, now: i64) -> u64 {
    let secs = i128::from(t) + i128::from(window) - i128::from(now);
    u64::try_from(secs.max(1)).unwrap_or(u64::MAX)
}

/// The decision for a key with `used` counted events, the oldest at `oldest`.
fn decide(limit: u32, window: i64, used: usize, oldest: Option<i64>, now: i64) -> RateDecision {
    let used = u32::try_from(used).unwrap_or(u32::MAX);
    match limit.checked_sub(used) {
        Some(free) if free > 0 => RateDecision::Allowed {
            remaining: free - 1,
        },
        _ => RateDecision::Limited {
            retry_after_secs: secs_until(oldest.unwrap_or(now), window, now),
        },
    }
}

#[cfg(test)]
mod tests;
