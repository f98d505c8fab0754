//! The rollout judge: ingests requests, gauges and log patterns per
//! (service, version, window), tracks changes, and decides at each window
//! close whether to promote, hold, roll back or disable a flag.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::JudgeError;
use crate::config::{ChangeKind, DeployEvent, JudgeConfig, MetricKind};
use crate::store::{Agg, PatternCount, Store};
use crate::verdict::{Decision, Verdict};

/// Recent changes remembered per service for blame in the watch window.
const MAX_CHANGES_PER_SERVICE: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) enum Phase {
    /// Comparing against the baseline, one verdict per window.
    Analysing,
    /// Promoted; checking against the pre-deploy baseline until `until_ns`.
    Watching { until_ns: i64 },
    /// Finished; removed at the end of `advance`.
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rollout {
    pub(crate) event: DeployEvent,
    pub(crate) concurrent: bool,
    pub(crate) first_window: i64,
    pub(crate) next_window: i64,
    pub(crate) windows_done: u32,
    pub(crate) base: Agg,
    pub(crate) canary: Agg,
    /// Pre-deploy baseline of the baseline version, computed at the first window close.
    pub(crate) pre: Option<Agg>,
    pub(crate) phase: Phase,
    pub(crate) watch: VecDeque<Agg>,
}

/// A change remembered for blame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeRef {
    /// Event time.
    pub ts_ns: i64,
    /// Change id.
    pub change_id: String,
    /// Deploy or flag.
    pub kind: ChangeKind,
    /// Version after the change.
    pub version: String,
    /// Whether a rollback / flag-disable verdict was already issued for it.
    #[serde(default)]
    pub reverted: bool,
}

/// Streaming rollout judge. Deterministic: all time is event time passed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutJudge {
    pub(crate) cfg: JudgeConfig,
    pub(crate) store: Store,
    pub(crate) rollouts: Vec<Rollout>,
    pub(crate) changes: BTreeMap<String, Vec<ChangeRef>>,
    /// Windows with index below this are closed.
    pub(crate) closed_upto: Option<i64>,
    pub(crate) late_dropped: u64,
}

impl RolloutJudge {
    /// Creates a judge; rejects non-positive windows or significance levels outside (0, 1).
    pub fn new(cfg: JudgeConfig) -> Result<Self, JudgeError> {
        if cfg.window_ns <= 0 || cfg.num_windows == 0 {
            return Err(JudgeError::Config(
                "window_ns and num_windows must be positive".into(),
            ));
        }
        if cfg.watch_ns < 0 || cfg.watch_eval_windows == 0 {
            return Err(JudgeError::Config(
                "watch_ns must be ≥ 0 and watch_eval_windows > 0".into(),
            ));
        }
        for m in &cfg.metrics {
            if !(m.alpha > 0.0 && m.alpha < 1.0) {
                return Err(JudgeError::Config(format!(
                    "metric {}: alpha must be in (0, 1)",
                    m.name
                )));
            }
        }
        if !(cfg.watch_alpha > 0.0 && cfg.watch_alpha < 1.0) {
            return Err(JudgeError::Config("watch_alpha must be in (0, 1)".into()));
        }
        Ok(Self {
            cfg,
            store: Store::default(),
            rollouts: Vec::new(),
            changes: BTreeMap::new(),
            closed_upto: None,
            late_dropped: 0,
        })
    }

    /// Configuration in use.
    pub fn config(&self) -> &JudgeConfig {
        &self.cfg
    }

    /// Observations dropped because their window was closed and pruned.
    pub fn late_dropped(&self) -> u64 {
        self.late_dropped
    }

    /// Live (service, version, window) aggregates (bounded by the retention).
    pub fn live_windows(&self) -> usize {
        self.store.live_windows()
    }

    /// Changes still being analysed or watched.
    pub fn active_rollouts(&self) -> usize {
        self.rollouts.len()
    }

    #[inline]
    pub(crate) fn window_of(&self, ts_ns: i64) -> i64 {
        (ts_ns - self.cfg.window_offset_ns).div_euclid(self.cfg.window_ns)
    }

    pub(crate) fn window_start(&self, w: i64) -> i64 {
        w * self.cfg.window_ns + self.cfg.window_offset_ns
    }

    /// Windows kept behind the watermark: enough for a pre-deploy baseline.
    fn retention(&self) -> i64 {
        self.cfg.baseline_windows as i64 + 3
    }

    #[inline]
    fn slot(&mut self, service: &str, version: &str, ts_ns: i64) -> Option<&mut Agg> {
        let w = self.window_of(ts_ns);
        if let Some(c) = self.closed_upto
            && w < c - self.retention()
        {
            self.late_dropped += 1;
            return None;
        }
        let (high, sig) = (self.cfg.max_latency_us, self.cfg.latency_sigfig);
        Some(self.store.slot(service, version, w, high, sig))
    }

    /// Registers a change to judge. Replaying an already known `change_id` is a no-op.
    pub fn observe_deploy(&mut self, ev: DeployEvent) {
        if self
            .rollouts
            .iter()
            .any(|r| r.event.change_id == ev.change_id)
            || self
                .changes
                .get(&ev.service)
                .is_some_and(|c| c.iter().any(|c| c.change_id == ev.change_id))
        {
            return;
        }
        let concurrent = ev.is_concurrent();
        let d = self.window_of(ev.ts_ns);
        // A replacement is compared from the first full window after the change;
        // side-by-side versions share windows, so the deploy window counts.
        let first = if concurrent || self.window_start(d) == ev.ts_ns {
            d
        } else {
            d + 1
        };
        let (high, sig) = (self.cfg.max_latency_us, self.cfg.latency_sigfig);
        let changes = self.changes.entry(ev.service.clone()).or_default();
        changes.push(ChangeRef {
            ts_ns: ev.ts_ns,
            change_id: ev.change_id.clone(),
            kind: ev.kind,
            version: ev.version.clone(),
            reverted: false,
        });
        changes.sort_by(|a, b| (a.ts_ns, &a.change_id).cmp(&(b.ts_ns, &b.change_id)));
        if changes.len() > MAX_CHANGES_PER_SERVICE {
            let excess = changes.len() - MAX_CHANGES_PER_SERVICE;
            changes.drain(..excess);
        }
        self.rollouts.push(Rollout {
            event: ev,
            concurrent,
            first_window: first,
            next_window: first,
            windows_done: 0,
            base: Agg::new(high, sig),
            canary: Agg::new(high, sig),
            pre: None,
            phase: Phase::Analysing,
            watch: VecDeque::new(),
        });
        self.rollouts.sort_by(|a, b| {
            (a.event.ts_ns, &a.event.change_id).cmp(&(b.event.ts_ns, &b.event.change_id))
        });
    }

    /// Hot path: one request of `service`/`version` at event time `ts_ns`.
    #[inline]
    pub fn observe_request(
        &mut self,
        service: &str,
        version: &str,
        ts_ns: i64,
        latency_ms: f64,
        error: bool,
    ) {
        if let Some(a) = self.slot(service, version, ts_ns) {
            a.requests += 1;
            a.errors += error as u64;
            a.latency.record_ms(latency_ms);
        }
    }

    /// A saturation gauge sample (CPU, memory, queue depth) under `metric`.
    pub fn observe_sample(
        &mut self,
        service: &str,
        version: &str,
        metric: &str,
        ts_ns: i64,
        value: f64,
    ) {
        let cap = self.cfg.max_samples_per_window;
        if value.is_nan() {
            return;
        }
        if let Some(a) = self.slot(service, version, ts_ns) {
            let v = a.samples.entry(metric.to_owned()).or_default();
            if v.len() < cap {
                v.push(value);
            }
        }
    }

    /// One log line of `pattern_id`; `is_new` when the pattern processor never saw it before.
    pub fn observe_log_pattern(
        &mut self,
        service: &str,
        version: &str,
        ts_ns: i64,
        pattern_id: &str,
        is_new: bool,
    ) {
        if let Some(a) = self.slot(service, version, ts_ns) {
            a.log_lines += 1;
            let p = a
                .logs
                .entry(pattern_id.to_owned())
                .or_insert(PatternCount::default());
            p.count += 1;
            p.is_new |= is_new;
        }
    }

    /// Moves the watermark to `now_ns` and returns the verdicts of every
    /// window that closed (end ≤ now), ordered by window end then change.
    pub fn advance(&mut self, now_ns: i64) -> Vec<Verdict> {
        let closed = (now_ns - self.cfg.window_offset_ns).div_euclid(self.cfg.window_ns);
        let closed = self.closed_upto.map_or(closed, |c| c.max(closed));
        self.closed_upto = Some(closed);
        let mut out = Vec::new();
        let mut finished: BTreeSet<String> = BTreeSet::new();
        let mut rollouts = std::mem::take(&mut self.rollouts);
        for r in rollouts.iter_mut() {
            while r.next_window < closed
                && r.phase != Phase::Done
                && !finished.contains(&r.event.change_id)
            {
                let w = r.next_window;
                r.next_window += 1;
                let v = match r.phase {
                    Phase::Analysing => Some(self.analyse(r, w)),
                    Phase::Watching { until_ns } => self.watch(r, w, until_ns, &mut finished),
                    Phase::Done => None,
                };
                if let Some(v) = &v
                    && matches!(v.decision, Decision::Rollback | Decision::FlagDisable)
                    && let Some(c) = self.changes.get_mut(&v.service)
                {
                    c.iter_mut()
                        .filter(|c| c.change_id == v.change_id)
                        .for_each(|c| c.reverted = true);
                }
                out.extend(v);
            }
        }
        rollouts.retain(|r| r.phase != Phase::Done && !finished.contains(&r.event.change_id));
        self.rollouts = rollouts;
        self.store.prune(closed - self.retention());
        out.sort_by(|a, b| {
            (a.ts_ns, &a.service, &a.change_id).cmp(&(b.ts_ns, &b.service, &b.change_id))
        });
        let mut seen = BTreeSet::new();
        out.retain(|v| seen.insert(v.dedup_key.clone()));
        out
    }

    /// Serialises the whole state (JSON).
    pub fn snapshot(&self) -> Result<String, JudgeError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Restores a state produced by [`RolloutJudge::snapshot`].
    pub fn restore(json: &str) -> Result<Self, JudgeError> {
        Ok(serde_json::from_str(json)?)
    }

    /// Names of configured metrics of a kind (used by callers wiring inputs).
    pub fn metric_names(&self, kind: MetricKind) -> Vec<&str> {
        self.cfg
            .metrics
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.name.as_str())
            .collect()
    }
}
