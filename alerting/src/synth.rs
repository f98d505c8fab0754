//! A deterministic synthetic alert stream for benches, tests and the Alertmanager
//! comparison: many alert sources switching between quiet and firing episodes,
//! re-sending while firing (like Prometheus), a share of them flapping, and some
//! episodes that end by going silent instead of an explicit resolve.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::event::{AlertEvent, AlertStatus};
use crate::matcher::Labels;

/// Generator settings.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Distinct alert identities.
    pub fingerprints: usize,
    /// Events to produce.
    pub events: usize,
    /// Time of the first event, ns since epoch.
    pub start_ns: i64,
    /// Re-send period of a firing alert.
    pub resend_ns: i64,
    /// Share of sources that flap (short on/off cycles).
    pub flapping_share: f64,
    /// Share of episodes that end without an explicit resolve.
    pub silent_end_share: f64,
    /// RNG seed.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            fingerprints: 1_000,
            events: 100_000,
            // 2026-11-26T10:00:00Z
            start_ns: 1_795_687_200_000_000_000,
            resend_ns: 60_000_000_000,
            flapping_share: 0.05,
            silent_end_share: 0.2,
            seed: 42,
        }
    }
}

const ALERTNAMES: [&str; 10] = [
    "HighErrorRate",
    "HighLatency",
    "InstanceDown",
    "DiskFull",
    "CPUThrottling",
    "MemoryPressure",
    "QueueBacklog",
    "CertExpiry",
    "ReplicationLag",
    "PodCrashLooping",
];
const SERVICES: [&str; 20] = [
    "checkout",
    "cart",
    "payments",
    "search",
    "catalog",
    "auth",
    "users",
    "orders",
    "shipping",
    "inventory",
    "db",
    "database",
    "cache",
    "gateway",
    "frontend",
    "email",
    "billing",
    "reports",
    "files",
    "ml",
];
const TEAMS: [&str; 4] = ["web", "db", "payments", "infra"];
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];
const CLUSTERS: [&str; 3] = ["eu-1", "us-1", "ap-1"];

struct Source {
    labels: Labels,
    flapper: bool,
    firing: bool,
    episode_end: i64,
    starts_at: i64,
}

/// Generates the stream (sorted by time).
pub fn generate(cfg: &SynthConfig) -> Vec<AlertEvent> {
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let min = 60_000_000_000i64;
    let mut sources: Vec<Source> = (0..cfg.fingerprints.max(1))
        .map(|i| {
            let svc = SERVICES[i % SERVICES.len()];
            let mut l = Labels::new();
            l.insert(
                "alertname".into(),
                ALERTNAMES[(i / 3) % ALERTNAMES.len()].into(),
            );
            l.insert("service".into(), svc.into());
            l.insert("team".into(), TEAMS[(i / 7) % TEAMS.len()].into());
            l.insert("severity".into(), SEVERITIES[rng.random_range(0..3)].into());
            l.insert("cluster".into(), CLUSTERS[i % CLUSTERS.len()].into());
            l.insert(
                "env".into(),
                if rng.random_bool(0.8) {
                    "prod"
                } else {
                    "staging"
                }
                .into(),
            );
            l.insert("instance".into(), format!("{svc}-{i}:9100"));
            Source {
                labels: l,
                flapper: rng.random_bool(cfg.flapping_share),
                firing: false,
                episode_end: 0,
                starts_at: 0,
            }
        })
        .collect();
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    for i in 0..sources.len() {
        heap.push(Reverse((cfg.start_ns + rng.random_range(0..30 * min), i)));
    }
    let mut out = Vec::with_capacity(cfg.events);
    while out.len() < cfg.events {
        let Some(Reverse((t, i))) = heap.pop() else {
            break;
        };
        let Some(s) = sources.get_mut(i) else { break };
        let (on, off) = if s.flapper {
            (rng.random_range(1..4) * min, rng.random_range(1..4) * min)
        } else {
            (
                rng.random_range(2..40) * min,
                rng.random_range(5..120) * min,
            )
        };
        let mut annotations = Labels::new();
        annotations.insert(
            "summary".into(),
            format!("{} on {}", s.labels["alertname"], s.labels["service"]),
        );
        if !s.firing {
            s.firing = true;
            s.starts_at = t;
            s.episode_end = t + on;
        }
        let next = if t < s.episode_end {
            out.push(AlertEvent {
                ts_ns: t,
                status: AlertStatus::Firing,
                labels: s.labels.clone(),
                annotations,
                starts_at_ns: Some(s.starts_at),
                ends_at_ns: None,
            });
            t + cfg.resend_ns + rng.random_range(0..5_000_000_000)
        } else {
            s.firing = false;
            if !rng.random_bool(cfg.silent_end_share) {
                out.push(AlertEvent {
                    ts_ns: t,
                    status: AlertStatus::Resolved,
                    labels: s.labels.clone(),
                    annotations,
                    starts_at_ns: Some(s.starts_at),
                    ends_at_ns: Some(t),
                });
            }
            t + off
        };
        heap.push(Reverse((next, i)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn sorted_sized_and_deterministic() {
        let cfg = SynthConfig {
            fingerprints: 50,
            events: 2_000,
            ..SynthConfig::default()
        };
        let a = generate(&cfg);
        assert_eq!(a.len(), 2_000);
        assert!(a.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        let ids: BTreeSet<_> = a.iter().map(|e| e.labels.clone()).collect();
        assert_eq!(ids.len(), 50);
        assert!(a.iter().any(|e| e.status == AlertStatus::Resolved));
        assert_eq!(a, generate(&cfg));
    }
}
