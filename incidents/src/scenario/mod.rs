//! Seeded scenario generator with ground truth: a layered service topology,
//! faults cascading to dependants, flapping alerts, background noise,
//! maintenance windows (silenced alerts) and changes, some causing faults.

mod io;

use std::collections::{BTreeMap, HashMap};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::hash::fingerprint;
use crate::topology::TopologyConfig;
use crate::types::ChangeEvent;

pub use io::{read_alert_lines, write_scenario};

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
/// 2026-11-26T00:00:00Z, the fixed scenario start.
pub const BASE_NS: i64 = 1_795_651_200 * S;

/// Generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioConfig {
    /// RNG seed.
    pub seed: u64,
    /// Length of the scenario.
    pub hours: f64,
    /// Mean minutes between faults.
    pub fault_every_min: f64,
    /// Mean minutes between noise alerts.
    pub noise_every_min: f64,
    /// Mean minutes between unrelated changes.
    pub change_every_min: f64,
    /// Probability that an alert of a fault flaps.
    pub flap_prob: f64,
    /// Probability that a fault was caused by a change.
    pub caused_by_change_prob: f64,
    /// Probability that a fault is a node failure (grouped by labels only).
    pub infra_fault_prob: f64,
    /// Probability that a failing service's caller fails too.
    pub cascade_prob: f64,
    /// Mean hours between maintenance windows.
    pub maintenance_every_hours: f64,
    /// Seconds between re-sent firing lines.
    pub resend_s: i64,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            seed: 1,
            hours: 24.0,
            fault_every_min: 45.0,
            noise_every_min: 8.0,
            change_every_min: 20.0,
            flap_prob: 0.15,
            caused_by_change_prob: 0.4,
            infra_fault_prob: 0.1,
            cascade_prob: 0.7,
            maintenance_every_hours: 6.0,
            resend_s: 60,
        }
    }
}

/// One raw alert line as Alertmanager/Prometheus would send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertLine {
    /// Send time.
    pub ts_ns: i64,
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels (alertname, service, severity, …).
    pub labels: BTreeMap<String, String>,
    /// `annotations.summary`.
    pub summary: String,
    /// Start of the alert instance.
    pub starts_at_ns: i64,
    /// End of the instance on the resolved line.
    pub ends_at_ns: Option<i64>,
}

/// Ground truth for one alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthInstance {
    /// Fingerprint of the labels.
    pub fingerprint: String,
    /// Start time of the instance.
    pub starts_at_ns: i64,
    /// End time of the instance.
    pub ends_at_ns: i64,
    /// Group id: an incident id, or a unique noise id.
    pub group: String,
    /// Alert severity.
    pub severity: String,
    /// Covered by a maintenance silence: not scored.
    pub silenced: bool,
}

/// Ground truth for one incident (fault).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthIncident {
    /// Group id used by its instances.
    pub id: String,
    /// `service` (cascading fault) or `infra` (node failure).
    pub kind: String,
    /// The service the fault started on (none for node failures).
    pub root_cause: Option<String>,
    /// The change that caused it.
    pub cause_change: Option<String>,
    /// Fault start.
    pub start_ns: i64,
}

/// A maintenance window; a silence on `service=<service>` covers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Maintenance {
    /// Silenced service.
    pub service: String,
    /// Window start.
    pub start_ns: i64,
    /// Window end.
    pub end_ns: i64,
}

/// All ground truth of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Every alert instance.
    pub instances: Vec<TruthInstance>,
    /// Every fault.
    pub incidents: Vec<TruthIncident>,
    /// Maintenance windows.
    pub maintenance: Vec<Maintenance>,
}

impl Truth {
    /// Whether an alert of `service` starting at `ts_ns` falls under a silence.
    pub fn silenced(&self, service: &str, ts_ns: i64) -> bool {
        self.maintenance
            .iter()
            .any(|m| m.service == service && ts_ns >= m.start_ns && ts_ns < m.end_ns)
    }
}

/// A generated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Service dependency graph.
    pub topology: TopologyConfig,
    /// Raw alert lines, sorted by time.
    pub alerts: Vec<AlertLine>,
    /// Changes, sorted by time.
    pub changes: Vec<ChangeEvent>,
    /// Ground truth.
    pub truth: Truth,
}

struct Spec {
    labels: BTreeMap<String, String>,
    summary: String,
    periods: Vec<(i64, i64)>,
    group: String,
}

struct Gen {
    rng: SmallRng,
    layers: Vec<Vec<String>>,
    callers: HashMap<String, Vec<String>>,
    specs: Vec<Spec>,
    changes: Vec<ChangeEvent>,
    end_ns: i64,
    /// End of the latest fault per affected service.
    failing_until: HashMap<String, i64>,
}

fn exp_gap(rng: &mut SmallRng, mean_min: f64) -> i64 {
    let u: f64 = rng.random_range(1e-9..1.0);
    ((-u.ln() * mean_min * 60.0) as i64).max(1) * S
}

impl Gen {
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.rng.random_range(0..v.len())]
    }

    fn layer_of(&self, svc: &str) -> usize {
        self.layers
            .iter()
            .position(|l| l.iter().any(|s| s == svc))
            .unwrap_or(0)
    }

    fn base_labels(
        &self,
        service: &str,
        alertname: &str,
        severity: &str,
    ) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert("alertname".into(), alertname.into());
        l.insert("service".into(), service.into());
        l.insert("severity".into(), severity.into());
        l.insert("env".into(), "prod".into());
        let layer = ["edge", "api", "core", "data"][self.layer_of(service).min(3)];
        l.insert("team".into(), format!("team-{layer}"));
        l.insert("cluster".into(), "prod-1".into());
        l
    }

    fn change(&mut self, ts: i64, service: &str, kind: &str) -> String {
        let id = format!("chg-{:05}", self.changes.len());
        let version = match kind {
            "flag" => format!(
                "flag-{}={}",
                self.rng.random_range(0..20),
                self.rng.random_bool(0.5)
            ),
            _ => format!(
                "v1.{}.{}",
                self.rng.random_range(0..40),
                self.rng.random_range(0..10)
            ),
        };
        let actor = format!("user{}", self.rng.random_range(0..8));
        self.changes.push(ChangeEvent {
            ts_ns: ts,
            kind: kind.into(),
            service: service.into(),
            env: "prod".into(),
            version,
            actor,
            id: id.clone(),
        });
        id
    }

    /// Splits `[start, end)` into flapping on-periods when chosen to flap.
    fn periods(&mut self, start: i64, end: i64, flap_prob: f64) -> Vec<(i64, i64)> {
        if !self.rng.random_bool(flap_prob) || end - start < 6 * MIN {
            return vec![(start, end)];
        }
        let mut out = Vec::new();
        let mut t = start;
        while t < end {
            let on = self.rng.random_range(1..4) * MIN;
            let e = (t + on).min(end);
            out.push((t, e));
            t = e + self.rng.random_range(1..3) * MIN;
        }
        out
    }

    fn service_fault(&mut self, cfg: &ScenarioConfig, start: i64, group: &str, root: &str) {
        let dur = self.rng.random_range(8..45) * MIN;
        let mut affected: Vec<(String, i64, i64)> = vec![(root.to_string(), start, start + dur)];
        let mut i = 0;
        while i < affected.len() {
            let (svc, s, e) = affected[i].clone();
            let callers = self.callers.get(&svc).cloned().unwrap_or_default();
            for c in callers {
                // A service already failing from another fault shows no new
                // symptom the truth could attribute to this one.
                let busy = self.failing_until.get(&c).is_some_and(|u| *u > s);
                if busy
                    || affected.iter().any(|a| a.0 == c)
                    || !self.rng.random_bool(cfg.cascade_prob)
                {
                    continue;
                }
                let d = self.rng.random_range(30..180) * S;
                let tail = self.rng.random_range(0..180) * S;
                affected.push((c, s + d, e + tail));
            }
            i += 1;
        }
        for (svc, _, e) in &affected {
            let u = self.failing_until.entry(svc.clone()).or_insert(*e);
            *u = (*u).max(*e);
        }
        for (k, (svc, s, e)) in affected.iter().enumerate() {
            let uf = self.layer_of(svc) == 0;
            let n = if k == 0 {
                self.rng.random_range(1..3)
            } else {
                1
            };
            for j in 0..n {
                let (name, sev) = if k == 0 {
                    let names = [
                        "HighErrorRate",
                        "HighLatency",
                        "PodCrashLooping",
                        "SaturationHigh",
                    ];
                    let name = names[(j + self.rng.random_range(0..names.len())) % names.len()];
                    (
                        name,
                        if self.rng.random_bool(0.5) {
                            "critical"
                        } else {
                            "error"
                        },
                    )
                } else {
                    let names = ["UpstreamErrors", "HighLatency", "HighErrorRate"];
                    let name = *self.pick(&names);
                    let sev = if uf && self.rng.random_bool(0.6) {
                        "critical"
                    } else if self.rng.random_bool(0.5) {
                        "error"
                    } else {
                        "warning"
                    };
                    (name, sev)
                };
                let labels = self.base_labels(svc, name, sev);
                let periods = self.periods(*s, *e, cfg.flap_prob);
                self.specs.push(Spec {
                    labels,
                    summary: format!("{name} on {svc}"),
                    periods,
                    group: group.into(),
                });
            }
        }
    }

    fn infra_fault(&mut self, start: i64, group: &str) {
        let node = self.rng.random_range(0..12);
        let zone = ["a", "b", "c"][node % 3];
        let all: Vec<String> = self.layers.iter().flatten().cloned().collect();
        let n = self.rng.random_range(3..6);
        let dur = self.rng.random_range(5..25) * MIN;
        let mut chosen: Vec<String> = Vec::new();
        while chosen.len() < n {
            let s = self.pick(&all).clone();
            if !chosen.contains(&s) {
                chosen.push(s);
            }
        }
        for svc in chosen {
            let name = *self.pick(&["PodNotReady", "KubeNodeNotReady", "PodEvicted"]);
            let mut labels = self.base_labels(&svc, name, "error");
            labels.insert("node".into(), format!("node-{node}"));
            labels.insert("zone".into(), format!("zone-{zone}"));
            let s = start + self.rng.random_range(0..60) * S;
            self.specs.push(Spec {
                labels,
                summary: format!("{name} for {svc} on node-{node}"),
                periods: vec![(s, s + dur)],
                group: group.into(),
            });
        }
    }

    fn noise(&mut self, start: i64, group: &str) {
        let all: Vec<String> = self.layers.iter().flatten().cloned().collect();
        let svc = self.pick(&all).clone();
        let sev = if self.rng.random_bool(0.8) {
            "warning"
        } else {
            "info"
        };
        let name = *self.pick(&[
            "CPUThrottling",
            "DiskSpaceLow",
            "CertExpiringSoon",
            "GCPauseLong",
            "QueueBacklog",
        ]);
        let mut labels = self.base_labels(&svc, name, sev);
        if name == "DiskSpaceLow" {
            let node = self.rng.random_range(0..12);
            labels.insert("node".into(), format!("node-{node}"));
            labels.insert("zone".into(), format!("zone-{}", ["a", "b", "c"][node % 3]));
        }
        let dur = self.rng.random_range(2..15) * MIN;
        self.specs.push(Spec {
            labels,
            summary: format!("{name} on {svc}"),
            periods: vec![(start, start + dur)],
            group: group.into(),
        });
    }
}

fn topology(rng: &mut SmallRng) -> (Vec<Vec<String>>, TopologyConfig) {
    let sizes = [4usize, 8, 10, 8];
    let names = ["edge", "api", "core", "data"];
    let layers: Vec<Vec<String>> = sizes
        .iter()
        .zip(names)
        .map(|(n, p)| (0..*n).map(|i| format!("{p}-{i}")).collect())
        .collect();
    let mut calls = Vec::new();
    for l in 0..layers.len() - 1 {
        let next = &layers[l + 1];
        for svc in &layers[l] {
            let k = rng.random_range(1..3);
            for _ in 0..k {
                let c = next[rng.random_range(0..next.len())].clone();
                calls.push((svc.clone(), c));
            }
            if l + 2 < layers.len() && rng.random_bool(0.3) {
                let nn = &layers[l + 2];
                calls.push((svc.clone(), nn[rng.random_range(0..nn.len())].clone()));
            }
        }
        // Every service below the edge has a caller.
        for callee in next {
            if !calls.iter().any(|(_, b)| b == callee) {
                let caller = layers[l][rng.random_range(0..layers[l].len())].clone();
                calls.push((caller, callee.clone()));
            }
        }
    }
    calls.sort();
    calls.dedup();
    let cfg = TopologyConfig {
        calls,
        user_facing: layers[0].clone(),
    };
    (layers, cfg)
}

/// Generates a scenario; the same config always yields the same scenario.
pub fn generate(cfg: &ScenarioConfig) -> Scenario {
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let (layers, topo) = topology(&mut rng);
    let mut callers: HashMap<String, Vec<String>> = HashMap::new();
    for (a, b) in &topo.calls {
        callers.entry(b.clone()).or_default().push(a.clone());
    }
    let end_ns = BASE_NS + (cfg.hours * 3600.0) as i64 * S;
    let mut g = Gen {
        rng,
        layers,
        callers,
        specs: Vec::new(),
        changes: Vec::new(),
        end_ns,
        failing_until: HashMap::new(),
    };
    let mut truth = Truth::default();
    let all: Vec<String> = g.layers.iter().flatten().cloned().collect();
    let weights = [0.1, 0.2, 0.35, 0.35];
    let mut t = BASE_NS + exp_gap(&mut g.rng, cfg.fault_every_min);
    let mut n = 0;
    while t < g.end_ns - 30 * MIN {
        let id = format!("fault-{n:04}");
        if g.rng.random_bool(cfg.infra_fault_prob) {
            g.infra_fault(t, &id);
            truth.incidents.push(TruthIncident {
                id,
                kind: "infra".into(),
                root_cause: None,
                cause_change: None,
                start_ns: t,
            });
        } else {
            let x: f64 = g.rng.random_range(0.0..1.0);
            let mut acc = 0.0;
            let mut layer = 3;
            for (i, w) in weights.iter().enumerate() {
                acc += w;
                if x < acc {
                    layer = i;
                    break;
                }
            }
            // Independent faults rarely strike a service that is already
            // failing; such overlaps would be indistinguishable, not hard.
            let mut root = String::new();
            for _ in 0..20 {
                let cand = g.layers[layer][g.rng.random_range(0..g.layers[layer].len())].clone();
                if g.failing_until
                    .get(&cand)
                    .is_none_or(|u| *u + 10 * MIN <= t)
                {
                    root = cand;
                    break;
                }
            }
            if root.is_empty() {
                t += exp_gap(&mut g.rng, cfg.fault_every_min);
                continue;
            }
            let cause = if g.rng.random_bool(cfg.caused_by_change_prob) {
                let kind = *g.pick(&["deploy", "deploy", "deploy", "flag", "config"]);
                let before = g.rng.random_range(2..20) * MIN;
                Some(g.change(t - before, &root, kind))
            } else {
                None
            };
            g.service_fault(cfg, t, &id, &root);
            truth.incidents.push(TruthIncident {
                id,
                kind: "service".into(),
                root_cause: Some(root),
                cause_change: cause,
                start_ns: t,
            });
        }
        n += 1;
        t += exp_gap(&mut g.rng, cfg.fault_every_min);
    }
    let mut t = BASE_NS + exp_gap(&mut g.rng, cfg.noise_every_min);
    let mut n = 0;
    while t < g.end_ns - 20 * MIN {
        g.noise(t, &format!("noise-{n:05}"));
        n += 1;
        t += exp_gap(&mut g.rng, cfg.noise_every_min);
    }
    let mut t = BASE_NS + exp_gap(&mut g.rng, cfg.change_every_min);
    while t < g.end_ns {
        let svc = g.pick(&all).clone();
        let kind = *g.pick(&[
            "deploy",
            "deploy",
            "flag",
            "config",
            "migration",
            "infra",
            "rollback",
        ]);
        g.change(t, &svc, kind);
        t += exp_gap(&mut g.rng, cfg.change_every_min);
    }
    let mut t = BASE_NS + exp_gap(&mut g.rng, cfg.maintenance_every_hours * 60.0);
    let mut n = 0;
    while t < g.end_ns - 60 * MIN {
        let svc = g.pick(&all).clone();
        let dur = g.rng.random_range(30..60) * MIN;
        truth.maintenance.push(Maintenance {
            service: svc.clone(),
            start_ns: t,
            end_ns: t + dur,
        });
        // Maintenance itself makes the service alert; a silence covers it.
        let k = g.rng.random_range(1..4);
        for j in 0..k {
            let name = ["TargetDown", "HighErrorRate", "PodCrashLooping"][j % 3];
            let labels = g.base_labels(&svc, name, "critical");
            let s = t + g.rng.random_range(1..10) * MIN;
            g.specs.push(Spec {
                labels,
                summary: format!("{name} on {svc} (maintenance)"),
                periods: vec![(s, (s + g.rng.random_range(5..20) * MIN).min(t + dur))],
                group: format!("maint-{n:03}"),
            });
        }
        n += 1;
        t += exp_gap(&mut g.rng, cfg.maintenance_every_hours * 60.0);
    }
    let (alerts, instances) = render(&g.specs, &truth, cfg.resend_s * S);
    truth.instances = instances;
    let mut changes = g.changes;
    changes.sort_by(|a, b| a.ts_ns.cmp(&b.ts_ns).then_with(|| a.id.cmp(&b.id)));
    Scenario {
        topology: topo,
        alerts,
        changes,
        truth,
    }
}

/// Turns instance specs into re-sent lines; an instance overlapping an
/// earlier one with the same labels is dropped, since the same label set
/// cannot fire twice at once.
fn render(specs: &[Spec], truth: &Truth, resend: i64) -> (Vec<AlertLine>, Vec<TruthInstance>) {
    let mut busy: HashMap<String, i64> = HashMap::new();
    let mut lines = Vec::new();
    let mut inst = Vec::new();
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (i, sp) in specs.iter().enumerate() {
        for (j, p) in sp.periods.iter().enumerate() {
            order.push((p.0, i, j));
        }
    }
    order.sort();
    for (_, i, j) in order {
        let sp = &specs[i];
        let (s, e) = sp.periods[j];
        let fp = fingerprint(&sp.labels);
        if busy.get(&fp).is_some_and(|until| *until >= s) {
            continue;
        }
        busy.insert(fp.clone(), e);
        let svc = sp.labels.get("service").cloned().unwrap_or_default();
        inst.push(TruthInstance {
            fingerprint: fp,
            starts_at_ns: s,
            ends_at_ns: e,
            group: sp.group.clone(),
            severity: sp.labels.get("severity").cloned().unwrap_or_default(),
            silenced: truth.silenced(&svc, s),
        });
        let mut t = s;
        while t < e {
            lines.push(AlertLine {
                ts_ns: t,
                status: "firing".into(),
                labels: sp.labels.clone(),
                summary: sp.summary.clone(),
                starts_at_ns: s,
                ends_at_ns: None,
            });
            t += resend;
        }
        lines.push(AlertLine {
            ts_ns: e,
            status: "resolved".into(),
            labels: sp.labels.clone(),
            summary: sp.summary.clone(),
            starts_at_ns: s,
            ends_at_ns: Some(e),
        });
    }
    // Resolved before firing at equal times so a re-fire starts a new instance.
    lines.sort_by(|a, b| {
        a.ts_ns
            .cmp(&b.ts_ns)
            .then_with(|| (a.status == "firing").cmp(&(b.status == "firing")))
            .then_with(|| a.labels.cmp(&b.labels))
    });
    (lines, inst)
}

#[cfg(test)]
mod tests;
