//! TEMPORARY STUB (not committed).
#![allow(missing_docs, dead_code)]
use std::collections::HashMap;
use std::hash::Hash;
use serde::Serialize;
pub struct RateLimiter<K> { limit: u32, m: HashMap<K, u32> }
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RateDecision { Allowed { remaining: u32 }, Limited { retry_after_secs: u64 } }
impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(limit: u32, _w: u64, _m: usize) -> Self { Self { limit, m: HashMap::new() } }
    pub fn check(&mut self, key: &K, _now: i64) -> RateDecision {
        let c = self.m.entry(key.clone()).or_insert(0);
        if *c >= self.limit { return RateDecision::Limited { retry_after_secs: 3600 } }
        *c += 1; RateDecision::Allowed { remaining: self.limit - *c }
    }
}
