//! Agent health history: every heartbeat's sample for the last 24 hours, five-minute
//! averages for 30 days beyond, nothing older — so each agent's history is bounded
//! (at most 8,640 + 8,640 samples of 72 bytes).

use serde::Serialize;

use super::{Fleet, FleetError};
use crate::audit::AuditContext;
use crate::identity::Principal;
use crate::model::AgentId;
use crate::store::{Resolution, Table};

/// Full-resolution samples are kept this long.
pub const RAW_RETENTION_SECS: u64 = 86_400;
/// Older samples are averaged into buckets of this many seconds…
pub const COARSE_STEP_SECS: u64 = 300;
/// …and kept this long.
pub const COARSE_RETENTION_SECS: u64 = 30 * 86_400;
/// A chart gets at most this many points.
const MAX_POINTS: u64 = 360;

/// One health sample, as an agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, utoipa::ToSchema)]
pub struct Sample {
    /// CPU use, percent of all cores.
    pub cpu_percent: f32,
    /// Memory in use, bytes.
    pub memory_used_bytes: u64,
    /// Memory in all, bytes.
    pub memory_total_bytes: u64,
    /// Disk in use, bytes (local file systems).
    pub disk_used_bytes: u64,
    /// Disk in all, bytes.
    pub disk_total_bytes: u64,
    /// Network receive rate, bytes/s.
    pub net_rx_bytes_per_s: u64,
    /// Network transmit rate, bytes/s.
    pub net_tx_bytes_per_s: u64,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: [f32; 3],
    /// Seconds since boot.
    pub uptime_s: u64,
}

const SAMPLE_LEN: usize = 4 + 6 * 8 + 3 * 4 + 8;

impl Sample {
    /// Fixed-size little-endian encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(SAMPLE_LEN);
        b.extend_from_slice(&self.cpu_percent.to_le_bytes());
        for v in [
            self.memory_used_bytes,
            self.memory_total_bytes,
            self.disk_used_bytes,
            self.disk_total_bytes,
            self.net_rx_bytes_per_s,
            self.net_tx_bytes_per_s,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for l in self.load {
            b.extend_from_slice(&l.to_le_bytes());
        }
        b.extend_from_slice(&self.uptime_s.to_le_bytes());
        b
    }

    /// Decodes [`Sample::encode`]'s output; `None` for anything else.
    pub fn decode(b: &[u8]) -> Option<Sample> {
        if b.len() != SAMPLE_LEN {
            return None;
        }
        let f = |i: usize| {
            b.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(f32::from_le_bytes)
        };
        let u = |i: usize| {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
        };
        Some(Sample {
            cpu_percent: f(0)?,
            memory_used_bytes: u(4)?,
            memory_total_bytes: u(12)?,
            disk_used_bytes: u(20)?,
            disk_total_bytes: u(28)?,
            net_rx_bytes_per_s: u(36)?,
            net_tx_bytes_per_s: u(44)?,
            load: [f(52)?, f(56)?, f(60)?],
            uptime_s: u(64)?,
        })
    }

    /// The average of `samples` (the last uptime).
    fn average(samples: &[Sample]) -> Sample {
        let n = samples.len().max(1);
        let avg_u = |g: fn(&Sample) -> u64| {
            (samples.iter().map(|s| u128::from(g(s))).sum::<u128>() / n as u128) as u64
        };
        let avg_f = |g: fn(&Sample) -> f32| samples.iter().map(g).sum::<f32>() / n as f32;
        Sample {
            cpu_percent: avg_f(|s| s.cpu_percent),
            memory_used_bytes: avg_u(|s| s.memory_used_bytes),
            memory_total_bytes: avg_u(|s| s.memory_total_bytes),
            disk_used_bytes: avg_u(|s| s.disk_used_bytes),
            disk_total_bytes: avg_u(|s| s.disk_total_bytes),
            net_rx_bytes_per_s: avg_u(|s| s.net_rx_bytes_per_s),
            net_tx_bytes_per_s: avg_u(|s| s.net_tx_bytes_per_s),
            load: [
                avg_f(|s| s.load[0]),
                avg_f(|s| s.load[1]),
                avg_f(|s| s.load[2]),
            ],
            uptime_s: samples.last().map_or(0, |s| s.uptime_s),
        }
    }
}

/// A chart range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsRange {
    /// The last hour.
    Hour,
    /// The last six hours.
    SixHours,
    /// The last day.
    Day,
    /// The last week.
    Week,
    /// The last 30 days.
    Month,
}

impl MetricsRange {
    /// Parses `1h`, `6h`, `24h`, `7d` or `30d`.
    pub fn parse(s: &str) -> Option<MetricsRange> {
        Some(match s {
            "1h" => MetricsRange::Hour,
            "6h" => MetricsRange::SixHours,
            "24h" | "1d" => MetricsRange::Day,
            "7d" => MetricsRange::Week,
            "30d" => MetricsRange::Month,
            _ => return None,
        })
    }

    /// Its length in seconds.
    pub fn secs(self) -> u64 {
        match self {
            MetricsRange::Hour => 3600,
            MetricsRange::SixHours => 6 * 3600,
            MetricsRange::Day => 86_400,
            MetricsRange::Week => 7 * 86_400,
            MetricsRange::Month => 30 * 86_400,
        }
    }

    /// Its name as the API takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsRange::Hour => "1h",
            MetricsRange::SixHours => "6h",
            MetricsRange::Day => "24h",
            MetricsRange::Week => "7d",
            MetricsRange::Month => "30d",
        }
    }
}

/// One chart point: the average of the samples in `[at, at + step)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Point {
    /// Unix seconds of the bucket's start.
    pub at: u64,
    /// The averaged sample.
    #[serde(flatten)]
    pub sample: Sample,
}

/// Averages time-ordered samples into buckets of `step` seconds.
fn bucket(samples: impl IntoIterator<Item = (u64, Sample)>, step: u64) -> Vec<Point> {
    let step = step.max(1);
    let mut out = Vec::new();
    let mut current: Option<(u64, Vec<Sample>)> = None;
    for (at, s) in samples {
        let b = at - at % step;
        match &mut current {
            Some((cb, v)) if *cb == b => v.push(s),
            _ => {
                if let Some((cb, v)) = current.take() {
                    out.push(Point {
                        at: cb,
                        sample: Sample::average(&v),
                    });
                }
                current = Some((b, vec![s]));
            }
        }
    }
    if let Some((cb, v)) = current {
        out.push(Point {
            at: cb,
            sample: Sample::average(&v),
        });
    }
    out
}

impl Fleet {
    /// Stores heartbeat samples `(agent, unix seconds, sample)` in one transaction.
    pub fn record_samples(&self, samples: &[(AgentId, u64, Sample)]) -> Result<(), FleetError> {
        if samples.is_empty() {
            return Ok(());
        }
        let encoded: Vec<(&str, u64, Vec<u8>)> = samples
            .iter()
            .map(|(a, at, s)| (a.0.as_str(), *at, s.encode()))
            .collect();
        self.store.write(|tx| {
            tx.put_samples(
                Resolution::Raw,
                encoded.iter().map(|(a, at, b)| (*a, *at, b.as_slice())),
            )
        })?;
        Ok(())
    }

    /// An agent's history over `range`, averaged to at most 360 points. The agent is looked
    /// up like [`Fleet::agent`]: another team's, or one outside the principal's agent scope,
    /// is `NotFound` (audited).
    pub fn metrics(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        agent: &str,
        range: MetricsRange,
    ) -> Result<Vec<Point>, FleetError> {
        let a = self.agent(p, ctx, agent)?;
        let now = self.now().unix_timestamp().max(0) as u64;
        let from = now.saturating_sub(range.secs());
        let step = (range.secs() / MAX_POINTS).max(10);
        let rows = self.store.read(|tx| {
            let mut rows = tx.samples(Resolution::Coarse, &a.id.0, from, now)?;
            rows.extend(tx.samples(Resolution::Raw, &a.id.0, from, now)?);
            Ok::<_, FleetError>(rows)
        })?;
        let mut samples: Vec<(u64, Sample)> = rows
            .into_iter()
            .filter_map(|(at, b)| Sample::decode(&b).map(|s| (at, s)))
            .collect();
        samples.sort_by_key(|(at, _)| *at);
        Ok(bucket(samples, step))
    }

    /// Averages every agent's samples older than a day into five-minute buckets and drops
    /// buckets older than 30 days. Returns how many raw samples were folded.
    pub fn compact_metrics(&self) -> Result<usize, FleetError> {
        let now = self.now().unix_timestamp().max(0) as u64;
        let raw_floor = now.saturating_sub(RAW_RETENTION_SECS);
        let raw_floor = raw_floor - raw_floor % COARSE_STEP_SECS;
        let coarse_floor = now.saturating_sub(COARSE_RETENTION_SECS);
        let ids: Vec<String> = self
            .store
            .read(|tx| tx.rows::<super::AgentRow>(Table::Agents, ""))?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut folded = 0;
        for id in ids {
            folded += self.store.write(|tx| {
                let old = tx.samples(Resolution::Raw, &id, 0, raw_floor.saturating_sub(1))?;
                let samples = old
                    .iter()
                    .filter_map(|(at, b)| Sample::decode(b).map(|s| (*at, s)));
                let points = bucket(samples, COARSE_STEP_SECS);
                let encoded: Vec<(u64, Vec<u8>)> =
                    points.iter().map(|p| (p.at, p.sample.encode())).collect();
                tx.put_samples(
                    Resolution::Coarse,
                    encoded
                        .iter()
                        .map(|(at, b)| (id.as_str(), *at, b.as_slice())),
                )?;
                tx.delete_samples_before(Resolution::Raw, &id, raw_floor)?;
                tx.delete_samples_before(Resolution::Coarse, &id, coarse_floor)?;
                Ok::<_, FleetError>(old.len())
            })?;
        }
        Ok(folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_and_refuse_other_lengths() {
        let s = Sample {
            cpu_percent: 12.5,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            disk_used_bytes: 7,
            disk_total_bytes: 9,
            net_rx_bytes_per_s: 100,
            net_tx_bytes_per_s: 200,
            load: [0.5, 0.25, 0.125],
            uptime_s: 86_400,
        };
        assert_eq!(Sample::decode(&s.encode()), Some(s));
        assert_eq!(Sample::decode(&s.encode()[1..]), None);
    }

    #[test]
    fn buckets_average_their_samples() {
        let s = |cpu| Sample {
            cpu_percent: cpu,
            ..Sample::default()
        };
        let points = bucket([(0, s(10.0)), (10, s(30.0)), (300, s(50.0))], 300);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].at, 0);
        assert!((points[0].sample.cpu_percent - 20.0).abs() < 1e-6);
        assert_eq!(points[1].at, 300);
    }
}
