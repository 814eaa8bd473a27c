//! Login throttling (SPEC §4), as an in-memory state machine that takes `now` on every call.
//!
//! Three rules, each over a sliding window of failures:
//! - **Pair** (account, source): 5 failures in 15 min lock that pair for 15 min. A locked login
//!   is refused without checking the password, with the same answer as a wrong one.
//! - **Source** (spraying): 20 failures in 15 min from one source, over any accounts, answer 429
//!   with `Retry-After` until the oldest counted failure ages out.
//! - **Account** (distributed guessing): from the 3rd failure in 15 min, from any sources, every
//!   attempt on the account waits 1 s, doubled per further failure, capped at 30 s. This applies
//!   to all sources alike and never locks, so an attacker cannot lock the real owner out: from a
//!   new address the owner is only delayed.
//!
//! A "source" is an IPv4 address or an IPv6 /64 (for the pair and the source rule alike): one
//! subscriber usually holds a whole /64, so per-address counting would give an IPv6 attacker
//! 2^64 fresh budgets. IPv4-mapped IPv6 addresses count as their IPv4 address.
//!
//! Memory is bounded: each of the three maps holds at most `max_tracked` keys (so
//! [`LoginThrottle::tracked`] ≤ 3 × `max_tracked`), each key a fixed-size value with at most as
//! many timestamps as its rule needs. When a map is full, expired keys go first, then keys that
//! enforce nothing right now (no lock, limit or delay), soonest-to-expire first. Past that bound
//! the oldest state is forgotten: throttling degrades, memory does not.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

/// Thresholds for [`LoginThrottle`]; `Default` gives SPEC §4's numbers. A failure count of 0
/// turns its rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failures of one (account, source) pair within `pair_window_secs` that lock the pair.
    pub pair_max_failures: u32,
    /// Sliding window for the pair rule, in seconds.
    pub pair_window_secs: u64,
    /// How long a locked pair stays locked, in seconds.
    pub pair_lockout_secs: u64,
    /// Failures from one source within `ip_window_secs`, over any accounts, that answer 429.
    pub ip_max_failures: u32,
    /// Sliding window for the source rule, in seconds.
    pub ip_window_secs: u64,
    /// Failures of one account within `account_window_secs`, from any sources, after which
    /// every attempt on it is delayed.
    pub account_delay_after: u32,
    /// Sliding window for the account rule, in seconds.
    pub account_window_secs: u64,
    /// The first delay, in seconds; it doubles with each further failure.
    pub account_delay_base_secs: u64,
    /// The longest delay, in seconds.
    pub account_delay_max_secs: u64,
    /// Keys each map may hold (pairs, sources, accounts); at least 1 is used.
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            pair_max_failures: 5,
            pair_window_secs: 15 * 60,
            pair_lockout_secs: 15 * 60,
            ip_max_failures: 20,
            ip_window_secs: 15 * 60,
            account_delay_after: 3,
            account_window_secs: 15 * 60,
            account_delay_base_secs: 1,
            account_delay_max_secs: 30,
            max_tracked: 100_000,
        }
    }
}

impl ThrottleConfig {
    /// Sliding window for the pair rule.
    pub fn pair_window(&self) -> Duration {
        Duration::from_secs(self.pair_window_secs)
    }

    /// How long a locked pair stays locked.
    pub fn pair_lockout(&self) -> Duration {
        Duration::from_secs(self.pair_lockout_secs)
    }

    /// Sliding window for the source (spraying) rule.
    pub fn ip_window(&self) -> Duration {
        Duration::from_secs(self.ip_window_secs)
    }

    /// Sliding window for the account rule.
    pub fn account_window(&self) -> Duration {
        Duration::from_secs(self.account_window_secs)
    }

    /// The first account delay.
    pub fn account_delay_base(&self) -> Duration {
        Duration::from_secs(self.account_delay_base_secs)
    }

    /// The longest account delay.
    pub fn account_delay_max(&self) -> Duration {
        Duration::from_secs(self.account_delay_max_secs)
    }
}

/// What to do with a login attempt, decided before the password is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginGate {
    /// Sleep `delay` (zero when the account is quiet), then check the password.
    Allow {
        /// The account rule's delay; it applies whatever the source.
        delay: Duration,
    },
    /// The (account, source) pair is locked until `until`. Do not check the password; answer
    /// exactly as for a wrong one. The lock is distinct here only for the audit log: its rule is
    /// public and countable, but whether the password was right must never leak, and it cannot,
    /// since it is never checked.
    Locked {
        /// When the lock ends.
        until: OffsetDateTime,
    },
    /// The source is spraying: answer 429 with `Retry-After`, without checking the password.
    TooManyRequests {
        /// Until the source's count drops below the limit, rounded up to whole seconds, ≥ 1 s.
        retry_after: Duration,
    },
}

/// What a recorded failure started, so the caller audits each lockout or limit once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureEffects {
    /// This failure locked its (account, source) pair.
    pub pair_locked: bool,
    /// This failure brought its source to the spraying limit.
    pub ip_limited: bool,
}

/// Login throttling state for the whole appliance; share it behind an `Arc`.
///
/// Call [`check`](Self::check) before a login, then [`record_failure`](Self::record_failure) or
/// [`record_success`](Self::record_success) with its outcome.
pub struct LoginThrottle {
    rules: Rules,
    state: Mutex<State>,
}

impl LoginThrottle {
    /// A throttle with nothing recorded.
    pub fn new(config: ThrottleConfig) -> Self {
        let cap = config.max_tracked.max(1);
        Self {
            rules: Rules::new(&config),
            state: Mutex::new(State {
                pairs: Bounded::new(cap),
                sources: Bounded::new(cap),
                accounts: Bounded::new(cap),
            }),
        }
    }

    /// Whether a login for `account` from `ip` may go ahead at `now`: a spraying source's 429
    /// first, then the pair's lock, else the account's delay. Reads only: an attempt counts
    /// once its outcome is recorded.
    pub fn check(&self, account: &str, ip: IpAddr, now: OffsetDateTime) -> LoginGate {
        let (account, source) = (AccountKey::of(account), SourceKey::of(ip));
        let (r, t) = (&self.rules, unix_nanos(now));
        let mut state = self.lock();
        if let Some(hits) = state.sources.map.get_mut(&source) {
            hits.trim(t, r.ip_window);
            let limited = r.ip_max > 0 && hits.0.len() >= r.ip_max;
            if let Some(&oldest) = hits.0.front().filter(|_| limited) {
                let left = oldest.saturating_add(r.ip_window).saturating_sub(t);
                return LoginGate::TooManyRequests {
                    retry_after: ceil_secs(left),
                };
            }
        }
        if let Some(pair) = state.pairs.map.get(&(account, source)) {
            if let Some(end) = pair.lock_end(t, r) {
                let until = later(now, time::Duration::nanoseconds(end.saturating_sub(t)));
                return LoginGate::Locked { until };
            }
        }
        let failures = state.accounts.map.get_mut(&account).map_or(0, |hits| {
            hits.trim(t, r.account_window);
            hits.0.len()
        });
        LoginGate::Allow {
            delay: r.account_delay(failures),
        }
    }

    /// Counts a wrong password (or unknown account) for `account` from `ip`.
    pub fn record_failure(&self, account: &str, ip: IpAddr, now: OffsetDateTime) -> FailureEffects {
        let (account, source) = (AccountKey::of(account), SourceKey::of(ip));
        let (r, t) = (&self.rules, unix_nanos(now));
        let mut state = self.lock();
        let mut effects = FailureEffects::default();
        if r.account_keep > 0 {
            let rank = |f: &Failures| f.rank(t, r.account_window, r.account_after);
            let hits = state.accounts.slot(account, t, rank);
            hits.trim(t, r.account_window);
            hits.push(t, r.account_keep);
        }
        if r.ip_max > 0 {
            let rank = |f: &Failures| f.rank(t, r.ip_window, r.ip_max);
            let hits = state.sources.slot(source, t, rank);
            hits.trim(t, r.ip_window);
            let before = hits.0.len();
            hits.push(t, r.ip_max);
            effects.ip_limited = before < r.ip_max && hits.0.len() >= r.ip_max;
        }
        if r.pair_max > 0 {
            let rank = |p: &PairState| p.rank(t, r);
            let pair = state.pairs.slot((account, source), t, rank);
            // Failures racing a fresh lock neither extend it nor start another.
            if pair.lock_end(t, r).is_none() {
                pair.locked_at = None;
                pair.failures.trim(t, r.pair_window);
                pair.failures.push(t, r.pair_max);
                if pair.failures.0.len() >= r.pair_max {
                    // The lock starts a fresh count: after it, the pair gets 5 tries again.
                    pair.failures.0.clear();
                    pair.locked_at = Some(t);
                    effects.pair_locked = true;
                }
            }
        }
        effects
    }

    /// Counts a correct password: clears the pair's failures, but not an active lock (other
    /// attempts may have started it meanwhile) and not the source's or account's counts. If a
    /// success reset the source count, an attacker holding one valid account could log into
    /// it between guesses and spray forever; if it reset the account count, the owner logging
    /// in would hand a distributed attacker a fresh budget.
    pub fn record_success(&self, account: &str, ip: IpAddr, now: OffsetDateTime) {
        let key = (AccountKey::of(account), SourceKey::of(ip));
        let t = unix_nanos(now);
        let mut state = self.lock();
        let locked = state
            .pairs
            .map
            .get(&key)
            .is_some_and(|p| p.lock_end(t, &self.rules).is_some());
        if !locked {
            state.pairs.map.remove(&key);
        }
    }

    /// Keys held over all three maps (pairs, sources, accounts); at most 3 × `max_tracked`.
    pub fn tracked(&self) -> usize {
        let state = self.lock();
        state.pairs.map.len() + state.sources.map.len() + state.accounts.map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing here panics while holding the lock, and counters are valid at every step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Instants inside the throttle: Unix nanoseconds, saturating. Plain integers keep entries
/// small and the eviction sweep cheap; `OffsetDateTime` stays the API type.
type Nanos = i64;

fn unix_nanos(at: OffsetDateTime) -> Nanos {
    let nanos = at.unix_timestamp_nanos();
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn secs_to_nanos(secs: u64) -> Nanos {
    i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000)
}

/// The config in the forms the hot path uses.
struct Rules {
    pair_max: usize,
    pair_window: Nanos,
    pair_lockout: Nanos,
    ip_max: usize,
    ip_window: Nanos,
    account_after: usize,
    account_window: Nanos,
    delay_base: Duration,
    delay_max: Duration,
    /// Failures an account keeps: enough for the delay to reach its cap, no more.
    account_keep: usize,
}

impl Rules {
    fn new(c: &ThrottleConfig) -> Self {
        let mut rules = Self {
            pair_max: count(c.pair_max_failures),
            pair_window: secs_to_nanos(c.pair_window_secs),
            pair_lockout: secs_to_nanos(c.pair_lockout_secs),
            ip_max: count(c.ip_max_failures),
            ip_window: secs_to_nanos(c.ip_window_secs),
            account_after: count(c.account_delay_after),
            account_window: secs_to_nanos(c.account_window_secs),
            delay_base: c.account_delay_base(),
            delay_max: c.account_delay_max(),
            account_keep: 0,
        };
        if rules.account_after > 0 {
            let mut keep = rules.account_after;
            while !rules.delay_base.is_zero()
                && rules.account_delay(keep) < rules.delay_max
                && keep - rules.account_after < 32
            {
                keep += 1;
            }
            rules.account_keep = keep;
        }
        rules
    }

    /// Base, doubled per failure past `account_after`, capped.
    fn account_delay(&self, failures: usize) -> Duration {
        if self.account_after == 0 || failures < self.account_after {
            return Duration::ZERO;
        }
        let doublings = u32::try_from(failures - self.account_after).unwrap_or(u32::MAX);
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.delay_base.saturating_mul(factor).min(self.delay_max)
    }
}

struct State {
    pairs: Bounded<(AccountKey, SourceKey), PairState>,
    sources: Bounded<SourceKey, Failures>,
    accounts: Bounded<AccountKey, Failures>,
}

/// An account by a hash of its lowercased name: fixed-size keys keep the memory bound true
/// whatever length of name a client sends.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct AccountKey([u8; 32]);

impl AccountKey {
    fn of(account: &str) -> Self {
        Self(*blake3::hash(account.to_lowercase().as_bytes()).as_bytes())
    }
}

/// An IPv4 address or an IPv6 /64 (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum SourceKey {
    V4(u32),
    V6Net(u64),
}

impl SourceKey {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6Net((u128::from(v6) >> 64) as u64),
        }
    }
}

/// Failure times, oldest first, trimmed to the window and to the count the rule needs: older
/// ones would age out before any kept one, so the count stays exact up to that limit.
#[derive(Default)]
struct Failures(VecDeque<Nanos>);

impl Failures {
    fn trim(&mut self, now: Nanos, window: Nanos) {
        while self.0.front().is_some_and(|&t| !live(t, now, window)) {
            self.0.pop_front();
        }
    }

    fn push(&mut self, now: Nanos, keep: usize) {
        // Concurrent callers may pass a slightly older `now`; keep the deque sorted.
        let at = self.0.back().map_or(now, |&last| last.max(now));
        self.0.push_back(at);
        while self.0.len() > keep {
            self.0.pop_front();
        }
    }

    /// Eviction rank: enforcing (≥ `limit` live failures) or not, then when the newest expires.
    fn rank(&self, now: Nanos, window: Nanos, limit: usize) -> Rank {
        // Sorted, so `limit` live failures means the `limit`-th newest is live.
        let nth_newest = self.0.len().checked_sub(limit).and_then(|i| self.0.get(i));
        let enforcing = limit > 0 && nth_newest.is_some_and(|&t| live(t, now, window));
        (enforcing, self.expires(window))
    }

    fn expires(&self, window: Nanos) -> Nanos {
        self.0
            .back()
            .map_or(i64::MIN, |&t| t.saturating_add(window))
    }
}

/// Whether something at `t` still counts at `now` in a window of `window`.
fn live(t: Nanos, now: Nanos, window: Nanos) -> bool {
    now.saturating_sub(t) < window
}

#[derive(Default)]
struct PairState {
    failures: Failures,
    locked_at: Option<Nanos>,
}

impl PairState {
    /// When the lock ends, if the pair is locked at `now`.
    fn lock_end(&self, now: Nanos, r: &Rules) -> Option<Nanos> {
        let at = self.locked_at?;
        live(at, now, r.pair_lockout).then(|| at.saturating_add(r.pair_lockout))
    }

    fn rank(&self, now: Nanos, r: &Rules) -> Rank {
        let lock_ends = self
            .locked_at
            .map_or(i64::MIN, |at| at.saturating_add(r.pair_lockout));
        let hits_end = self.failures.expires(r.pair_window);
        (self.lock_end(now, r).is_some(), lock_ends.max(hits_end))
    }
}

/// How eviction orders keys: those enforcing nothing go first, then those whose state ends
/// soonest. A key whose state has ended is dropped outright.
type Rank = (bool, Nanos);

/// A map that never holds more than `cap` keys.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    cap: usize,
}

impl<K: Copy + Eq + Hash, V: Default> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            cap,
        }
    }

    /// The value for `key`, making room first if the key is new and the map full.
    fn slot(&mut self, key: K, now: Nanos, rank: impl Fn(&V) -> Rank) -> &mut V {
        if self.map.len() >= self.cap && !self.map.contains_key(&key) {
            self.make_room(now, rank);
        }
        self.map.entry(key).or_default()
    }

    fn make_room(&mut self, now: Nanos, rank: impl Fn(&V) -> Rank) {
        self.map.retain(|_, v| rank(v).1 > now);
        // Free a quarter at once, so the O(n) sweep runs once per cap/4 new keys, not per key.
        let target = self.cap - (self.cap / 4).max(1);
        if self.map.len() <= target {
            return;
        }
        let excess = self.map.len() - target;
        // Find the cut rank, then drop everything below it and just enough keys at it: one
        // more pass over the map instead of sorting or copying keys.
        let mut ranks: Vec<Rank> = self.map.values().map(&rank).collect();
        let (_, &mut cut, _) = ranks.select_nth_unstable(excess - 1);
        let below = ranks.iter().filter(|&&r| r < cut).count();
        let mut at_cut = excess - below;
        self.map.retain(|_, v| match rank(v).cmp(&cut) {
            Ordering::Less => false,
            Ordering::Equal if at_cut > 0 => {
                at_cut -= 1;
                false
            }
            _ => true,
        });
    }
}

fn count(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `at + by`, saturating at the latest representable time.
fn later(at: OffsetDateTime, by: time::Duration) -> OffsetDateTime {
    at.checked_add(by)
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc())
}

/// Whole seconds, rounded up, at least 1: `Retry-After` carries whole seconds, and rounding
/// down would invite a retry that is still refused.
fn ceil_secs(nanos: Nanos) -> Duration {
    let whole = nanos.div_euclid(1_000_000_000) + i64::from(nanos.rem_euclid(1_000_000_000) > 0);
    Duration::from_secs(u64::try_from(whole).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests;
