//! Sign-ins waiting for their second factor: a random handle per attempt, single use, bound
//! to the address that gave the right password, valid five minutes. Kept in memory (a
//! restart only means typing the password again) and bounded in size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::crypto::{token, Secret};
use crate::model::UserId;

/// Seconds a pending sign-in waits for its code.
pub const PENDING_TTL_SECS: i64 = 300;
/// Most pending sign-ins held at once; the oldest go first.
const MAX_PENDING: usize = 10_000;

struct Pending {
    user: UserId,
    ip: IpAddr,
    expires: i64,
}

/// The pending sign-ins, keyed by the SHA-256 of their handle.
#[derive(Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<String, Pending>>,
}

impl PendingLogins {
    /// Records a pending sign-in for `user` from `ip`; returns its handle.
    pub fn insert(&self, user: &UserId, ip: IpAddr, now: i64) -> Secret<String> {
        let handle = token::session_id();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.expires > now);
        if map.len() >= MAX_PENDING {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            token::token_hash_hex(handle.expose()),
            Pending {
                user: user.clone(),
                ip,
                expires: now + PENDING_TTL_SECS,
            },
        );
        handle
    }

    /// Takes (and so uses up) the pending sign-in for `handle`, if it is live and `ip` is
    /// the address it was made for.
    pub fn take(&self, handle: &str, ip: IpAddr, now: i64) -> Option<UserId> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let p = map.remove(&token::token_hash_hex(handle))?;
        (p.expires > now && p.ip == ip).then_some(p.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_bound_to_address_and_time() {
        let p = PendingLogins::default();
        let u = UserId("u".into());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let h = p.insert(&u, ip, 100);
        assert_eq!(p.take(h.expose(), ip, 101), Some(u.clone()));
        assert_eq!(p.take(h.expose(), ip, 101), None, "single use");
        let h = p.insert(&u, ip, 100);
        assert_eq!(p.take(h.expose(), "10.0.0.2".parse().unwrap(), 101), None);
        let h = p.insert(&u, ip, 100);
        assert_eq!(
            p.take(h.expose(), ip, 100 + PENDING_TTL_SECS),
            None,
            "expired"
        );
    }
}
