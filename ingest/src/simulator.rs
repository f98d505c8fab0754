//! A built-in fleet simulator: realistic logs and metrics for a handful of
//! services, with an error-rate incident injected every few minutes.
//!
//! It produces the same JSON lines a shipper would send in tocsin's envelope,
//! so simulated data goes through the real decoders. Output is a pure function
//! of the seed and the tick times, which keeps tests deterministic.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::time::Duration;

use crate::catalog::Table;

/// Configuration of the simulator (`[simulator]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Whether the simulator runs.
    pub enabled: bool,
    /// Services to simulate.
    pub services: Vec<String>,
    /// Log lines per second per service.
    pub log_lines_per_sec: f64,
    /// Requests per second per service (drives the request/error counters).
    pub requests_per_sec: f64,
    /// How often each service reports its metrics.
    #[serde(with = "humantime_serde")]
    pub metrics_interval: Duration,
    /// Share of log lines at error level outside incidents.
    pub base_error_ratio: f64,
    /// Share of log lines and requests failing during an incident.
    pub incident_error_ratio: f64,
    /// When the first incident starts, after the simulator starts.
    #[serde(with = "humantime_serde")]
    pub first_incident_after: Duration,
    /// Time between the starts of consecutive incidents.
    #[serde(with = "humantime_serde")]
    pub incident_every: Duration,
    /// How long an incident lasts.
    #[serde(with = "humantime_serde")]
    pub incident_duration: Duration,
    /// Random seed; the same seed and ticks give the same data.
    pub seed: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            enabled: false,
            services: ["frontend", "checkout", "payments", "catalog", "auth"]
                .map(String::from)
                .to_vec(),
            log_lines_per_sec: 20.0,
            requests_per_sec: 50.0,
            metrics_interval: Duration::from_secs(5),
            base_error_ratio: 0.01,
            incident_error_ratio: 0.4,
            first_incident_after: Duration::from_secs(40),
            incident_every: Duration::from_secs(180),
            incident_duration: Duration::from_secs(60),
            seed: 7,
        }
    }
}

/// One line the simulator emits, for `table`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedLine {
    /// The table the line is meant for.
    pub table: Table,
    /// A JSON line in tocsin's envelope.
    pub line: Vec<u8>,
}

struct ServiceState {
    name: String,
    version: &'static str,
    requests: f64,
    errors: f64,
    log_credit: f64,
}

/// The simulator's state.
pub struct Simulator {
    cfg: SimulatorConfig,
    rng: SmallRng,
    services: Vec<ServiceState>,
    start_ns: i64,
    last_ns: i64,
    next_metrics_ns: i64,
}

const INFO_TEMPLATES: &[&str] = &[
    "GET /api/items/{n} 200 in {ms}ms",
    "user {n} logged in from 10.0.{b}.{b}",
    "cache hit for key {hex}",
    "processed order {n} in {ms}ms",
    "connection pool stats: active={b} idle={b}",
];
const WARN_TEMPLATES: &[&str] = &[
    "slow query on table orders took {ms}ms",
    "retrying request to inventory (attempt {b})",
];
const ERROR_TEMPLATES: &[&str] = &[
    "payment provider timeout after {ms}ms",
    "failed to connect to db-{b}:5432: connection refused",
    "unhandled exception in handler {hex}: index out of range",
];
const VERSIONS: &[&str] = &["1.4.2", "2.0.1", "0.9.7", "3.1.0", "1.0.0"];

const NS: i64 = 1_000_000_000;

impl Simulator {
    /// A simulator whose clock starts at `start_ns` (ns since the epoch).
    pub fn new(cfg: SimulatorConfig, start_ns: i64) -> Self {
        let services = cfg
            .services
            .iter()
            .enumerate()
            .map(|(i, name)| ServiceState {
                name: name.clone(),
                version: VERSIONS[i % VERSIONS.len()],
                requests: 0.0,
                errors: 0.0,
                log_credit: 0.0,
            })
            .collect();
        Simulator {
            rng: SmallRng::seed_from_u64(cfg.seed),
            services,
            start_ns,
            last_ns: start_ns,
            next_metrics_ns: start_ns,
            cfg,
        }
    }

    /// The service with an incident at `t_ns`, if any.
    pub fn incident_at(&self, t_ns: i64) -> Option<&str> {
        let since = t_ns - self.start_ns - self.cfg.first_incident_after.as_nanos() as i64;
        let every = (self.cfg.incident_every.as_nanos() as i64).max(1);
        if since < 0 || self.services.is_empty() {
            return None;
        }
        let k = since / every;
        if since % every >= self.cfg.incident_duration.as_nanos() as i64 {
            return None;
        }
        // A fixed walk through the services, so consecutive incidents hit
        // different services.
        let idx = (k as usize * 2 + 1) % self.services.len();
        Some(&self.services[idx].name)
    }

    /// Everything the fleet emitted between the previous tick and `now_ns`.
    pub fn tick(&mut self, now_ns: i64) -> Vec<SimulatedLine> {
        let mut out = Vec::new();
        if now_ns <= self.last_ns {
            return out;
        }
        let dt = (now_ns - self.last_ns) as f64 / NS as f64;
        let incident = self.incident_at(now_ns).map(str::to_owned);
        for i in 0..self.services.len() {
            let failing = incident.as_deref() == Some(self.services[i].name.as_str());
            let err_ratio = if failing {
                self.cfg.incident_error_ratio
            } else {
                self.cfg.base_error_ratio
            };
            let reqs = self.cfg.requests_per_sec * dt;
            self.services[i].requests += reqs;
            self.services[i].errors += reqs * err_ratio;
            self.services[i].log_credit += self.cfg.log_lines_per_sec * dt;
            let lines = self.services[i].log_credit.floor() as usize;
            self.services[i].log_credit -= lines as f64;
            for j in 0..lines {
                // Spread lines over the tick so timestamps are not all equal.
                let ts =
                    self.last_ns + ((now_ns - self.last_ns) * (j as i64 + 1)) / (lines as i64 + 1);
                let line = self.log_line(i, ts, err_ratio);
                out.push(SimulatedLine {
                    table: Table::Logs,
                    line,
                });
            }
        }
        let interval = (self.cfg.metrics_interval.as_nanos() as i64).max(NS / 10);
        while self.next_metrics_ns <= now_ns {
            let ts = self.next_metrics_ns;
            for i in 0..self.services.len() {
                self.metric_lines(i, ts, &mut out);
            }
            self.next_metrics_ns += interval;
        }
        self.last_ns = now_ns;
        out
    }

    fn log_line(&mut self, i: usize, ts: i64, err_ratio: f64) -> Vec<u8> {
        let r: f64 = self.rng.random();
        let (level, templates) = if r < err_ratio {
            ("error", ERROR_TEMPLATES)
        } else if r < err_ratio + 0.05 {
            ("warn", WARN_TEMPLATES)
        } else {
            ("info", INFO_TEMPLATES)
        };
        let template = templates[self.rng.random_range(0..templates.len())];
        let message = self.fill(template);
        let svc = &self.services[i];
        let host = format!("{}-{}", svc.name, self.rng.random_range(0..2));
        let trace: u64 = self.rng.random();
        serde_json::json!({
            "ts": ts,
            "service": svc.name,
            "host": host,
            "env": "prod",
            "version": svc.version,
            "level": level,
            "message": message,
            "trace_id": format!("{trace:016x}"),
            "attributes": {"simulated": "true"},
        })
        .to_string()
        .into_bytes()
    }

    fn metric_lines(&mut self, i: usize, ts: i64, out: &mut Vec<SimulatedLine>) {
        let svc = &self.services[i];
        let host = format!("{}-0", svc.name);
        let failing = self.incident_at(ts) == Some(svc.name.as_str());
        let latency = 40.0 + self.rng.random_range(0.0..15.0) + if failing { 400.0 } else { 0.0 };
        let cpu = 0.3 + self.rng.random_range(0.0..0.2);
        let svc = &self.services[i];
        let samples = [
            ("requests_total", svc.requests.floor(), "counter"),
            ("errors_total", svc.errors.floor(), "counter"),
            ("latency_p95_ms", latency, "gauge"),
            ("cpu_usage", cpu, "gauge"),
        ];
        for (name, value, kind) in samples {
            let line = serde_json::json!({
                "ts": ts,
                "name": name,
                "value": value,
                "kind": kind,
                "service": svc.name,
                "host": host,
                "env": "prod",
                "version": svc.version,
                "labels": {"simulated": "true"},
            })
            .to_string()
            .into_bytes();
            out.push(SimulatedLine {
                table: Table::Metrics,
                line,
            });
        }
    }

    fn fill(&mut self, template: &str) -> String {
        let mut s = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            s.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            match &rest[start + 1..start + end] {
                "n" => s.push_str(&self.rng.random_range(1000..99999).to_string()),
                "ms" => s.push_str(&self.rng.random_range(1..900).to_string()),
                "b" => s.push_str(&self.rng.random_range(1..255).to_string()),
                "hex" => s.push_str(&format!("{:08x}", self.rng.random::<u32>())),
                other => s.push_str(other),
            }
            rest = &rest[start + end + 1..];
        }
        s.push_str(rest);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimulatorConfig {
        SimulatorConfig {
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn same_seed_and_ticks_give_the_same_lines() {
        let mut a = Simulator::new(cfg(), 0);
        let mut b = Simulator::new(cfg(), 0);
        for t in 1..20 {
            assert_eq!(a.tick(t * NS / 2), b.tick(t * NS / 2));
        }
    }

    #[test]
    fn emits_logs_and_metrics_at_the_configured_rates() {
        let mut s = Simulator::new(cfg(), 0);
        let lines: Vec<SimulatedLine> = (1..=100).flat_map(|t| s.tick(t * NS / 10)).collect();
        let logs = lines.iter().filter(|l| l.table == Table::Logs).count();
        let metrics = lines.iter().filter(|l| l.table == Table::Metrics).count();
        // 10 s, 5 services, 20 lines/s.
        assert!((990..=1000).contains(&logs), "{logs}");
        // Reports at 0 s, 5 s, 10 s: 3 x 5 services x 4 samples.
        assert_eq!(metrics, 60);
    }

    #[test]
    fn incidents_raise_one_services_error_ratio() {
        let c = cfg();
        let s = Simulator::new(c.clone(), 0);
        let first = c.first_incident_after.as_nanos() as i64;
        assert_eq!(s.incident_at(first - 1), None);
        let victim = s.incident_at(first).unwrap().to_string();
        assert_eq!(
            s.incident_at(first + c.incident_duration.as_nanos() as i64),
            None
        );
        let second = first + c.incident_every.as_nanos() as i64;
        assert_ne!(s.incident_at(second).unwrap(), victim);

        let mut s = Simulator::new(c, 0);
        let mut errors = 0;
        let mut total = 0;
        for t in 0..600 {
            let now = first + t * NS / 10;
            for l in s.tick(now) {
                let text = String::from_utf8(l.line).unwrap();
                if l.table == Table::Logs && text.contains(&format!("\"service\":\"{victim}\"")) {
                    total += 1;
                    errors += usize::from(text.contains("\"level\":\"error\""));
                }
            }
        }
        let ratio = errors as f64 / total as f64;
        assert!(ratio > 0.25 && ratio < 0.55, "{ratio}");
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use crate::{DecodeLimits, Lineage, TableBuilder, decode_message, decoder_for};

    #[test]
    fn every_simulated_line_decodes() {
        // 2026-11-26T08:30:00Z: timestamps in ns of today's dates.
        let start = 1_795_681_800 * NS;
        let mut sim = Simulator::new(
            SimulatorConfig {
                enabled: true,
                ..Default::default()
            },
            start,
        );
        let limits = DecodeLimits::default();
        let mut n = 0;
        for t in 1..=200 {
            for l in sim.tick(start + t * NS / 10) {
                let d = decoder_for(l.table, "json", limits).unwrap();
                let mut b = TableBuilder::for_table(l.table).unwrap();
                let lineage = Lineage {
                    topic: "sim",
                    partition: 0,
                    offset: 0,
                    received_ns: 0,
                };
                decode_message(d.as_ref(), &l.line, &lineage, &limits, &mut b)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&l.line)));
                n += 1;
            }
        }
        assert!(n > 1000);
    }
}
