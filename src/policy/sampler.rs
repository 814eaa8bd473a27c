//! Sampling of denied attempts for the audit log: a flood of refusals (wrong passwords,
//! probes of other teams' ids, CSRF failures, blocked commands, bad agent handshakes) must
//! stay visible without growing the store with every single one.
//!
//! Per `(action, source, team)` — source being the peer's address or the actor — the first
//! `per_window` denials in each window of `window_secs` are recorded one by one; the rest
//! are only counted, and the count is recorded once the window is over (with the next
//! denial of the same kind, or by [`DenialSampler::due`] on a schedule). Memory is bounded:
//! at most `max_keys` windows are held; beyond that, new sources share one overflow window
//! (`(many sources)`), so a spray from many addresses is still counted, never dropped.
//! Time comes from the caller.

use std::collections::HashMap;

/// The source name of the overflow window.
pub const MANY_SOURCES: &str = "(many sources)";

/// Denials that were counted, not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The action denied (e.g. `auth.login_failed`).
    pub action: String,
    /// Where they came from.
    pub source: String,
    /// The team they belong to, if any.
    pub team: Option<String>,
    /// How many were not recorded one by one.
    pub count: u64,
    /// Unix seconds the window started.
    pub from: i64,
    /// Unix seconds the window ended.
    pub to: i64,
}

/// What to do with one denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sampled {
    /// Record it.
    Record,
    /// Count it only.
    Suppress,
    /// Record this summary of the previous window first, then record it.
    RecordAfter(Suppressed),
}

#[derive(Debug, Clone)]
struct Window {
    start: i64,
    recorded: u32,
    suppressed: u64,
}

type Key = (String, String, Option<String>);

/// Per-source denial windows.
#[derive(Debug)]
pub struct DenialSampler {
    per_window: u32,
    window_secs: i64,
    max_keys: usize,
    windows: HashMap<Key, Window>,
}

impl DenialSampler {
    /// Records `per_window` denials per source and kind in each `window_secs` (both at least
    /// 1), holding at most `max_keys` windows.
    pub fn new(per_window: u32, window_secs: i64, max_keys: usize) -> Self {
        Self {
            per_window: per_window.max(1),
            window_secs: window_secs.max(1),
            max_keys: max_keys.max(2),
            windows: HashMap::new(),
        }
    }

    /// Decides about one denial of `action` from `source` (in `team`) at `now`.
    pub fn sample(&mut self, action: &str, source: &str, team: Option<&str>, now: i64) -> Sampled {
        let mut key: Key = (action.into(), source.into(), team.map(str::to_string));
        if !self.windows.contains_key(&key) && self.windows.len() >= self.max_keys {
            let window = self.window_secs;
            self.windows
                .retain(|_, w| w.suppressed > 0 || now < w.start + window);
            if self.windows.len() >= self.max_keys {
                key.1 = MANY_SOURCES.into();
            }
        }
        let (per, window_secs) = (self.per_window, self.window_secs);
        let w = self.windows.entry(key.clone()).or_insert(Window {
            start: now,
            recorded: 0,
            suppressed: 0,
        });
        let mut summary = None;
        if now >= w.start + window_secs || now < w.start {
            if w.suppressed > 0 {
                summary = Some(Suppressed {
                    action: key.0.clone(),
                    source: key.1.clone(),
                    team: key.2.clone(),
                    count: w.suppressed,
                    from: w.start,
                    to: w.start + window_secs,
                });
            }
            *w = Window {
                start: now,
                recorded: 0,
                suppressed: 0,
            };
        }
        if w.recorded < per {
            w.recorded += 1;
            summary.map_or(Sampled::Record, Sampled::RecordAfter)
        } else {
            w.suppressed += 1;
            // A summary owed from the window before still has to be written.
            summary.map_or(Sampled::Suppress, Sampled::RecordAfter)
        }
    }

    /// The summaries of windows that ended by `now` with denials counted (and forgets every
    /// ended window).
    pub fn due(&mut self, now: i64) -> Vec<Suppressed> {
        let window = self.window_secs;
        let mut out = Vec::new();
        self.windows.retain(|k, w| {
            if now < w.start + window {
                return true;
            }
            if w.suppressed > 0 {
                out.push(Suppressed {
                    action: k.0.clone(),
                    source: k.1.clone(),
                    team: k.2.clone(),
                    count: w.suppressed,
                    from: w.start,
                    to: w.start + window,
                });
            }
            false
        });
        out.sort_by(|a, b| (a.from, &a.action, &a.source).cmp(&(b.from, &b.action, &b.source)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_denials_are_recorded_the_rest_counted_and_reported_once() {
        let mut s = DenialSampler::new(3, 60, 100);
        for _ in 0..3 {
            assert_eq!(
                s.sample("auth.login_failed", "10.0.0.1", None, 0),
                Sampled::Record
            );
        }
        for _ in 0..5 {
            assert_eq!(
                s.sample("auth.login_failed", "10.0.0.1", None, 10),
                Sampled::Suppress
            );
        }
        assert_eq!(
            s.sample("auth.login_failed", "10.0.0.2", None, 10),
            Sampled::Record,
            "per source"
        );
        assert_eq!(
            s.sample("access.denied", "10.0.0.1", None, 10),
            Sampled::Record,
            "per kind"
        );
        assert!(s.due(59).is_empty(), "the window is not over");
        match s.sample("auth.login_failed", "10.0.0.1", None, 60) {
            Sampled::RecordAfter(sum) => {
                assert_eq!((sum.count, sum.from, sum.to), (5, 0, 60));
                assert_eq!(sum.source, "10.0.0.1");
            }
            other => panic!("{other:?}"),
        }
        assert!(s.due(200).is_empty(), "reported once");
    }

    #[test]
    fn a_flood_that_stops_is_reported_by_the_schedule() {
        let mut s = DenialSampler::new(1, 60, 100);
        s.sample("request.csrf_refused", "1.2.3.4", Some("t1"), 0);
        s.sample("request.csrf_refused", "1.2.3.4", Some("t1"), 1);
        s.sample("request.csrf_refused", "1.2.3.4", Some("t1"), 2);
        let due = s.due(61);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].count, due[0].team.as_deref()), (2, Some("t1")));
        assert_eq!(
            s.sample("request.csrf_refused", "1.2.3.4", Some("t1"), 62),
            Sampled::Record
        );
    }

    #[test]
    fn memory_is_bounded_and_a_spray_from_many_sources_is_still_counted() {
        let mut s = DenialSampler::new(1, 60, 10);
        let mut recorded = 0;
        for i in 0..1000 {
            if s.sample(
                "auth.login_failed",
                &format!("10.0.{}.{}", i / 256, i % 256),
                None,
                5,
            ) != Sampled::Suppress
            {
                recorded += 1;
            }
        }
        assert!(s.windows.len() <= 11, "{}", s.windows.len());
        assert!(recorded <= 11, "{recorded}");
        let due = s.due(100);
        let counted: u64 = due.iter().map(|d| d.count).sum();
        assert_eq!(
            counted + recorded,
            1000,
            "every denial is recorded or counted"
        );
        assert!(due.iter().any(|d| d.source == MANY_SOURCES));
    }

    #[test]
    fn a_clock_going_back_starts_a_new_window_without_losing_counts() {
        let mut s = DenialSampler::new(1, 60, 10);
        s.sample("a", "x", None, 100);
        assert_eq!(s.sample("a", "x", None, 101), Sampled::Suppress);
        match s.sample("a", "x", None, 50) {
            Sampled::RecordAfter(sum) => assert_eq!(sum.count, 1),
            other => panic!("{other:?}"),
        }
    }
}
