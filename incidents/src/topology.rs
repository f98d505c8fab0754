//! Service dependency graph.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Serialisable form of a topology: `calls` edges `[caller, callee]` and the
/// user-facing services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopologyConfig {
    /// `[caller, callee]` pairs.
    pub calls: Vec<(String, String)>,
    /// Services users talk to directly.
    pub user_facing: Vec<String>,
}

/// Service dependency graph with services interned to indices so the hot path
/// compares integers.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    names: Vec<String>,
    index: HashMap<String, u32>,
    /// Callees per service index.
    callees: Vec<Vec<u32>>,
    /// Callers per service index.
    callers: Vec<Vec<u32>>,
    user_facing: BTreeSet<String>,
}

impl Topology {
    /// Builds from a config.
    pub fn from_config(cfg: &TopologyConfig) -> Self {
        let mut t = Topology::default();
        for (a, b) in &cfg.calls {
            t.calls(a, b);
        }
        for u in &cfg.user_facing {
            t.user_facing.insert(u.clone());
        }
        t
    }

    /// Back to the serialisable form (edges sorted).
    pub fn to_config(&self) -> TopologyConfig {
        let mut calls = Vec::new();
        for (i, cs) in self.callees.iter().enumerate() {
            for c in cs {
                calls.push((self.names[i].clone(), self.names[*c as usize].clone()));
            }
        }
        calls.sort();
        TopologyConfig {
            calls,
            user_facing: self.user_facing.iter().cloned().collect(),
        }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        self.callees.push(Vec::new());
        self.callers.push(Vec::new());
        i
    }

    /// Adds the edge `caller` → `callee` (a call dependency; failures of the
    /// callee propagate to the caller).
    pub fn calls(&mut self, caller: &str, callee: &str) {
        let a = self.intern(caller);
        let b = self.intern(callee);
        if a != b && !self.callees[a as usize].contains(&b) {
            self.callees[a as usize].push(b);
            self.callers[b as usize].push(a);
        }
    }

    /// Marks a service as user-facing.
    pub fn set_user_facing(&mut self, service: &str) {
        self.user_facing.insert(service.to_string());
    }

    /// Whether the service is user-facing.
    pub fn is_user_facing(&self, service: &str) -> bool {
        self.user_facing.contains(service)
    }

    /// Index of a known service.
    pub fn id(&self, service: &str) -> Option<u32> {
        self.index.get(service).copied()
    }

    /// Name of a service index.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Number of known services.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no service is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Direct callees of a service.
    pub fn callees_of(&self, id: u32) -> &[u32] {
        &self.callees[id as usize]
    }

    /// Direct callers of a service.
    pub fn callers_of(&self, id: u32) -> &[u32] {
        &self.callers[id as usize]
    }

    /// For each service, the services within `max_hops` edges in either
    /// direction (sorted), which is what grouping asks of the graph.
    pub fn neighbourhoods(&self, max_hops: u32) -> Vec<Vec<u32>> {
        let n = self.names.len();
        let mut out = Vec::with_capacity(n);
        let mut dist = vec![u32::MAX; n];
        for s in 0..n {
            let mut seen = Vec::new();
            let mut q = VecDeque::new();
            dist[s] = 0;
            q.push_back(s as u32);
            seen.push(s as u32);
            while let Some(u) = q.pop_front() {
                let d = dist[u as usize];
                if d == max_hops {
                    continue;
                }
                for v in self.callees[u as usize]
                    .iter()
                    .chain(&self.callers[u as usize])
                {
                    if dist[*v as usize] == u32::MAX {
                        dist[*v as usize] = d + 1;
                        seen.push(*v);
                        q.push_back(*v);
                    }
                }
            }
            for v in &seen {
                dist[*v as usize] = u32::MAX;
            }
            seen.sort_unstable();
            out.push(seen);
        }
        out
    }

    /// For each service, the services it depends on (reaches through callees)
    /// within `max_hops` edges (sorted).
    pub fn dependencies_within(&self, max_hops: u32) -> Vec<Vec<u32>> {
        let n = self.names.len();
        let mut out = Vec::with_capacity(n);
        for s in 0..n {
            let mut seen: Vec<u32> = Vec::new();
            let mut frontier = vec![s as u32];
            for _ in 0..max_hops {
                let mut next = Vec::new();
                for u in frontier {
                    for v in &self.callees[u as usize] {
                        if *v as usize != s && !seen.contains(v) {
                            seen.push(*v);
                            next.push(*v);
                        }
                    }
                }
                frontier = next;
            }
            seen.sort_unstable();
            out.push(seen);
        }
        out
    }

    /// Whether `a` transitively calls `b` (b is a dependency of a).
    pub fn depends_on(&self, a: u32, b: u32) -> bool {
        let mut seen = vec![false; self.names.len()];
        let mut stack = vec![a];
        while let Some(u) = stack.pop() {
            for v in &self.callees[u as usize] {
                if *v == b {
                    return true;
                }
                if !seen[*v as usize] {
                    seen[*v as usize] = true;
                    stack.push(*v);
                }
            }
        }
        false
    }

    /// Learns undirected "related" edges from co-occurrence: services whose
    /// alerts start within `window_ns` of each other in at least `min_count`
    /// episodes and in at least `min_ratio` of the rarer service's episodes.
    /// The direction is unknown, so the learned edge points from the service
    /// that usually alerts later (a dependant) to the earlier one.
    pub fn learn_from_cooccurrence(
        events: &[(i64, String)],
        window_ns: i64,
        min_count: u32,
        min_ratio: f64,
    ) -> TopologyConfig {
        let mut sorted: Vec<&(i64, String)> = events.iter().collect();
        sorted.sort();
        let mut count: BTreeMap<&str, u32> = BTreeMap::new();
        // (earlier, later) -> count
        let mut pair: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        for (i, (t, s)) in sorted.iter().map(|e| (e.0, e.1.as_str())).enumerate() {
            *count.entry(s).or_default() += 1;
            let mut seen_here = BTreeSet::new();
            for (t2, s2) in sorted[i + 1..].iter().map(|e| (e.0, e.1.as_str())) {
                if t2 - t > window_ns {
                    break;
                }
                if s2 != s && seen_here.insert(s2) {
                    *pair.entry((s, s2)).or_default() += 1;
                }
            }
        }
        let mut calls = Vec::new();
        let mut done = BTreeSet::new();
        for (&(a, b), &n_ab) in &pair {
            let key = if a < b { (a, b) } else { (b, a) };
            if !done.insert(key) {
                continue;
            }
            let n_ba = pair.get(&(b, a)).copied().unwrap_or(0);
            let n = n_ab + n_ba;
            let rarer = count[a].min(count[b]).max(1);
            if n >= min_count && f64::from(n) / f64::from(rarer) >= min_ratio {
                if n_ab >= n_ba {
                    calls.push((b.to_string(), a.to_string()));
                } else {
                    calls.push((a.to_string(), b.to_string()));
                }
            }
        }
        TopologyConfig {
            calls,
            user_facing: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbourhoods_respect_hops_both_directions() {
        let mut t = Topology::default();
        t.calls("a", "b");
        t.calls("b", "c");
        t.calls("c", "d");
        let n1 = t.neighbourhoods(1);
        let b = t.id("b").unwrap();
        let mut names: Vec<&str> = n1[b as usize].iter().map(|i| t.name(*i)).collect();
        names.sort();
        assert_eq!(names, vec!["a", "b", "c"]);
        let n2 = t.neighbourhoods(2);
        let a = t.id("a").unwrap();
        assert_eq!(n2[a as usize].len(), 3);
        assert!(t.depends_on(a, t.id("d").unwrap()));
        assert!(!t.depends_on(t.id("d").unwrap(), a));
    }

    #[test]
    fn learns_cooccurring_pairs_only() {
        let s = 1_000_000_000i64;
        let mut ev = Vec::new();
        for k in 0..5 {
            ev.push((k * 3600 * s, "db".to_string()));
            ev.push((k * 3600 * s + 60 * s, "api".to_string()));
            ev.push((k * 3600 * s + 1800 * s, format!("noise{k}")));
        }
        let cfg = Topology::learn_from_cooccurrence(&ev, 300 * s, 3, 0.6);
        assert_eq!(cfg.calls, vec![("api".to_string(), "db".to_string())]);
    }

    #[test]
    fn config_round_trip() {
        let cfg = TopologyConfig {
            calls: vec![("a".into(), "b".into())],
            user_facing: vec!["a".into()],
        };
        let t = Topology::from_config(&cfg);
        assert_eq!(t.to_config(), cfg);
        assert!(t.is_user_facing("a"));
    }
}
