//! Connection caps: per source IP and in total, so one client cannot hold every socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections per IP and in all.
#[derive(Debug)]
pub struct ConnLimiter {
    per_ip: u32,
    total: u32,
    open: Mutex<(u32, HashMap<IpAddr, u32>)>,
}

/// Holds one connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl ConnLimiter {
    /// A limiter allowing `per_ip` connections per address and `total` in all.
    pub fn new(per_ip: u32, total: u32) -> Arc<Self> {
        Arc::new(Self {
            per_ip,
            total,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A permit for a new connection from `ip`, or `None` when a cap is reached.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnPermit> {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *guard;
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.per_ip || *total >= self.total {
            if *n == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *n += 1;
        *total += 1;
        Some(ConnPermit {
            limiter: Arc::clone(self),
            ip,
        })
    }

    /// Connections open from `ip` now.
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut guard = self.limiter.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_ip_and_total_and_frees_on_drop() {
        let l = ConnLimiter::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = l.try_acquire(a).unwrap();
        let _p2 = l.try_acquire(a).unwrap();
        assert!(l.try_acquire(a).is_none(), "per-IP cap");
        let _p3 = l.try_acquire(b).unwrap();
        assert!(l.try_acquire(b).is_none(), "total cap");
        drop(p1);
        assert_eq!(l.open_from(a), 1);
        assert!(l.try_acquire(b).is_some());
    }
}
