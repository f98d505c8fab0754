//! A minimal stand-in for the lifecycle/dedup stage (built elsewhere), used
//! by the benchmark only: Prometheus-style re-sent alert lines become one
//! `Firing` and one `Resolved` signal per alert instance.

use std::collections::HashMap;

use crate::hash::fingerprint;
use crate::scenario::AlertLine;
use crate::types::{AlertSignal, AlertStatus};

/// Tracks which fingerprints are firing.
#[derive(Debug, Default)]
pub struct Dedup {
    active: HashMap<String, ()>,
}

impl Dedup {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns one raw line into a signal when it changes the instance state
    /// (first firing line, resolved line); repeats yield `None`.
    pub fn push(&mut self, line: &AlertLine) -> Option<AlertSignal> {
        let fp = fingerprint(&line.labels);
        let firing = line.status == "firing";
        let was = self.active.contains_key(&fp);
        if firing == was {
            return None;
        }
        if firing {
            self.active.insert(fp.clone(), ());
        } else {
            self.active.remove(&fp);
        }
        let get = |k: &str| line.labels.get(k).cloned().unwrap_or_default();
        Some(AlertSignal {
            ts_ns: line.ts_ns,
            fingerprint: fp,
            status: if firing {
                AlertStatus::Firing
            } else {
                AlertStatus::Resolved
            },
            service: get("service"),
            severity: get("severity"),
            alertname: get("alertname"),
            labels: line.labels.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn line(ts: i64, status: &str) -> AlertLine {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".to_string(), "X".to_string());
        labels.insert("service".to_string(), "s".to_string());
        labels.insert("severity".to_string(), "error".to_string());
        AlertLine {
            ts_ns: ts,
            status: status.into(),
            labels,
            summary: String::new(),
            starts_at_ns: 0,
            ends_at_ns: None,
        }
    }

    #[test]
    fn resends_collapse_to_one_signal_per_transition() {
        let mut d = Dedup::new();
        let out: Vec<_> = [
            line(0, "firing"),
            line(60, "firing"),
            line(120, "resolved"),
            line(130, "resolved"),
            line(200, "firing"),
        ]
        .iter()
        .filter_map(|l| d.push(l))
        .map(|s| (s.ts_ns, s.status))
        .collect();
        assert_eq!(
            out,
            vec![
                (0, AlertStatus::Firing),
                (120, AlertStatus::Resolved),
                (200, AlertStatus::Firing)
            ]
        );
    }
}
