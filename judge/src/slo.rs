//! Service level objectives: multi-window, multi-burn-rate alerts (Google SRE
//! workbook, ch. 5) and the remaining error budget, over per-minute good/total
//! counts kept in a ring covering the SLO period (bounded state).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::JudgeError;
use crate::config::NS_PER_SEC;

const MINUTE_NS: i64 = 60 * NS_PER_SEC;

/// What counts as a good event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SloKind {
    /// Good = request without error.
    Availability,
    /// Good = request without error and faster than `threshold_ms`.
    Latency {
        /// Latency threshold in milliseconds.
        threshold_ms: f64,
    },
}

/// One objective of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Name, unique per tracker (e.g. `checkout-availability`).
    pub name: String,
    /// Service.
    pub service: String,
    /// Target good ratio, e.g. 0.999.
    pub objective: f64,
    /// Good-event definition.
    pub kind: SloKind,
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// Wake someone up.
    Page,
    /// Handle in working hours.
    Ticket,
}

/// One long/short window pair and its burn-rate threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnPair {
    /// Long window in minutes.
    pub long_min: u32,
    /// Short window in minutes.
    pub short_min: u32,
    /// Burn-rate factor both windows must exceed.
    pub factor: f64,
    /// Severity.
    pub severity: Severity,
}

/// SLO tracker configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloConfig {
    /// Objectives.
    pub slos: Vec<Slo>,
    /// Budget period in minutes (default 30 days).
    pub period_min: u32,
    /// Alerting pairs (default: the workbook's 1h/5m 14.4×, 6h/30m 6× pages and
    /// 1d/2h 3×, 3d/6h 1× tickets).
    pub pairs: Vec<BurnPair>,
}

impl SloConfig {
    /// Default pairs and a 30-day period for the given objectives.
    pub fn new(slos: Vec<Slo>) -> Self {
        let p = |long_min, short_min, factor, severity| BurnPair {
            long_min,
            short_min,
            factor,
            severity,
        };
        Self {
            slos,
            period_min: 30 * 24 * 60,
            pairs: vec![
                p(60, 5, 14.4, Severity::Page),
                p(360, 30, 6.0, Severity::Page),
                p(1440, 120, 3.0, Severity::Ticket),
                p(4320, 360, 1.0, Severity::Ticket),
            ],
        }
    }
}

/// A burn-rate alert (emitted when a pair starts firing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnAlert {
    /// Event time of the evaluation (end of the closed minute).
    pub ts_ns: i64,
    /// Service.
    pub service: String,
    /// SLO name.
    pub slo: String,
    /// Page or ticket.
    pub severity: Severity,
    /// Long window in minutes.
    pub long_window_min: u32,
    /// Short window in minutes.
    pub short_window_min: u32,
    /// Burn rate over the long window (error ratio / error budget ratio).
    pub burn_rate_long: f64,
    /// Burn rate over the short window.
    pub burn_rate_short: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ring {
    /// Per slot: (minute index, good, total).
    slots: Vec<(i64, u64, u64)>,
    /// Whether each pair is currently firing (alerts are sent on the rising edge).
    firing: Vec<bool>,
}

impl Ring {
    fn add(&mut self, minute: i64, good: u64, total: u64) {
        let len = self.slots.len() as i64;
        let s = &mut self.slots[minute.rem_euclid(len) as usize];
        if s.0 != minute {
            // Older than the ring covers: drop; newer: the slot is recycled.
            if s.0 > minute {
                return;
            }
            *s = (minute, 0, 0);
        }
        s.1 += good;
        s.2 += total;
    }

    /// (good, total) over minutes `[end - n, end)`.
    fn sum(&self, end: i64, n: u32) -> (u64, u64) {
        let len = self.slots.len() as i64;
        let n = (n as i64).min(len);
        let (mut g, mut t) = (0u64, 0u64);
        for m in end - n..end {
            let s = &self.slots[m.rem_euclid(len) as usize];
            if s.0 == m {
                g += s.1;
                t += s.2;
            }
        }
        (g, t)
    }
}

/// Tracks SLOs from per-minute good/total counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SloTracker {
    cfg: SloConfig,
    rings: BTreeMap<String, Ring>,
    /// Minutes below this were evaluated.
    evaluated_upto: Option<i64>,
}

impl SloTracker {
    /// Creates a tracker; objectives must be in (0, 1) and names unique.
    pub fn new(cfg: SloConfig) -> Result<Self, JudgeError> {
        if cfg.period_min == 0 {
            return Err(JudgeError::Config("period_min must be positive".into()));
        }
        let mut rings = BTreeMap::new();
        let longest = cfg
            .pairs
            .iter()
            .map(|p| p.long_min)
            .max()
            .unwrap_or(0)
            .max(cfg.period_min);
        for s in &cfg.slos {
            if !(s.objective > 0.0 && s.objective < 1.0) {
                return Err(JudgeError::Config(format!(
                    "SLO {}: objective must be in (0, 1)",
                    s.name
                )));
            }
            let ring = Ring {
                slots: vec![(i64::MIN, 0, 0); longest as usize],
                firing: vec![false; cfg.pairs.len()],
            };
            if rings.insert(s.name.clone(), ring).is_some() {
                return Err(JudgeError::Config(format!("duplicate SLO name {}", s.name)));
            }
        }
        Ok(Self {
            cfg,
            rings,
            evaluated_upto: None,
        })
    }

    /// Adds good/total counts of one SLO at event time `ts_ns` (its minute).
    pub fn observe(&mut self, slo: &str, ts_ns: i64, good: u64, total: u64) {
        if let Some(r) = self.rings.get_mut(slo) {
            r.add(ts_ns.div_euclid(MINUTE_NS), good.min(total), total);
        }
    }

    /// Classifies one request for every SLO of `service`.
    pub fn observe_request(&mut self, service: &str, ts_ns: i64, latency_ms: f64, error: bool) {
        let minute = ts_ns.div_euclid(MINUTE_NS);
        for s in self.cfg.slos.iter().filter(|s| s.service == service) {
            let good = match s.kind {
                SloKind::Availability => !error,
                SloKind::Latency { threshold_ms } => !error && latency_ms <= threshold_ms,
            };
            if let Some(r) = self.rings.get_mut(&s.name) {
                r.add(minute, good as u64, 1);
            }
        }
    }

    fn burn(&self, slo: &Slo, ring: &Ring, end: i64, minutes: u32) -> f64 {
        let (g, t) = ring.sum(end, minutes);
        if t == 0 {
            return 0.0;
        }
        let bad_ratio = (t - g) as f64 / t as f64;
        bad_ratio / (1.0 - slo.objective)
    }

    /// Evaluates every minute closed by `now_ns` and returns alerts for pairs
    /// that start firing (both windows above the factor).
    pub fn advance(&mut self, now_ns: i64) -> Vec<BurnAlert> {
        let closed = now_ns.div_euclid(MINUTE_NS);
        let start = match self.evaluated_upto {
            Some(e) if e >= closed => return Vec::new(),
            // After a long gap only the last period's minutes matter.
            Some(e) => e.max(closed - self.cfg.period_min as i64),
            None => closed - 1,
        };
        self.evaluated_upto = Some(closed);
        let mut out = Vec::new();
        for end in start + 1..=closed {
            for slo in &self.cfg.slos {
                let Some(ring) = self.rings.get(&slo.name) else {
                    continue;
                };
                let mut states = Vec::with_capacity(self.cfg.pairs.len());
                for p in &self.cfg.pairs {
                    let bl = self.burn(slo, ring, end, p.long_min);
                    let bs = self.burn(slo, ring, end, p.short_min);
                    states.push((bl > p.factor && bs > p.factor, bl, bs));
                }
                let mut fire = Vec::new();
                if let Some(ring) = self.rings.get_mut(&slo.name) {
                    for (i, (on, bl, bs)) in states.into_iter().enumerate() {
                        if on && !ring.firing[i] {
                            fire.push((i, bl, bs));
                        }
                        ring.firing[i] = on;
                    }
                }
                for (i, bl, bs) in fire {
                    let p = &self.cfg.pairs[i];
                    out.push(BurnAlert {
                        ts_ns: end * MINUTE_NS,
                        service: slo.service.clone(),
                        slo: slo.name.clone(),
                        severity: p.severity,
                        long_window_min: p.long_min,
                        short_window_min: p.short_min,
                        burn_rate_long: bl,
                        burn_rate_short: bs,
                    });
                }
            }
        }
        out
    }

    /// Remaining error budget of every SLO of `service` over the period ending at
    /// the last evaluated minute, as a fraction (1 = untouched, < 0 = overspent);
    /// the minimum over the service's SLOs. `None` for an unknown service.
    pub fn budget_remaining(&self, service: &str) -> Option<f64> {
        self.cfg
            .slos
            .iter()
            .filter(|s| s.service == service)
            .filter_map(|s| self.budget_remaining_slo(&s.name))
            .min_by(f64::total_cmp)
    }

    /// Remaining error budget of one SLO: `1 − bad / ((1 − objective)·total)`.
    pub fn budget_remaining_slo(&self, slo: &str) -> Option<f64> {
        let s = self.cfg.slos.iter().find(|s| s.name == slo)?;
        let ring = self.rings.get(slo)?;
        let end = self.evaluated_upto?;
        let (g, t) = ring.sum(end, self.cfg.period_min);
        if t == 0 {
            return Some(1.0);
        }
        Some(1.0 - (t - g) as f64 / ((1.0 - s.objective) * t as f64))
    }

    /// Per-SLO budget rows for SQL exposure: `(service, slo, objective, good, total, budget_remaining)`.
    pub fn budget_rows(&self) -> Vec<(String, String, f64, u64, u64, f64)> {
        let Some(end) = self.evaluated_upto else {
            return Vec::new();
        };
        self.cfg
            .slos
            .iter()
            .filter_map(|s| {
                let ring = self.rings.get(&s.name)?;
                let (g, t) = ring.sum(end, self.cfg.period_min);
                let rem = if t == 0 {
                    1.0
                } else {
                    1.0 - (t - g) as f64 / ((1.0 - s.objective) * t as f64)
                };
                Some((s.service.clone(), s.name.clone(), s.objective, g, t, rem))
            })
            .collect()
    }

    /// SQL over the `metrics` table computing each SLO's remaining budget over
    /// the period, assuming request rows named `latency_metric` / `error_metric`
    /// (value 1 = failed) as the judge's evidence uses.
    pub fn budget_sql(&self, latency_metric: &str, error_metric: &str) -> Vec<(String, String)> {
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        self.cfg
            .slos
            .iter()
            .map(|s| {
                let bad = match s.kind {
                    SloKind::Availability => format!(
                        "sum(CASE WHEN name = {} AND value > 0 THEN 1 ELSE 0 END)",
                        q(error_metric)
                    ),
                    SloKind::Latency { threshold_ms } => format!(
                        "sum(CASE WHEN name = {} AND value > {threshold_ms} THEN 1 ELSE 0 END)",
                        q(latency_metric)
                    ),
                };
                let total_name = match s.kind {
                    SloKind::Availability => error_metric,
                    SloKind::Latency { .. } => latency_metric,
                };
                let sql = format!(
                    "SELECT {svc} AS service, {slo} AS slo, 1 - CAST({bad} AS DOUBLE) / ({} * \
                     greatest(sum(CASE WHEN name = {} THEN 1 ELSE 0 END), 1)) AS budget_remaining \
                     FROM metrics WHERE service = {svc} AND ts >= now() - INTERVAL '{} minutes'",
                    1.0 - s.objective,
                    q(total_name),
                    self.cfg.period_min,
                    svc = q(&s.service),
                    slo = q(&s.name),
                );
                (s.name.clone(), sql)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> SloTracker {
        SloTracker::new(SloConfig::new(vec![
            Slo {
                name: "api-avail".into(),
                service: "api".into(),
                objective: 0.999,
                kind: SloKind::Availability,
            },
            Slo {
                name: "api-lat".into(),
                service: "api".into(),
                objective: 0.99,
                kind: SloKind::Latency {
                    threshold_ms: 300.0,
                },
            },
        ]))
        .unwrap()
    }

    /// Feeds `minutes` minutes from minute `from` at 1000 req/min with `bad` failures per minute.
    fn feed(t: &mut SloTracker, from: i64, minutes: i64, bad: u64) -> Vec<BurnAlert> {
        let mut alerts = Vec::new();
        for m in from..from + minutes {
            t.observe("api-avail", m * MINUTE_NS, 1000 - bad, 1000);
            alerts.extend(t.advance((m + 1) * MINUTE_NS));
        }
        alerts
    }

    #[test]
    fn fast_burn_pages_slow_burn_tickets_none_when_healthy() {
        let mut t = tracker();
        assert!(feed(&mut t, 0, 4320, 0).is_empty());
        // 2 % errors = burn 20× a 0.1 % budget: the 1h/5m pair pages within the hour.
        let a = feed(&mut t, 4320, 60, 20);
        let page: Vec<_> = a.iter().filter(|a| a.long_window_min == 60).collect();
        assert_eq!(page.len(), 1, "{a:?}");
        assert_eq!(page[0].severity, Severity::Page);
        assert!(page[0].burn_rate_short > 14.4 && page[0].burn_rate_long > 14.4);
        // 1h window needs 14.4 × 0.1 % × 60 = 0.864 bad minutes-equivalent; at 2 % per
        // minute it crosses 14.4 after 44 minutes (20×m/60 > 14.4).
        assert_eq!(page[0].ts_ns, (4320 + 44) * MINUTE_NS);

        let mut t = tracker();
        feed(&mut t, 0, 4320, 0);
        // 0.4 % errors = burn 4×: too slow to page, fires the 1d/2h ticket.
        let a = feed(&mut t, 4320, 1440, 4);
        assert!(a.iter().all(|a| a.severity == Severity::Ticket), "{a:?}");
        assert!(a.iter().any(|a| a.long_window_min == 1440));
        assert!(
            !a.iter()
                .any(|a| a.long_window_min == 60 || a.long_window_min == 360)
        );
    }

    #[test]
    fn short_window_gates_recovery() {
        let mut t = tracker();
        feed(&mut t, 0, 100, 0);
        // A burst then recovery: after recovery, the 5-minute window is clean so the
        // page pair stops firing, and a second burst fires it again (rising edge).
        let a1 = feed(&mut t, 100, 30, 500);
        assert_eq!(a1.iter().filter(|a| a.long_window_min == 60).count(), 1);
        let a2 = feed(&mut t, 130, 10, 0);
        assert!(a2.iter().all(|a| a.long_window_min != 60));
        let a3 = feed(&mut t, 140, 5, 500);
        assert_eq!(
            a3.iter().filter(|a| a.long_window_min == 60).count(),
            1,
            "{a3:?}"
        );
    }

    #[test]
    fn budget_math() {
        let mut t = tracker();
        // 1,000,000 requests, 500 bad: budget 1000 bad, half spent.
        feed(&mut t, 0, 500, 1);
        feed(&mut t, 500, 500, 0);
        let r = t.budget_remaining_slo("api-avail").unwrap();
        assert!((r - 0.5).abs() < 1e-9, "{r}");
        // Latency SLO got no data: untouched.
        assert_eq!(t.budget_remaining_slo("api-lat"), Some(1.0));
        assert!((t.budget_remaining("api").unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(t.budget_remaining("nope"), None);
        // Latency classification through observe_request.
        t.observe_request("api", 1000 * MINUTE_NS, 500.0, false);
        t.observe_request("api", 1000 * MINUTE_NS, 100.0, false);
        t.advance(1001 * MINUTE_NS);
        let r = t.budget_remaining_slo("api-lat").unwrap();
        assert!((r - (1.0 - 0.5 / 0.01)).abs() < 1e-9, "{r}");
        assert_eq!(t.budget_sql("request_latency_ms", "request_error").len(), 2);
    }

    #[test]
    fn ring_is_bounded_and_forgets_old_minutes() {
        let mut cfg = SloConfig::new(vec![Slo {
            name: "s".into(),
            service: "x".into(),
            objective: 0.99,
            kind: SloKind::Availability,
        }]);
        cfg.period_min = 100;
        cfg.pairs.retain(|p| p.long_min <= 100);
        let mut t = SloTracker::new(cfg).unwrap();
        t.observe("s", 0, 0, 100);
        t.advance(MINUTE_NS);
        assert!(t.budget_remaining_slo("s").unwrap() < 0.0);
        t.observe("s", 200 * MINUTE_NS, 100, 100);
        t.advance(201 * MINUTE_NS);
        assert_eq!(t.budget_remaining_slo("s"), Some(1.0));
        assert_eq!(t.rings["s"].slots.len(), 100);
    }

    #[test]
    fn snapshot_roundtrip() {
        let mut t = tracker();
        feed(&mut t, 0, 10, 3);
        let s = serde_json::to_string(&t).unwrap();
        let back: SloTracker = serde_json::from_str(&s).unwrap();
        assert_eq!(back.budget_remaining("api"), t.budget_remaining("api"));
    }
}
