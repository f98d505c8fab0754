//! Inhibition: firing source alerts mute matching target alerts.

use std::collections::{HashMap, HashSet};

use crate::config::InhibitRule;
use crate::matcher::{Labels, all_match};

/// Evaluates inhibit rules against the set of currently firing alerts.
#[derive(Clone, Debug, Default)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

fn equal_key(rule: &InhibitRule, labels: &Labels) -> Vec<String> {
    rule.equal
        .iter()
        .map(|l| labels.get(l).cloned().unwrap_or_default())
        .collect()
}

impl Inhibitor {
    /// Builds an inhibitor from the config's rules.
    pub fn new(rules: Vec<InhibitRule>) -> Self {
        Self { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &[InhibitRule] {
        &self.rules
    }

    /// Whether `labels` is inhibited by any of `active_firing` (label sets of firing alerts).
    /// As in Alertmanager, an alert matching both sides of a rule cannot inhibit itself
    /// (identity is the label set, which is what Alertmanager's fingerprint hashes).
    pub fn is_inhibited(&self, labels: &Labels, active_firing: &[&Labels]) -> bool {
        self.rules.iter().any(|r| {
            if !all_match(&r.target, labels) {
                return false;
            }
            let both = all_match(&r.source, labels);
            let key = equal_key(r, labels);
            active_firing.iter().any(|s| {
                !(both && *s == labels) && all_match(&r.source, s) && equal_key(r, s) == key
            })
        })
    }

    /// Pre-computes, per rule, which `equal` value tuples have firing sources, so that
    /// checking many targets costs one hash lookup per rule instead of a scan.
    pub fn index<'a>(
        &self,
        active_firing: impl IntoIterator<Item = (u64, &'a Labels)>,
    ) -> InhibitIndex {
        let mut idx = self.empty_index();
        for (fp, l) in active_firing {
            self.index_add(&mut idx, fp, l);
        }
        idx
    }

    /// An index with no sources.
    pub fn empty_index(&self) -> InhibitIndex {
        InhibitIndex {
            per_rule: vec![HashMap::new(); self.rules.len()],
        }
    }

    /// Records a firing alert in the index (incremental maintenance).
    pub fn index_add(&self, idx: &mut InhibitIndex, fp: u64, labels: &Labels) {
        for (r, m) in self.rules.iter().zip(idx.per_rule.iter_mut()) {
            if all_match(&r.source, labels) {
                m.entry(equal_key(r, labels)).or_default().insert(fp);
            }
        }
    }

    /// Removes an alert that stopped firing from the index; `labels` must be the labels it was added with.
    pub fn index_remove(&self, idx: &mut InhibitIndex, fp: u64, labels: &Labels) {
        for (r, m) in self.rules.iter().zip(idx.per_rule.iter_mut()) {
            if all_match(&r.source, labels) {
                let k = equal_key(r, labels);
                if let Some(set) = m.get_mut(&k) {
                    set.remove(&fp);
                    if set.is_empty() {
                        m.remove(&k);
                    }
                }
            }
        }
    }

    /// Whether the alert (`fp`, `labels`) is inhibited according to an index.
    pub fn is_inhibited_indexed(&self, idx: &InhibitIndex, fp: u64, labels: &Labels) -> bool {
        self.rules.iter().zip(&idx.per_rule).any(|(r, m)| {
            if m.is_empty() || !all_match(&r.target, labels) {
                return false;
            }
            match m.get(&equal_key(r, labels)) {
                None => false,
                // A single source that is the alert itself does not count.
                Some(set) => set.len() > 1 || !set.contains(&fp) || !all_match(&r.source, labels),
            }
        })
    }
}

/// Per-rule lookup of firing sources by `equal` values, built by [`Inhibitor::index`]
/// and maintained with [`Inhibitor::index_add`] / [`Inhibitor::index_remove`].
#[derive(Clone, Debug, Default)]
pub struct InhibitIndex {
    per_rule: Vec<HashMap<Vec<String>, HashSet<u64>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertmanagerConfig;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn inhibitor() -> Inhibitor {
        let cfg = AlertmanagerConfig::from_yaml(
            r#"
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"warning|critical"']
    equal: [cluster, service]
"#,
        )
        .unwrap();
        Inhibitor::new(cfg.inhibit_rules)
    }

    #[test]
    fn equal_labels_required() {
        let inh = inhibitor();
        let src = labels(&[
            ("severity", "critical"),
            ("cluster", "a"),
            ("service", "x"),
            ("alertname", "Down"),
        ]);
        let same = labels(&[("severity", "warning"), ("cluster", "a"), ("service", "x")]);
        let other = labels(&[("severity", "warning"), ("cluster", "b"), ("service", "x")]);
        assert!(inh.is_inhibited(&same, &[&src]));
        assert!(!inh.is_inhibited(&other, &[&src]));
        assert!(!inh.is_inhibited(&same, &[]));
        let idx = inh.index([(1u64, &src)]);
        assert!(inh.is_inhibited_indexed(&idx, 2, &same));
        assert!(!inh.is_inhibited_indexed(&idx, 3, &other));
    }

    #[test]
    fn cannot_inhibit_itself_but_peer_can() {
        let inh = inhibitor();
        let a = labels(&[
            ("severity", "critical"),
            ("cluster", "a"),
            ("service", "x"),
            ("alertname", "A"),
        ]);
        let b = labels(&[
            ("severity", "critical"),
            ("cluster", "a"),
            ("service", "x"),
            ("alertname", "B"),
        ]);
        assert!(!inh.is_inhibited(&a, &[&a]));
        assert!(inh.is_inhibited(&a, &[&a, &b]));
        let idx = inh.index([(1u64, &a)]);
        assert!(!inh.is_inhibited_indexed(&idx, 1, &a));
        let idx2 = inh.index([(1u64, &a), (2u64, &b)]);
        assert!(inh.is_inhibited_indexed(&idx2, 1, &a));
    }

    #[test]
    fn missing_equal_labels_count_as_equal() {
        let inh = inhibitor();
        let src = labels(&[("severity", "critical")]);
        let tgt = labels(&[("severity", "warning")]);
        assert!(inh.is_inhibited(&tgt, &[&src]));
    }
}
