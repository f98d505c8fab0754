//! Compares a tracker's events with a scenario's ground truth.

use std::collections::HashMap;

use super::Scenario;
use crate::tracker::{PatchEvent, PatchEventKind, dedup_key};

/// Correctness figures; every field but the `*_expected` ones should be 0
/// for a correct tracker (see [`Score::is_perfect`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Score {
    /// Episodes in the truth.
    pub episodes: usize,
    /// Opens that must be emitted (one per episode).
    pub opens_expected: usize,
    /// Episodes never opened.
    pub missed_opens: usize,
    /// Opens beyond the first for an episode.
    pub duplicate_opens: usize,
    /// Fixed episodes (each needs one resolve).
    pub resolves_expected: usize,
    /// Fixed episodes not resolved.
    pub missed_resolves: usize,
    /// Resolves of episodes still open, or more than one per episode.
    pub wrong_resolves: usize,
    /// Breaches that must be emitted.
    pub breaches_expected: usize,
    /// Expected breaches not emitted.
    pub missed_breaches: usize,
    /// Breaches emitted more than once, or for episodes that must not breach.
    pub wrong_breaches: usize,
    /// Breaches carrying a different due time than the truth.
    pub breach_due_mismatches: usize,
    /// Priority rises (one update each).
    pub updates_expected: usize,
    /// Update count differing from the truth.
    pub wrong_updates: usize,
    /// More than one at-risk, or at-risk after breach.
    pub wrong_at_risk: usize,
    /// Events before the open, after the resolve, or with a wrong key.
    pub order_or_key_errors: usize,
    /// Events about (target, CVE) pairs that never existed.
    pub unknown_events: usize,
    /// Final priority differing from the truth (last event per episode).
    pub priority_mismatches: usize,
}

impl Score {
    /// No error of any kind.
    pub fn is_perfect(&self) -> bool {
        self.missed_opens
            + self.duplicate_opens
            + self.missed_resolves
            + self.wrong_resolves
            + self.missed_breaches
            + self.wrong_breaches
            + self.breach_due_mismatches
            + self.wrong_updates
            + self.wrong_at_risk
            + self.order_or_key_errors
            + self.unknown_events
            + self.priority_mismatches
            == 0
    }
}

/// Scores `events` (in emission order) against `s.truth`. Episodes never
/// re-open in generated streams, so (target, CVE) identifies an episode.
pub fn score(s: &Scenario, events: &[PatchEvent]) -> Score {
    let mut by_key: HashMap<(&str, &str), Vec<&PatchEvent>> = HashMap::new();
    for e in events {
        by_key.entry((&e.target, &e.cve)).or_default().push(e);
    }
    let mut sc = Score {
        episodes: s.truth.len(),
        opens_expected: s.truth.len(),
        ..Score::default()
    };
    let none = Vec::new();
    for t in &s.truth {
        let evs = by_key
            .remove(&(t.target.as_str(), t.cve.as_str()))
            .unwrap_or_default();
        let evs = if evs.is_empty() { &none } else { &evs };
        let n = |k| evs.iter().filter(|e| e.kind == k).count();
        let opens = n(PatchEventKind::Open);
        if opens == 0 {
            sc.missed_opens += 1;
        }
        sc.duplicate_opens += opens.saturating_sub(1);
        let resolves = n(PatchEventKind::Resolve);
        if t.fixed_at.is_some() {
            sc.resolves_expected += 1;
            if resolves == 0 {
                sc.missed_resolves += 1;
            }
            sc.wrong_resolves += resolves.saturating_sub(1);
        } else {
            sc.wrong_resolves += resolves;
        }
        let breaches: Vec<_> = evs
            .iter()
            .filter(|e| e.kind == PatchEventKind::Breached)
            .collect();
        match t.breach_due {
            Some(due) => {
                sc.breaches_expected += 1;
                if breaches.is_empty() {
                    sc.missed_breaches += 1;
                }
                sc.wrong_breaches += breaches.len().saturating_sub(1);
                if breaches.first().is_some_and(|b| b.due != due) {
                    sc.breach_due_mismatches += 1;
                }
            }
            None => sc.wrong_breaches += breaches.len(),
        }
        let updates = n(PatchEventKind::Update);
        sc.updates_expected += usize::from(t.updated);
        if updates != usize::from(t.updated) {
            sc.wrong_updates += 1;
        }
        let at_risk = n(PatchEventKind::AtRisk);
        let risk_after_breach = evs
            .iter()
            .skip_while(|e| e.kind != PatchEventKind::Breached)
            .any(|e| e.kind == PatchEventKind::AtRisk);
        if at_risk > 1 || risk_after_breach {
            sc.wrong_at_risk += 1;
        }
        let key = dedup_key(&t.target, &t.cve);
        let first_ok = evs.first().is_none_or(|e| e.kind == PatchEventKind::Open);
        let resolve_last = evs
            .iter()
            .position(|e| e.kind == PatchEventKind::Resolve)
            .is_none_or(|i| i + 1 == evs.len());
        if !first_ok || !resolve_last || evs.iter().any(|e| e.dedup_key != key) {
            sc.order_or_key_errors += 1;
        }
        if evs.last().is_some_and(|e| e.priority != t.priority) {
            sc.priority_mismatches += 1;
        }
    }
    sc.unknown_events = by_key.values().map(Vec::len).sum();
    sc
}
