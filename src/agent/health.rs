//! Health samples from `sysinfo`: CPU, memory, local disks, network rates, load, uptime.

use std::time::Instant;

use sysinfo::{Disks, Networks, System};

use crate::proto::agent::Metrics;

/// Collects samples; network rates are averaged since the previous sample.
pub struct Health {
    system: System,
    disks: Disks,
    networks: Networks,
    last: Instant,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// A collector (the first CPU reading is relative to now).
    pub fn new() -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        system.refresh_memory();
        Self {
            system,
            disks: Disks::new_with_refreshed_list(),
            networks: Networks::new_with_refreshed_list(),
            last: Instant::now(),
        }
    }

    /// The current sample.
    pub fn sample(&mut self) -> Metrics {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        self.last = Instant::now();
        let (mut disk_total, mut disk_free) = (0u64, 0u64);
        let mut seen = std::collections::BTreeSet::new();
        for d in self.disks.list() {
            // One entry per device: bind mounts and containers list the same disk often.
            if seen.insert(d.name().to_os_string()) {
                disk_total = disk_total.saturating_add(d.total_space());
                disk_free = disk_free.saturating_add(d.available_space());
            }
        }
        let (mut rx, mut tx) = (0u64, 0u64);
        for (name, n) in self.networks.list() {
            if name != "lo" {
                rx = rx.saturating_add(n.received());
                tx = tx.saturating_add(n.transmitted());
            }
        }
        let load = System::load_average();
        Metrics {
            cpu_percent: self.system.global_cpu_usage(),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
            disk_used_bytes: disk_total.saturating_sub(disk_free),
            disk_total_bytes: disk_total,
            net_rx_bytes_per_s: (rx as f64 / secs) as u64,
            net_tx_bytes_per_s: (tx as f64 / secs) as u64,
            load1: load.one as f32,
            load5: load.five as f32,
            load15: load.fifteen as f32,
            uptime_s: System::uptime(),
        }
    }
}
