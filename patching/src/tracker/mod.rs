//! `PatchTracker`: event-time state per (target, CVE) — scans, SLA due
//! times, escalations, resolution — with bounded memory and checkpoints.
//!
//! Rows with the same `(target, ts)` form one scan. A scan is closed when a
//! newer scan of the same target starts or when the watermark passes
//! `ts + scan_grace`; only then are findings opened, updated or resolved, so
//! a scan's rows may arrive in any order within the grace. Escalations run
//! off a deadline index, so `on_watermark` costs O(log n) per due item
//! rather than a sweep of every open finding.

mod event;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use event::{PatchEvent, PatchEventKind, TrackerStats, fmt_ns};
pub use state::dedup_key;
use state::{PendingScan, ScanAgg, TargetState, Tracked, at_risk_at};

use crate::config::{ConfigError, PatchConfig};
use crate::finding::Finding;
use crate::kev::Kev;
use crate::priority::Prioritizer;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The snapshot is not valid JSON of the expected shape.
    #[error("patch tracker snapshot is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by an incompatible version.
    #[error("patch tracker snapshot version {found} is not supported (expected {expected})")]
    Version {
        /// In the snapshot.
        found: u32,
        /// What this build reads.
        expected: u32,
    },
}

const SNAPSHOT_VERSION: u32 = 1;

/// The tracker's state for checkpoints (configuration and KEV list are not
/// included: they come from the host's configuration on restore).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerSnapshot {
    /// Format version.
    pub version: u32,
    /// Newest watermark seen.
    pub watermark: Option<i64>,
    /// Counters.
    pub stats: TrackerStats,
    targets: BTreeMap<String, TargetState>,
}

/// A summary of one open finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFinding {
    /// Vulnerability id.
    pub cve: String,
    /// Stable key of its events.
    pub dedup_key: String,
    /// Current priority.
    pub priority: crate::Priority,
    /// First scan with it, ns.
    pub first_seen: i64,
    /// Latest scan with it, ns.
    pub last_seen: i64,
    /// Patch deadline, ns.
    pub due: i64,
    /// The at-risk escalation was emitted (or skipped by a breach).
    pub at_risk_sent: bool,
    /// The breach was emitted.
    pub breached: bool,
}

/// Tracks findings per (target, CVE) through scans and event time.
#[derive(Debug, Clone)]
pub struct PatchTracker {
    config: PatchConfig,
    rules: Prioritizer,
    grace_ns: i64,
    targets: BTreeMap<String, TargetState>,
    /// (next escalation instant, target, cve) for every open finding that
    /// still has one pending.
    deadlines: BTreeSet<(i64, String, String)>,
    /// (close instant, target) of every pending scan.
    closes: BTreeSet<(i64, String)>,
    tracked: usize,
    watermark: Option<i64>,
    stats: TrackerStats,
}

impl PatchTracker {
    /// A tracker with no state. `kev` is the parsed `kev_file` (or empty).
    pub fn new(config: PatchConfig, kev: Kev) -> Result<Self, ConfigError> {
        let exposure = config.validate()?;
        Ok(PatchTracker {
            rules: Prioritizer {
                epss_threshold: config.epss_threshold,
                exposure,
                kev,
            },
            grace_ns: config.scan_grace_ns(),
            config,
            targets: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            closes: BTreeSet::new(),
            tracked: 0,
            watermark: None,
            stats: TrackerStats::default(),
        })
    }

    /// Counters since start.
    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    /// Open findings currently tracked.
    pub fn tracked(&self) -> usize {
        self.tracked
    }

    /// The configuration in force.
    pub fn config(&self) -> &PatchConfig {
        &self.config
    }

    /// Open findings of `target`, in CVE order (inspection, tests, a
    /// status page).
    pub fn open_findings(&self, target: &str) -> Vec<OpenFinding> {
        self.targets.get(target).map_or_else(Vec::new, |t| {
            t.findings
                .iter()
                .map(|(c, f)| OpenFinding {
                    cve: c.clone(),
                    dedup_key: f.dedup_key.clone(),
                    priority: f.assessment.priority,
                    first_seen: f.first_seen,
                    last_seen: f.last_seen,
                    due: f.due,
                    at_risk_sent: f.at_risk_sent,
                    breached: f.breached_sent,
                })
                .collect()
        })
    }

    /// Feeds one row. Closing the target's previous scan (when this row
    /// starts a newer one) appends its events to `out`.
    pub fn ingest(&mut self, row: &Finding<'_>, out: &mut Vec<PatchEvent>) {
        self.stats.rows += 1;
        let marker = row.is_marker();
        if marker {
            self.stats.markers += 1;
        }
        let st = match self.targets.get_mut(row.target) {
            Some(st) => st,
            None => self.targets.entry(row.target.to_string()).or_default(),
        };
        if st.last_closed.is_some_and(|last| row.ts <= last) {
            self.stats.late_rows += 1;
            return;
        }
        let mut to_close = None;
        match &st.pending {
            Some(p) if p.ts == row.ts => {}
            Some(p) if p.ts > row.ts => {
                // Its scan was superseded (and closed) before this row came.
                self.stats.late_rows += 1;
                return;
            }
            Some(_) => to_close = st.pending.take(),
            None => {}
        }
        let pending = st.pending.get_or_insert_with(|| PendingScan {
            ts: row.ts,
            findings: BTreeMap::new(),
        });
        let fresh = pending.findings.is_empty();
        if !marker {
            let cve = row.cve.trim();
            match pending.findings.get_mut(cve) {
                Some(agg) => agg.add(row),
                None => {
                    pending.findings.insert(cve.to_string(), ScanAgg::new(row));
                }
            }
        }
        let close_at = row.ts.saturating_add(self.grace_ns);
        if fresh {
            self.closes.insert((close_at, row.target.to_string()));
        }
        if let Some(old) = to_close {
            self.closes
                .remove(&(old.ts.saturating_add(self.grace_ns), row.target.to_string()));
            self.close_scan(row.target, old, out);
        }
    }

    /// Advances event time: closes scans whose grace has passed, then emits
    /// due escalations in deadline order. A watermark older than the newest
    /// one is ignored.
    pub fn on_watermark(&mut self, now: i64, out: &mut Vec<PatchEvent>) {
        if self.watermark.is_some_and(|w| now < w) {
            return;
        }
        self.watermark = Some(now);
        while let Some((at, target)) = self.closes.first().cloned() {
            if at > now {
                break;
            }
            self.closes.pop_first();
            let scan = self.targets.get_mut(&target).and_then(|t| t.pending.take());
            if let Some(scan) = scan {
                self.close_scan(&target, scan, out);
            }
        }
        self.escalate(now, out);
    }

    /// Closes every pending scan now (end of a replay or shutdown), then
    /// escalates as of the newest watermark.
    pub fn flush(&mut self, out: &mut Vec<PatchEvent>) {
        let closes = std::mem::take(&mut self.closes);
        for (_, target) in closes {
            let scan = self.targets.get_mut(&target).and_then(|t| t.pending.take());
            if let Some(scan) = scan {
                self.close_scan(&target, scan, out);
            }
        }
        if let Some(w) = self.watermark {
            self.escalate(w, out);
        }
    }

    /// Forgets a target that will not be scanned again (decommissioned
    /// host, image tag replaced by a new one): its pending scan is dropped
    /// and each open finding is resolved with "target retired". Without
    /// this, findings of a target that silently stops being scanned stay
    /// open and eventually breach, which is the safe default.
    pub fn retire_target(&mut self, target: &str, ts: i64, out: &mut Vec<PatchEvent>) {
        let Some(st) = self.targets.remove(target) else {
            return;
        };
        if let Some(p) = &st.pending {
            self.closes
                .remove(&(p.ts.saturating_add(self.grace_ns), target.to_string()));
        }
        for (cve, f) in st.findings {
            self.tracked -= 1;
            if let Some(d) = f.next_deadline() {
                self.deadlines.remove(&(d, target.to_string(), cve.clone()));
            }
            let msg = format!("target retired at {}", fmt_ns(ts));
            out.push(PatchEvent::from_tracked(
                PatchEventKind::Resolve,
                ts,
                target,
                &cve,
                &f,
                msg,
            ));
            self.stats.count(PatchEventKind::Resolve);
        }
    }

    fn escalate(&mut self, now: i64, out: &mut Vec<PatchEvent>) {
        while let Some((at, target, cve)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(f) = self
                .targets
                .get_mut(&target)
                .and_then(|t| t.findings.get_mut(&cve))
            else {
                continue;
            };
            let kind = if f.at_risk_sent || now >= f.due {
                // Also when time jumped past both thresholds at once: the
                // breach is the news, and it must never be skipped.
                f.at_risk_sent = true;
                f.breached_sent = true;
                PatchEventKind::Breached
            } else {
                f.at_risk_sent = true;
                PatchEventKind::AtRisk
            };
            let (ts, msg) = if kind == PatchEventKind::Breached {
                (
                    f.due,
                    format!(
                        "{cve} on {target}: {} patch overdue since {}",
                        f.assessment.priority.as_str(),
                        fmt_ns(f.due)
                    ),
                )
            } else {
                (
                    f.at_risk_at,
                    format!(
                        "{cve} on {target}: {} patch at risk, due {}",
                        f.assessment.priority.as_str(),
                        fmt_ns(f.due)
                    ),
                )
            };
            out.push(PatchEvent::from_tracked(kind, ts, &target, &cve, f, msg));
            self.stats.count(kind);
            if let Some(next) = f.next_deadline() {
                self.deadlines.insert((next, target, cve));
            }
        }
    }

    fn close_scan(&mut self, target: &str, scan: PendingScan, out: &mut Vec<PatchEvent>) {
        let Self {
            config,
            rules,
            targets,
            deadlines,
            tracked,
            stats,
            ..
        } = self;
        let Some(st) = targets.get_mut(target) else {
            return;
        };
        stats.scans_closed += 1;
        st.last_closed = Some(scan.ts);
        let frac = config.at_risk_fraction;
        let mut added = false;
        let PendingScan { ts, findings } = scan;
        let gone: Vec<String> = st
            .findings
            .keys()
            .filter(|c| !findings.contains_key(c.as_str()))
            .cloned()
            .collect();
        for (cve, agg) in findings {
            if let Some(f) = st.findings.get_mut(cve.as_str()) {
                f.last_seen = ts;
                // Most scans repeat yesterday's findings unchanged: skip the
                // rule (and its string building) unless an input moved.
                if f.assessed && f.details.same_signals(&agg) {
                    f.details = agg;
                    continue;
                }
                let a = rules.assess(&agg.signals(target, &cve));
                f.details = agg;
                f.assessed = true;
                let prev = f.assessment.priority;
                if prev == a.priority {
                    f.assessment = a;
                    continue;
                }
                let sla = config.sla.for_priority_ns(a.priority);
                let old_deadline = f.next_deadline();
                // A commitment is never relaxed: a lower priority keeps
                // the earlier due time, a higher one can only pull it in.
                let due = f.due.min(f.first_seen.saturating_add(sla));
                if due != f.due {
                    f.due = due;
                    if !f.at_risk_sent {
                        f.at_risk_at = at_risk_at(f.first_seen, due, frac);
                    }
                }
                f.assessment = a;
                let new_deadline = f.next_deadline();
                if old_deadline != new_deadline {
                    if let Some(d) = old_deadline {
                        deadlines.remove(&(d, target.to_string(), cve.clone()));
                    }
                    if let Some(d) = new_deadline {
                        deadlines.insert((d, target.to_string(), cve.clone()));
                    }
                }
                let msg = format!(
                    "{cve} on {target}: priority {} → {}, due {}",
                    prev.as_str(),
                    f.assessment.priority.as_str(),
                    fmt_ns(f.due)
                );
                let mut ev =
                    PatchEvent::from_tracked(PatchEventKind::Update, ts, target, &cve, f, msg);
                ev.previous_priority = Some(prev);
                out.push(ev);
                stats.count(PatchEventKind::Update);
            } else {
                let a = rules.assess(&agg.signals(target, &cve));
                let due = ts.saturating_add(config.sla.for_priority_ns(a.priority));
                let f = Tracked {
                    dedup_key: dedup_key(target, &cve),
                    first_seen: ts,
                    last_seen: ts,
                    assessment: a,
                    due,
                    at_risk_at: at_risk_at(ts, due, frac),
                    at_risk_sent: false,
                    breached_sent: false,
                    details: agg,
                    assessed: true,
                };
                if let Some(d) = f.next_deadline() {
                    deadlines.insert((d, target.to_string(), cve.clone()));
                }
                let msg = format!(
                    "{cve} on {target}: {} patch due {}",
                    f.assessment.priority.as_str(),
                    fmt_ns(due)
                );
                out.push(PatchEvent::from_tracked(
                    PatchEventKind::Open,
                    ts,
                    target,
                    &cve,
                    &f,
                    msg,
                ));
                stats.count(PatchEventKind::Open);
                st.findings.insert(cve, f);
                *tracked += 1;
                added = true;
            }
        }
        for cve in gone {
            let Some(f) = st.findings.remove(&cve) else {
                continue;
            };
            *tracked -= 1;
            if let Some(d) = f.next_deadline() {
                deadlines.remove(&(d, target.to_string(), cve.clone()));
            }
            let msg = format!("fixed: not in scan of {}", fmt_ns(ts));
            out.push(PatchEvent::from_tracked(
                PatchEventKind::Resolve,
                ts,
                target,
                &cve,
                &f,
                msg,
            ));
            stats.count(PatchEventKind::Resolve);
        }
        if added && self.tracked > self.config.max_tracked {
            self.evict(ts, out);
        }
    }

    /// Drops findings down to 99 % of the cap in one pass, lowest priority
    /// and longest unseen first, so the O(n log n) selection is amortised
    /// over many inserts instead of paid on each.
    fn evict(&mut self, ts: i64, out: &mut Vec<PatchEvent>) {
        let cap = self.config.max_tracked;
        let keep = cap - cap / 100;
        let excess = self.tracked.saturating_sub(keep);
        if excess == 0 {
            return;
        }
        let mut all: Vec<(crate::Priority, i64, &str, &str)> = Vec::with_capacity(self.tracked);
        for (t, st) in &self.targets {
            for (c, f) in &st.findings {
                all.push((f.assessment.priority, f.last_seen, t, c));
            }
        }
        all.sort_unstable();
        let victims: Vec<(String, String)> = all
            .into_iter()
            .take(excess)
            .map(|(_, _, t, c)| (t.to_string(), c.to_string()))
            .collect();
        for (target, cve) in victims {
            let Some(f) = self
                .targets
                .get_mut(&target)
                .and_then(|t| t.findings.remove(&cve))
            else {
                continue;
            };
            self.tracked -= 1;
            if let Some(d) = f.next_deadline() {
                self.deadlines.remove(&(d, target.clone(), cve.clone()));
            }
            let msg = format!("{cve} on {target}: no longer tracked (max_tracked = {cap})");
            out.push(PatchEvent::from_tracked(
                PatchEventKind::Evicted,
                ts,
                &target,
                &cve,
                &f,
                msg,
            ));
            self.stats.count(PatchEventKind::Evicted);
        }
    }

    /// The state for a checkpoint.
    pub fn snapshot(&self) -> TrackerSnapshot {
        TrackerSnapshot {
            version: SNAPSHOT_VERSION,
            watermark: self.watermark,
            stats: self.stats.clone(),
            targets: self.targets.clone(),
        }
    }

    /// The checkpoint as JSON.
    pub fn snapshot_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.snapshot())
    }

    /// A tracker continuing from `snap` under `config` and `kev`.
    pub fn restore(
        config: PatchConfig,
        kev: Kev,
        snap: TrackerSnapshot,
    ) -> Result<Self, RestoreError> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(RestoreError::Version {
                found: snap.version,
                expected: SNAPSHOT_VERSION,
            });
        }
        let mut t = PatchTracker::new(config, kev)?;
        for (target, st) in &snap.targets {
            if let Some(p) = &st.pending {
                t.closes
                    .insert((p.ts.saturating_add(t.grace_ns), target.clone()));
            }
            for (cve, f) in &st.findings {
                t.tracked += 1;
                if let Some(d) = f.next_deadline() {
                    t.deadlines.insert((d, target.clone(), cve.clone()));
                }
            }
        }
        t.targets = snap.targets;
        t.watermark = snap.watermark;
        t.stats = snap.stats;
        Ok(t)
    }

    /// [`PatchTracker::restore`] from JSON.
    pub fn restore_json(config: PatchConfig, kev: Kev, json: &str) -> Result<Self, RestoreError> {
        let snap: TrackerSnapshot = serde_json::from_str(json)?;
        Self::restore(config, kev, snap)
    }
}
