//! Event-time signals derived from miner observations.
//!
//! * **New pattern**: a template first seen in a namespace after its warm-up
//!   period, inside the window following a deploy the caller recorded (or at
//!   any time when `require_deploy` is off).
//! * **Rate spike**: a template's count in one time bucket against an EWMA
//!   of its own past buckets.
//! * **Error surge**: the count of error-level lines of a namespace in one
//!   bucket against that namespace's EWMA, reported with its top template.
//!
//! Buckets are aligned on `bucket_ns` and closed when event time (a line's
//! timestamp or a watermark passed to [`SignalDetector::advance`]) moves past
//! them; a late line counts in the open bucket. Tracked templates and
//! namespaces are bounded; the least recently seen are dropped first.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::PatternError;
use crate::miner::{Observation, PatternId, PatternInfo};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info (also the fallback for unknown names).
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal, critical, emergency, panic.
    Fatal,
}

impl Level {
    /// Parses a level name the way shippers spell it (case-insensitive);
    /// unknown names are `Info`.
    pub fn parse(s: &str) -> Level {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" | "dbg" => Level::Debug,
            "warn" | "warning" | "wrn" => Level::Warn,
            "error" | "err" | "eror" | "severe" => Level::Error,
            "fatal" | "critical" | "crit" | "emerg" | "emergency" | "alert" | "panic" => {
                Level::Fatal
            }
            _ => Level::Info,
        }
    }

    /// True for error and fatal.
    pub fn is_error(self) -> bool {
        matches!(self, Level::Error | Level::Fatal)
    }
}

/// Thresholds of the [`SignalDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {
    /// New templates in the first `warmup_ns` of a namespace are not flagged.
    pub warmup_ns: i64,
    /// How long after a recorded deploy new templates are flagged.
    pub deploy_window_ns: i64,
    /// Flag new templates only inside a deploy window.
    pub require_deploy: bool,
    /// Bucket width for rates.
    pub bucket_ns: i64,
    /// EWMA weight of the newest bucket.
    pub ewma_alpha: f64,
    /// A bucket spikes at `spike_factor` × baseline (baseline floored at 1).
    pub spike_factor: f64,
    /// …and at least this many lines.
    pub spike_min_count: u64,
    /// Closed buckets a template or namespace needs before it can spike.
    pub min_history_buckets: u32,
    /// Error lines surge at `surge_factor` × baseline (floored at 1).
    pub surge_factor: f64,
    /// …and at least this many error lines.
    pub surge_min_count: u64,
    /// Templates tracked at once.
    pub max_tracked: usize,
    /// Namespaces tracked at once.
    pub max_namespaces: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            warmup_ns: 3_600_000_000_000,
            deploy_window_ns: 1_800_000_000_000,
            require_deploy: true,
            bucket_ns: 60_000_000_000,
            ewma_alpha: 0.1,
            spike_factor: 5.0,
            spike_min_count: 20,
            min_history_buckets: 10,
            surge_factor: 3.0,
            surge_min_count: 20,
            max_tracked: 10_000,
            max_namespaces: 1_000,
        }
    }
}

/// What a [`Signal`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SignalKind {
    /// A template not seen before (after warm-up, near a deploy).
    NewPattern,
    /// A template's rate jumped against its own baseline.
    RateSpike,
    /// The namespace's error-level lines jumped against their baseline.
    ErrorSurge,
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// What was detected.
    pub kind: SignalKind,
    /// Namespace (service).
    pub namespace: String,
    /// The template concerned (for a surge: the top error template).
    pub pattern_id: PatternId,
    /// Its template text.
    pub template: String,
    /// An example line.
    pub example: String,
    /// Event time: the line's for a new pattern, the bucket start otherwise.
    pub ts_ns: i64,
    /// Lines in the bucket (1 for a new pattern).
    pub count: u64,
    /// Baseline lines per bucket (0 for a new pattern).
    pub baseline: f64,
    /// `count / max(baseline, 1)`.
    pub ratio: f64,
    /// Version of the deploy whose window the new pattern fell in.
    pub deploy_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Track {
    namespace: String,
    template: String,
    example: String,
    level: Level,
    count: u64,
    ewma: f64,
    history: u32,
    last_bucket: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NsTrack {
    first_ts: Option<i64>,
    deploy: Option<(i64, String)>,
    err_ewma: f64,
    err_history: u32,
    last_bucket: i64,
}

/// Turns observations into [`Signal`]s; see the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalDetector {
    cfg: SignalConfig,
    open: Option<i64>,
    patterns: FxHashMap<PatternId, Track>,
    namespaces: FxHashMap<String, NsTrack>,
}

impl SignalDetector {
    /// A detector with the given thresholds.
    pub fn new(cfg: SignalConfig) -> Result<Self, PatternError> {
        if cfg.bucket_ns <= 0 || !(cfg.ewma_alpha > 0.0 && cfg.ewma_alpha <= 1.0) {
            return Err(PatternError::Config(
                "bucket_ns must be > 0 and ewma_alpha in (0, 1]".into(),
            ));
        }
        if cfg.max_tracked == 0 || cfg.max_namespaces == 0 {
            return Err(PatternError::Config(
                "max_tracked and max_namespaces must be >= 1".into(),
            ));
        }
        Ok(SignalDetector {
            cfg,
            open: None,
            patterns: FxHashMap::default(),
            namespaces: FxHashMap::default(),
        })
    }

    /// Number of templates currently tracked.
    pub fn tracked(&self) -> usize {
        self.patterns.len()
    }

    /// Records that `namespace` was deployed at `ts_ns` as `version`; new
    /// templates in the following `deploy_window_ns` are flagged.
    pub fn record_deploy(&mut self, namespace: &str, ts_ns: i64, version: &str) {
        let bucket = self.bucket(ts_ns);
        let ns = self.ns_entry(namespace, bucket);
        ns.deploy = Some((ts_ns, version.to_string()));
    }

    /// Accounts one observed line; returns new-pattern signals and those of
    /// any buckets the line's time closed.
    pub fn observe(
        &mut self,
        ts_ns: i64,
        obs: &Observation,
        info: &PatternInfo,
        level: Level,
    ) -> Vec<Signal> {
        let mut out = self.advance(ts_ns);
        let bucket = self.bucket(ts_ns);
        let (warmup, window, require) = (
            self.cfg.warmup_ns,
            self.cfg.deploy_window_ns,
            self.cfg.require_deploy,
        );
        let ns = self.ns_entry(&info.namespace, bucket);
        let first = *ns.first_ts.get_or_insert(ts_ns);
        let deploy = ns
            .deploy
            .as_ref()
            .filter(|(d, _)| ts_ns >= *d && ts_ns - *d < window)
            .map(|(_, v)| v.clone());
        if obs.is_new && ts_ns.saturating_sub(first) >= warmup && (deploy.is_some() || !require) {
            out.push(Signal {
                kind: SignalKind::NewPattern,
                namespace: info.namespace.clone(),
                pattern_id: obs.pattern_id,
                template: info.template.clone(),
                example: info.example.clone(),
                ts_ns,
                count: 1,
                baseline: 0.0,
                ratio: 1.0,
                deploy_version: deploy,
            });
        }
        let track = self
            .patterns
            .entry(obs.pattern_id)
            .or_insert_with(|| Track {
                namespace: info.namespace.clone(),
                template: info.template.clone(),
                example: info.example.clone(),
                level,
                count: 0,
                ewma: 0.0,
                history: 0,
                last_bucket: bucket,
            });
        if obs.template_changed {
            track.template.clone_from(&info.template);
        }
        track.level = track.level.max(level);
        track.count += 1;
        track.last_bucket = track.last_bucket.max(bucket);
        if self.patterns.len() > self.cfg.max_tracked {
            evict_oldest(&mut self.patterns, self.cfg.max_tracked, |t| t.last_bucket);
        }
        out
    }

    /// Moves event time to `watermark_ns`, closing every bucket that ends at
    /// or before it; returns the spike and surge signals of those buckets.
    pub fn advance(&mut self, watermark_ns: i64) -> Vec<Signal> {
        let b = self.bucket(watermark_ns);
        let Some(open) = self.open else {
            self.open = Some(b);
            return Vec::new();
        };
        if b <= open {
            return Vec::new();
        }
        self.open = Some(b);
        let mut out = self.close(open);
        // Empty buckets in between decay every baseline.
        let gap = (b - open - 1).min(10_000) as i32;
        if gap > 0 {
            let decay = (1.0 - self.cfg.ewma_alpha).powi(gap);
            let add = gap as u32;
            for t in self.patterns.values_mut() {
                t.ewma *= decay;
                t.history = t.history.saturating_add(add);
            }
            for n in self.namespaces.values_mut() {
                n.err_ewma *= decay;
                n.err_history = n.err_history.saturating_add(add);
            }
        }
        out.sort_by(|a, b| {
            (a.kind, &a.namespace, a.pattern_id).cmp(&(b.kind, &b.namespace, b.pattern_id))
        });
        out
    }

    fn close(&mut self, bucket: i64) -> Vec<Signal> {
        let c = &self.cfg;
        let start = bucket.saturating_mul(c.bucket_ns);
        let mut out = Vec::new();
        // Per namespace: error lines in the bucket and the top error template.
        let mut errors: FxHashMap<&str, (u64, PatternId, &Track)> = FxHashMap::default();
        for (id, t) in &self.patterns {
            if t.level.is_error() && t.count > 0 {
                let e = errors.entry(t.namespace.as_str()).or_insert((0, *id, t));
                e.0 += t.count;
                if (t.count, std::cmp::Reverse(*id)) > (e.2.count, std::cmp::Reverse(e.1)) {
                    (e.1, e.2) = (*id, t);
                }
            }
            if t.history >= c.min_history_buckets
                && t.count >= c.spike_min_count
                && t.count as f64 >= c.spike_factor * t.ewma.max(1.0)
            {
                out.push(signal(
                    SignalKind::RateSpike,
                    *id,
                    t,
                    start,
                    t.count,
                    t.ewma,
                ));
            }
        }
        let mut ns_counts: Vec<(String, u64, PatternId, Track)> = errors
            .into_iter()
            .map(|(ns, (n, id, t))| (ns.to_string(), n, id, t.clone()))
            .collect();
        ns_counts.sort_by(|a, b| a.0.cmp(&b.0));
        let alpha = c.ewma_alpha;
        for (name, n, id, top) in &ns_counts {
            if let Some(ns) = self.namespaces.get(name)
                && ns.err_history >= c.min_history_buckets
                && *n >= c.surge_min_count
                && *n as f64 >= c.surge_factor * ns.err_ewma.max(1.0)
            {
                out.push(signal(
                    SignalKind::ErrorSurge,
                    *id,
                    top,
                    start,
                    *n,
                    ns.err_ewma,
                ));
            }
        }
        let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
        for (name, n, _, _) in &ns_counts {
            counts.insert(name.as_str(), *n);
        }
        for (name, ns) in self.namespaces.iter_mut() {
            let n = counts.get(name.as_str()).copied().unwrap_or(0) as f64;
            ns.err_ewma = if ns.err_history == 0 {
                n
            } else {
                alpha * n + (1.0 - alpha) * ns.err_ewma
            };
            ns.err_history = ns.err_history.saturating_add(1);
        }
        for t in self.patterns.values_mut() {
            let n = t.count as f64;
            t.ewma = if t.history == 0 {
                n
            } else {
                alpha * n + (1.0 - alpha) * t.ewma
            };
            t.history = t.history.saturating_add(1);
            t.count = 0;
        }
        out
    }

    fn bucket(&self, ts_ns: i64) -> i64 {
        ts_ns.div_euclid(self.cfg.bucket_ns)
    }

    fn ns_entry(&mut self, name: &str, bucket: i64) -> &mut NsTrack {
        if !self.namespaces.contains_key(name) && self.namespaces.len() >= self.cfg.max_namespaces {
            evict_oldest(&mut self.namespaces, self.cfg.max_namespaces - 1, |n| {
                n.last_bucket
            });
        }
        let ns = self.namespaces.entry(name.to_string()).or_default();
        ns.last_bucket = ns.last_bucket.max(bucket);
        ns
    }
}

fn signal(
    kind: SignalKind,
    id: PatternId,
    t: &Track,
    ts_ns: i64,
    count: u64,
    baseline: f64,
) -> Signal {
    Signal {
        kind,
        namespace: t.namespace.clone(),
        pattern_id: id,
        template: t.template.clone(),
        example: t.example.clone(),
        ts_ns,
        count,
        baseline,
        ratio: count as f64 / baseline.max(1.0),
        deploy_version: None,
    }
}

/// Drops the least recently seen entries (ties broken by key) down to
/// 63/64 of `keep`, so eviction cost is amortised.
fn evict_oldest<K: Ord + Clone + std::hash::Hash + Eq, V>(
    map: &mut FxHashMap<K, V>,
    keep: usize,
    age: impl Fn(&V) -> i64,
) {
    let target = keep - keep / 64;
    let excess = map.len().saturating_sub(target);
    if excess == 0 {
        return;
    }
    let mut order: Vec<(i64, K)> = map.iter().map(|(k, v)| (age(v), k.clone())).collect();
    order.select_nth_unstable(excess - 1);
    for (_, k) in order.into_iter().take(excess) {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests;
