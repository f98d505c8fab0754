//! Routing rules: which sinks get which decisions (`[[sinks.route]]`).
//!
//! Rules are tried in order, like an Alertmanager route tree flattened: the
//! first rule whose matchers all hold selects its sinks, and the walk stops
//! there unless the rule says `continue = true`. A decision no rule matches
//! goes to `[sinks] default_sinks`, or to every sink when that is not set,
//! so nothing is dropped silently. Without any rule every sink gets every
//! decision (each sink still applies its own kind filter, e.g. action sinks
//! only act on rollbacks).

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use tocsin_processors::{Decision, Severity};

/// One routing rule.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RouteRule {
    /// Decision kinds (`incident`, `rollback`, `patch`, ...); empty: any.
    pub kinds: Vec<String>,
    /// Actions (`open`, `update`, `resolve`); empty: any.
    pub actions: Vec<String>,
    /// Only decisions at least this severe.
    pub min_severity: Option<Severity>,
    /// Glob patterns over the decision's target (the service); empty: any.
    pub services: Vec<String>,
    /// Label matchers: the key is looked up in `evidence.labels`, then at the
    /// top of `evidence`; the value is a glob. A missing label never matches.
    pub labels: BTreeMap<String, String>,
    /// The sinks (by name) that get matching decisions.
    pub sinks: Vec<String>,
    /// Keep trying later rules after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
}

/// A routing rule could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// A glob does not parse.
    #[error("route {rule}: bad pattern `{pattern}`: {source}")]
    BadGlob {
        /// Index of the rule.
        rule: usize,
        /// The pattern.
        pattern: String,
        /// Why.
        source: globset::Error,
    },
    /// A rule names a sink that does not exist.
    #[error("route {rule}: no sink is named `{sink}` (sinks: {known})")]
    UnknownSink {
        /// Index of the rule.
        rule: usize,
        /// The name.
        sink: String,
        /// The configured names.
        known: String,
    },
    /// A rule names no sink.
    #[error("route {rule}: `sinks` is empty")]
    NoSinks {
        /// Index of the rule.
        rule: usize,
    },
}

#[derive(Debug)]
struct CompiledRule {
    kinds: Vec<String>,
    actions: Vec<String>,
    min_severity: Option<Severity>,
    services: Vec<GlobMatcher>,
    labels: Vec<(String, GlobMatcher)>,
    sinks: Vec<String>,
    continue_matching: bool,
}

/// Compiled routing rules.
#[derive(Debug, Default)]
pub struct Routing {
    rules: Vec<CompiledRule>,
    default_sinks: Option<Vec<String>>,
}

fn glob(rule: usize, pattern: &str) -> Result<GlobMatcher, RoutingError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|source| RoutingError::BadGlob {
            rule,
            pattern: pattern.to_owned(),
            source,
        })
}

fn label<'a>(evidence: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    evidence
        .get("labels")
        .and_then(|l| l.get(key))
        .or_else(|| evidence.get(key))
        .and_then(|v| v.as_str())
}

impl CompiledRule {
    fn matches(&self, d: &Decision) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == d.kind.as_str()))
            && (self.actions.is_empty() || self.actions.iter().any(|a| a == d.action.as_str()))
            && self.min_severity.is_none_or(|m| d.severity >= m)
            && (self.services.is_empty() || self.services.iter().any(|g| g.is_match(&d.target)))
            && self
                .labels
                .iter()
                .all(|(k, g)| label(&d.evidence, k).is_some_and(|v| g.is_match(v)))
    }
}

impl Routing {
    /// Compiles `rules`, checking every sink name against `sink_names`.
    pub fn new(
        rules: &[RouteRule],
        default_sinks: Option<Vec<String>>,
        sink_names: &[&str],
    ) -> Result<Self, RoutingError> {
        let known = |rule: usize, s: &String| {
            if sink_names.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(RoutingError::UnknownSink {
                    rule,
                    sink: s.clone(),
                    known: sink_names.join(", "),
                })
            }
        };
        let mut compiled = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.sinks.is_empty() {
                return Err(RoutingError::NoSinks { rule: i });
            }
            for s in &r.sinks {
                known(i, s)?;
            }
            compiled.push(CompiledRule {
                kinds: r.kinds.clone(),
                actions: r.actions.clone(),
                min_severity: r.min_severity,
                services: r
                    .services
                    .iter()
                    .map(|p| glob(i, p))
                    .collect::<Result<_, _>>()?,
                labels: r
                    .labels
                    .iter()
                    .map(|(k, p)| Ok((k.clone(), glob(i, p)?)))
                    .collect::<Result<_, RoutingError>>()?,
                sinks: r.sinks.clone(),
                continue_matching: r.continue_matching,
            });
        }
        if let Some(d) = &default_sinks {
            for s in d {
                known(rules.len(), s)?;
            }
        }
        Ok(Routing {
            rules: compiled,
            default_sinks,
        })
    }

    /// Whether `sink` gets `decision`.
    pub fn routes_to(&self, sink: &str, decision: &Decision) -> bool {
        let mut matched = false;
        for r in &self.rules {
            if r.matches(decision) {
                matched = true;
                if r.sinks.iter().any(|s| s == sink) {
                    return true;
                }
                if !r.continue_matching {
                    return false;
                }
            }
        }
        if matched {
            return false;
        }
        match &self.default_sinks {
            Some(d) => d.iter().any(|s| s == sink),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(kind: &str, severity: &str, target: &str) -> Decision {
        serde_json::from_value(serde_json::json!({
            "ts": "2026-11-26T08:30:00Z", "id": "k#open", "kind": kind, "action": "open",
            "target": target, "severity": severity, "reason": "r",
            "evidence": {"labels": {"team": "payments"}, "env": "prod"}, "evidence_sql": "",
            "dedup_key": "k", "confidence": 1.0, "processor": "p"
        }))
        .unwrap()
    }

    fn rules(toml_text: &str) -> Vec<RouteRule> {
        #[derive(Deserialize)]
        struct W {
            route: Vec<RouteRule>,
        }
        toml::from_str::<W>(toml_text).unwrap().route
    }

    const NAMES: &[&str] = &["pd", "slack", "tickets"];

    #[test]
    fn first_match_wins_unless_continue() {
        let r = Routing::new(
            &rules(
                r#"
                [[route]]
                kinds = ["incident"]
                min_severity = "error"
                labels = { team = "pay*" }
                sinks = ["pd"]
                continue = true
                [[route]]
                kinds = ["incident"]
                sinks = ["slack"]
                [[route]]
                kinds = ["patch"]
                services = ["registry/*"]
                sinks = ["tickets"]
                "#,
            ),
            Some(vec!["slack".into()]),
            NAMES,
        )
        .unwrap();
        let crit = decision("incident", "critical", "checkout");
        assert!(r.routes_to("pd", &crit) && r.routes_to("slack", &crit));
        assert!(!r.routes_to("tickets", &crit));
        let warn = decision("incident", "warning", "checkout");
        assert!(!r.routes_to("pd", &warn) && r.routes_to("slack", &warn));
        let patch = decision("patch", "critical", "registry/app:1");
        assert!(r.routes_to("tickets", &patch) && !r.routes_to("pd", &patch));
        // Unmatched: the default sinks.
        let other = decision("patch", "critical", "other");
        assert!(r.routes_to("slack", &other) && !r.routes_to("pd", &other));
        // The env label is found at the top of the evidence.
        let env = Routing::new(
            &rules("[[route]]\nlabels = { env = \"prod\" }\nsinks = [\"pd\"]"),
            None,
            NAMES,
        )
        .unwrap();
        assert!(env.routes_to("pd", &crit) && !env.routes_to("slack", &crit));
    }

    #[test]
    fn no_rules_route_everything_and_errors_are_clear() {
        let r = Routing::new(&[], None, NAMES).unwrap();
        assert!(r.routes_to("tickets", &decision("incident", "info", "x")));
        let e = Routing::new(&rules("[[route]]\nsinks = [\"nope\"]"), None, NAMES).unwrap_err();
        assert!(e.to_string().contains("no sink is named `nope`"), "{e}");
        assert!(
            Routing::new(
                &rules("[[route]]\nservices = [\"[\"]\nsinks = [\"pd\"]"),
                None,
                NAMES
            )
            .is_err()
        );
        assert!(matches!(
            Routing::new(
                &rules("[[route]]\nkinds = [\"incident\"]\nsinks = []"),
                None,
                NAMES
            ),
            Err(RoutingError::NoSinks { rule: 0 })
        ));
    }
}
