//! Alert lifecycle: fingerprinting, deduplication, firing/resolved state, pending
//! (`min_occurrences`, `for_duration`), resolve timeout and flap damping.
//!
//! Timers are evaluated at event time only: a timer due at `d` is applied before any
//! event with `ts >= d`, and its transition carries `ts = d`, so the output does not
//! depend on how often [`Lifecycle::advance`] is called.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::duration::{NS_PER_SEC, PromDuration};
use crate::event::{AlertEvent, AlertStatus};
use crate::matcher::Labels;

/// 64-bit FNV-1a, the hash Prometheus and Alertmanager use for label fingerprints.
pub fn fnv64a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprint of a label set, computed exactly like Prometheus' `LabelSet.Fingerprint`
/// (sorted names, name/value separated by 0xff), so with all labels selected the value
/// equals the fingerprint Alertmanager shows for the alert.
pub fn fingerprint_of<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (k, v) in pairs {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    h
}

/// Formats a fingerprint as 16 lowercase hex digits.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// Lifecycle settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleConfig {
    /// Labels that identify an alert; `None` = all labels except `volatile_labels`.
    pub fingerprint_labels: Option<Vec<String>>,
    /// Labels ignored for identity when `fingerprint_labels` is `None`. The default lists
    /// labels that name one emitting process or request rather than the failing thing:
    /// they change on every restart, rollout or request while the problem stays the same,
    /// so keeping them would split one incident into many alerts. `instance` is *not*
    /// listed because for host-level alerts it is the identity.
    pub volatile_labels: Vec<String>,
    /// Firing observations needed (in one episode) before the alert is reported.
    pub min_occurrences: u32,
    /// How long an alert must keep firing (since its first observation) before it is reported.
    pub for_duration: PromDuration,
    /// A firing alert not re-sent for this long (and without `ends_at`) resolves, as in Alertmanager.
    pub resolve_timeout: PromDuration,
    /// Reported state changes within `flap_window` that make an alert flapping; 0 disables damping.
    pub flap_min_changes: usize,
    /// Window over which state changes are counted.
    pub flap_window: PromDuration,
    /// A flapping alert is released after this long without state changes.
    pub flap_quiet_period: PromDuration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            fingerprint_labels: None,
            volatile_labels: ["pod", "instance_id", "request_id", "trace_id", "replica"]
                .map(String::from)
                .to_vec(),
            min_occurrences: 1,
            for_duration: PromDuration(0),
            resolve_timeout: PromDuration(5 * 60 * NS_PER_SEC),
            flap_min_changes: 4,
            flap_window: PromDuration(10 * 60 * NS_PER_SEC),
            flap_quiet_period: PromDuration(10 * 60 * NS_PER_SEC),
        }
    }
}

impl LifecycleConfig {
    /// A configuration that forwards alerts unchanged: all labels identify, no damping,
    /// no pending. Useful for parity checks against Alertmanager.
    pub fn passthrough() -> Self {
        Self {
            volatile_labels: Vec::new(),
            flap_min_changes: 0,
            ..Self::default()
        }
    }
}

/// Reported state of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TransitionState {
    /// Started firing (or stopped flapping while firing).
    Firing,
    /// Stopped firing.
    Resolved,
    /// Changed state too often; further changes are held until it calms down.
    Flapping,
}

/// A reported state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Event time of the change.
    pub ts_ns: i64,
    /// 16 hex digits, hash of the fingerprint labels.
    pub fingerprint: String,
    /// New state.
    pub state: TransitionState,
    /// Latest labels (all of them, including volatile ones).
    pub labels: Labels,
    /// Latest annotations.
    pub annotations: Labels,
    /// Start of the current episode.
    pub starts_at_ns: i64,
    /// Firing observations in the current episode.
    pub occurrences: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Inactive,
    Pending,
    Firing,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    fp: u64,
    labels: Labels,
    annotations: Labels,
    phase: Phase,
    pending_since: i64,
    starts_at: i64,
    expires_at: i64,
    occurrences: u64,
    flips: VecDeque<i64>,
    flapping: bool,
    last_flip: i64,
}

/// Serialisable lifecycle state (checkpoint).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LifecycleSnapshot {
    /// Settings in force.
    pub config: LifecycleConfig,
    entries: Vec<Entry>,
}

/// Per-fingerprint alert state machine.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    cfg: LifecycleConfig,
    entries: HashMap<u64, Entry>,
    timers: BinaryHeap<Reverse<(i64, u64)>>,
}

impl Lifecycle {
    /// A lifecycle with no alerts.
    pub fn new(cfg: LifecycleConfig) -> Self {
        Self {
            cfg,
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Settings.
    pub fn config(&self) -> &LifecycleConfig {
        &self.cfg
    }

    /// Number of tracked fingerprints (including recently resolved ones kept for flap history).
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    /// Fingerprint of an alert's labels under this configuration.
    pub fn fingerprint(&self, labels: &Labels) -> u64 {
        match &self.cfg.fingerprint_labels {
            Some(sel) => {
                let mut sel: Vec<&String> = sel.iter().collect();
                sel.sort();
                sel.dedup();
                fingerprint_of(sel.into_iter().filter_map(|k| labels.get_key_value(k)))
            }
            None => fingerprint_of(
                labels
                    .iter()
                    .filter(|(k, _)| !self.cfg.volatile_labels.iter().any(|v| v == *k)),
            ),
        }
    }

    /// Earliest pending timer (may be stale; advancing to it is then a no-op).
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse((d, _))| *d)
    }

    /// Processes one received alert; returns the transitions it causes (timers of this
    /// alert due at or before `ev.ts_ns` first). A repeated firing alert returns nothing.
    pub fn observe(&mut self, ev: &AlertEvent) -> Vec<Transition> {
        let mut out = Vec::new();
        let fp = self.fingerprint(&ev.labels);
        let cfg = &self.cfg;
        let t = ev.ts_ns;
        let e = self.entries.entry(fp).or_insert_with(|| Entry {
            fp,
            labels: Labels::new(),
            annotations: Labels::new(),
            phase: Phase::Inactive,
            pending_since: t,
            starts_at: t,
            expires_at: t,
            occurrences: 0,
            flips: VecDeque::new(),
            flapping: false,
            last_flip: t,
        });
        run_timers(cfg, e, t, &mut out);
        let resolved =
            ev.status == AlertStatus::Resolved || ev.ends_at_ns.is_some_and(|end| end <= t);
        e.labels.clone_from(&ev.labels);
        e.annotations.clone_from(&ev.annotations);
        if resolved {
            match e.phase {
                Phase::Firing => {
                    e.phase = Phase::Inactive;
                    report(cfg, e, TransitionState::Resolved, t, &mut out);
                }
                Phase::Pending => e.phase = Phase::Inactive,
                Phase::Inactive => {}
            }
        } else {
            e.expires_at = ev
                .ends_at_ns
                .unwrap_or_else(|| t.saturating_add(cfg.resolve_timeout.0));
            match e.phase {
                Phase::Inactive => {
                    e.phase = Phase::Pending;
                    e.pending_since = t;
                    e.starts_at = ev.starts_at_ns.unwrap_or(t);
                    e.occurrences = 1;
                    try_fire(cfg, e, t, &mut out);
                }
                Phase::Pending => {
                    e.occurrences += 1;
                    try_fire(cfg, e, t, &mut out);
                }
                Phase::Firing => e.occurrences += 1,
            }
        }
        let next = next_deadline(cfg, e);
        if let Some(d) = next {
            self.timers.push(Reverse((d, fp)));
        }
        out
    }

    /// Applies all timers due at or before `now_ns` (resolve timeout, `for_duration`,
    /// flap release, forgetting old state), in time order.
    pub fn advance(&mut self, now_ns: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        while let Some(Reverse((d, fp))) = self.timers.peek().copied() {
            if d > now_ns {
                break;
            }
            self.timers.pop();
            let Some(e) = self.entries.get_mut(&fp) else {
                continue;
            };
            if next_deadline(&self.cfg, e) != Some(d) {
                continue;
            }
            run_timers(&self.cfg, e, d, &mut out);
            if e.phase == Phase::Inactive && !e.flapping && gc_due(&self.cfg, e, d) {
                self.entries.remove(&fp);
            } else if let Some(n) = next_deadline(&self.cfg, e) {
                self.timers.push(Reverse((n, fp)));
            }
        }
        out
    }

    /// Serialisable state for checkpointing.
    pub fn snapshot(&self) -> LifecycleSnapshot {
        let mut entries: Vec<Entry> = self.entries.values().cloned().collect();
        entries.sort_by_key(|e| e.fp);
        LifecycleSnapshot {
            config: self.cfg.clone(),
            entries,
        }
    }

    /// Rebuilds a lifecycle from a snapshot.
    pub fn restore(snap: LifecycleSnapshot) -> Self {
        let mut lc = Self::new(snap.config);
        for e in snap.entries {
            if let Some(d) = next_deadline(&lc.cfg, &e) {
                lc.timers.push(Reverse((d, e.fp)));
            }
            lc.entries.insert(e.fp, e);
        }
        lc
    }
}

fn transition(e: &Entry, state: TransitionState, t: i64) -> Transition {
    Transition {
        ts_ns: t,
        fingerprint: fingerprint_hex(e.fp),
        state,
        labels: e.labels.clone(),
        annotations: e.annotations.clone(),
        starts_at_ns: e.starts_at,
        occurrences: e.occurrences,
    }
}

/// Emits a Firing/Resolved change unless flap damping holds it back.
fn report(
    cfg: &LifecycleConfig,
    e: &mut Entry,
    state: TransitionState,
    t: i64,
    out: &mut Vec<Transition>,
) {
    if cfg.flap_min_changes > 0 {
        e.flips.push_back(t);
        while e.flips.front().is_some_and(|f| *f <= t - cfg.flap_window.0) {
            e.flips.pop_front();
        }
        e.last_flip = t;
        if e.flapping {
            return;
        }
        if e.flips.len() >= cfg.flap_min_changes {
            e.flapping = true;
            out.push(transition(e, TransitionState::Flapping, t));
            return;
        }
    }
    out.push(transition(e, state, t));
}

fn try_fire(cfg: &LifecycleConfig, e: &mut Entry, t: i64, out: &mut Vec<Transition>) {
    if e.occurrences >= u64::from(cfg.min_occurrences.max(1))
        && e.pending_since.saturating_add(cfg.for_duration.0) <= t
    {
        e.phase = Phase::Firing;
        report(cfg, e, TransitionState::Firing, t, out);
    }
}

fn gc_due(cfg: &LifecycleConfig, e: &Entry, t: i64) -> bool {
    e.flips
        .back()
        .is_none_or(|f| f.saturating_add(cfg.flap_window.0) <= t)
}

fn next_deadline(cfg: &LifecycleConfig, e: &Entry) -> Option<i64> {
    let mut d: Option<i64> = None;
    let mut consider = |x: i64| d = Some(d.map_or(x, |y| y.min(x)));
    match e.phase {
        Phase::Pending => {
            consider(e.expires_at);
            if e.occurrences >= u64::from(cfg.min_occurrences.max(1)) {
                consider(e.pending_since.saturating_add(cfg.for_duration.0));
            }
        }
        Phase::Firing => consider(e.expires_at),
        Phase::Inactive => {
            if !e.flapping {
                consider(
                    e.flips
                        .back()
                        .map_or(e.last_flip, |f| f.saturating_add(cfg.flap_window.0)),
                );
            }
        }
    }
    if e.flapping {
        consider(e.last_flip.saturating_add(cfg.flap_quiet_period.0));
    }
    d
}

/// Applies every timer of one alert due at or before `t`, earliest first.
fn run_timers(cfg: &LifecycleConfig, e: &mut Entry, t: i64, out: &mut Vec<Transition>) {
    loop {
        let release = e
            .flapping
            .then(|| e.last_flip.saturating_add(cfg.flap_quiet_period.0));
        let (due, what) = match e.phase {
            Phase::Pending => {
                let fire_at = (e.occurrences >= u64::from(cfg.min_occurrences.max(1)))
                    .then(|| e.pending_since.saturating_add(cfg.for_duration.0));
                match fire_at {
                    Some(f) if f < e.expires_at => (f, 1),
                    _ => (e.expires_at, 2),
                }
            }
            Phase::Firing => (e.expires_at, 3),
            Phase::Inactive => (i64::MAX, 0),
        };
        let (due, what) = match release {
            Some(r) if r < due => (r, 4),
            _ => (due, what),
        };
        if due > t || what == 0 {
            return;
        }
        match what {
            1 => {
                e.phase = Phase::Firing;
                report(cfg, e, TransitionState::Firing, due, out);
            }
            2 => e.phase = Phase::Inactive,
            3 => {
                e.phase = Phase::Inactive;
                report(cfg, e, TransitionState::Resolved, due, out);
            }
            _ => {
                e.flapping = false;
                e.flips.clear();
                let state = if e.phase == Phase::Firing {
                    TransitionState::Firing
                } else {
                    TransitionState::Resolved
                };
                out.push(transition(e, state, due));
            }
        }
    }
}

#[cfg(test)]
mod tests;
