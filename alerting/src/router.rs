//! The routing tree: which routes (receiver, grouping, timings) an alert goes to.

use crate::config::{GroupBy, Route, RouteTimings};
use crate::matcher::{Labels, all_match};

/// One route an alert was matched to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    /// Stable route id (Alertmanager-style matcher path plus sibling index).
    pub route_id: String,
    /// Index of the route in the router's flattened tree (stable for a given config).
    pub route_index: usize,
    /// Receiver name.
    pub receiver: String,
    /// Grouping labels.
    pub group_by: GroupBy,
    /// Timings.
    pub timings: RouteTimings,
    /// Mute interval names.
    pub mute_time_intervals: Vec<String>,
    /// Active interval names.
    pub active_time_intervals: Vec<String>,
}

#[derive(Clone, Debug)]
struct Node {
    route: Route,
    children: Vec<usize>,
}

/// A compiled route tree.
#[derive(Clone, Debug)]
pub struct Router {
    nodes: Vec<Node>,
}

impl Router {
    /// Flattens the route tree (children are kept in order).
    pub fn new(root: &Route) -> Self {
        let mut nodes = Vec::new();
        flatten(root, &mut nodes);
        Self { nodes }
    }

    /// Number of routes in the tree.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree is empty (never true for a router built from a config).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The route with a given flattened index.
    pub fn route_at(&self, i: usize) -> Option<&Route> {
        self.nodes.get(i).map(|n| &n.route)
    }

    /// Matching routes for a label set, Alertmanager semantics: depth first, the
    /// deepest matching routes win, siblings after a match are tried only with
    /// `continue: true`, and a node whose children all miss matches itself.
    /// The root matches every alert.
    pub fn route(&self, labels: &Labels) -> Vec<RouteMatch> {
        let mut out = Vec::new();
        self.route_indices(labels, &mut out);
        out.into_iter()
            .filter_map(|i| self.nodes.get(i).map(|n| (i, &n.route)))
            .map(|(i, r)| RouteMatch {
                route_id: r.id.clone(),
                route_index: i,
                receiver: r.receiver.clone(),
                group_by: r.group_by.clone(),
                timings: r.timings,
                mute_time_intervals: r.mute_time_intervals.clone(),
                active_time_intervals: r.active_time_intervals.clone(),
            })
            .collect()
    }

    /// Like [`Router::route`] but only the flattened route indices (allocation-light hot path).
    pub fn route_indices(&self, labels: &Labels, out: &mut Vec<usize>) {
        if !self.nodes.is_empty() {
            self.match_node(0, labels, out);
        }
    }

    fn match_node(&self, i: usize, labels: &Labels, out: &mut Vec<usize>) -> bool {
        let Some(n) = self.nodes.get(i) else {
            return false;
        };
        if !all_match(&n.route.matchers, labels) {
            return false;
        }
        let before = out.len();
        for &c in &n.children {
            let matched = self.match_node(c, labels, out);
            let cont = self
                .nodes
                .get(c)
                .is_some_and(|cn| cn.route.continue_matching);
            if matched && !cont {
                break;
            }
        }
        if out.len() == before {
            out.push(i);
        }
        true
    }
}

fn flatten(r: &Route, nodes: &mut Vec<Node>) -> usize {
    let idx = nodes.len();
    let mut shallow = r.clone();
    shallow.routes = Vec::new();
    nodes.push(Node {
        route: shallow,
        children: Vec::new(),
    });
    let kids: Vec<usize> = r.routes.iter().map(|c| flatten(c, nodes)).collect();
    if let Some(n) = nodes.get_mut(idx) {
        n.children = kids;
    }
    idx
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

    const YAML: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['team="db"']
      receiver: db
      group_interval: 1m
      routes:
        - matchers: ['severity="critical"']
          receiver: db-pager
          continue: true
        - matchers: ['severity=~"critical|warning"']
          receiver: db-ticket
          group_by: ['...']
    - matchers: ['team="db"']
      receiver: never
    - match_re: {service: 'check.*'}
      receiver: shop
      continue: true
    - match: {env: prod}
      receiver: prod
receivers: [{name: default}, {name: db}, {name: db-pager}, {name: db-ticket}, {name: never}, {name: shop}, {name: prod}]
"#;

    fn receivers(r: &Router, l: &Labels) -> Vec<String> {
        r.route(l).into_iter().map(|m| m.receiver).collect()
    }

    #[test]
    fn continue_and_fallback() {
        let cfg = AlertmanagerConfig::from_yaml(YAML).unwrap();
        let r = Router::new(&cfg.route);
        assert_eq!(r.len(), 7);
        // continue on the first child lets the second child match too.
        assert_eq!(
            receivers(&r, &labels(&[("team", "db"), ("severity", "critical")])),
            vec!["db-pager", "db-ticket"]
        );
        // no child matches: the parent itself matches; the later team=db sibling is not reached.
        assert_eq!(
            receivers(&r, &labels(&[("team", "db"), ("severity", "info")])),
            vec!["db"]
        );
        // continue on shop lets prod match as well.
        assert_eq!(
            receivers(&r, &labels(&[("service", "checkout"), ("env", "prod")])),
            vec!["shop", "prod"]
        );
        // nothing matches: root.
        assert_eq!(receivers(&r, &labels(&[("x", "y")])), vec!["default"]);
    }

    #[test]
    fn inheritance_of_settings() {
        let cfg = AlertmanagerConfig::from_yaml(YAML).unwrap();
        let r = Router::new(&cfg.route);
        let m = r.route(&labels(&[("team", "db"), ("severity", "critical")]));
        // group_by and group_wait from the root, group_interval from the db parent.
        assert_eq!(m[0].group_by, GroupBy::Labels(vec!["alertname".into()]));
        assert_eq!(m[0].timings.group_wait.as_ns(), 10_000_000_000);
        assert_eq!(m[0].timings.group_interval.as_ns(), 60_000_000_000);
        assert_eq!(
            m[0].timings.repeat_interval.as_ns(),
            4 * 3600 * 1_000_000_000
        );
        assert_eq!(m[1].group_by, GroupBy::All);
        assert_eq!(m[0].route_id, r#"{}/{team="db"}/0/{severity="critical"}/0"#);
        assert_eq!(
            m[1].route_id,
            r#"{}/{team="db"}/0/{severity=~"critical|warning"}/1"#
        );
    }
}
