//! Prints predicted incidents that mix ground-truth groups and truth groups
//! split over several incidents, for a seed: `cargo run --release --example
//! grouping_errors -- SEED`.

use std::collections::{BTreeMap, HashMap};

use tocsin_incidents::dedup::Dedup;
use tocsin_incidents::scenario::{BASE_NS, ScenarioConfig, generate};
use tocsin_incidents::{AlertStatus, Correlator, CorrelatorConfig};

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let sc = generate(&ScenarioConfig {
        seed,
        hours: 24.0,
        ..ScenarioConfig::default()
    });
    let cfg = CorrelatorConfig {
        topology: sc.topology.clone(),
        ..CorrelatorConfig::default()
    };
    let mut c = Correlator::new(cfg);
    let mut d = Dedup::new();
    let truth: HashMap<(String, i64), String> = sc
        .truth
        .instances
        .iter()
        .map(|i| ((i.fingerprint.clone(), i.starts_at_ns), i.group.clone()))
        .collect();
    let mut by_pred: BTreeMap<String, Vec<(i64, String, String)>> = BTreeMap::new();
    let mut by_truth: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in &sc.alerts {
        let svc = l.labels.get("service").cloned().unwrap_or_default();
        if sc.truth.silenced(&svc, l.starts_at_ns) {
            continue;
        }
        let Some(s) = d.push(l) else { continue };
        c.advance(s.ts_ns);
        c.observe_alert(&s);
        if s.status != AlertStatus::Firing {
            continue;
        }
        let id = c.incident_of(&s.fingerprint).unwrap_or("none").to_string();
        let g = truth
            .get(&(s.fingerprint.clone(), s.ts_ns))
            .cloned()
            .unwrap_or_default();
        let minute = (s.ts_ns - BASE_NS) / 60_000_000_000;
        by_pred.entry(id.clone()).or_default().push((
            minute,
            g.clone(),
            format!("{}:{}", s.service, s.severity),
        ));
        by_truth.entry(g).or_default().push(id);
    }
    for (id, v) in &by_pred {
        let mut groups: Vec<&String> = v.iter().map(|x| &x.1).collect();
        groups.sort();
        groups.dedup();
        if groups.len() > 1 {
            println!("MIXED {id}: {v:?}");
        }
    }
    for (g, ids) in &mut by_truth {
        ids.sort();
        ids.dedup();
        if ids.len() > 1 {
            println!("SPLIT {g}: {ids:?}");
        }
    }
}
