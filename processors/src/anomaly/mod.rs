//! Streaming anomaly detection over the `metrics` table.
//!
//! Every series (metric name, service, host and labels) gets its own
//! [`SeriesDetector`] from `tocsin-anomaly`; each point is scored in [0, 1].
//! A [`SignalTracker`] with hysteresis turns the scores into alerts with
//! `source = "tocsin.anomaly"`, which join the `alerts` table and feed alert
//! correlation. Rules, matched on the metric name with a glob, choose the
//! direction, sensitivity, value range, thresholds, minimum duration and
//! severity.
//!
//! Cumulative counters are scored as per-second rates (a drop is a counter
//! reset and skips one point), since their raw values only ever grow.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{MapArray, RecordBatch};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use tocsin_anomaly::{
    DetectorConfig, SeriesDetector, SignalConfig, SignalDirection, SignalTracker,
};
use tocsin_ingest::Table;

use self::alert::{close_signal, raise};
use crate::columns;
use crate::{Output, Processor, ProcessorError};

const NAME: &str = "anomaly";
/// The `source` of the alerts this processor raises.
pub const ALERT_SOURCE: &str = "tocsin.anomaly";
/// The `alertname` of the alerts this processor raises.
pub const ALERT_NAME: &str = "MetricAnomaly";

/// Which deviations raise an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyDirection {
    /// Only values above the expected one (latency, errors).
    Up,
    /// Only values below the expected one (throughput, free space).
    Down,
    /// Either way.
    #[default]
    Both,
}

/// What to do with the series of metrics whose name matches `metric`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyRule {
    /// Glob over the metric name (`*` matches everything).
    pub metric: String,
    /// Whether matching series are scored at all.
    pub enabled: bool,
    /// Which deviations count.
    pub direction: AnomalyDirection,
    /// Overrides the detector's sensitivity (higher: more alerts).
    pub sensitivity: Option<f64>,
    /// The metric's value range `[min, max]` when known (`[0, 100]` for a
    /// percentage): switches on the level-novelty member of the detector,
    /// which scores moves to levels the series has never held.
    pub value_range: Option<[f64; 2]>,
    /// Score at or above which an alert starts.
    pub threshold: f64,
    /// Score below which an alert ends (hysteresis), at most `threshold`.
    pub clear_threshold: f64,
    /// How long the score must stay up before the alert fires.
    #[serde(with = "humantime_serde")]
    pub min_duration: Duration,
    /// Severity of the raised alert.
    pub severity: String,
}

impl Default for AnomalyRule {
    fn default() -> Self {
        AnomalyRule {
            metric: "*".into(),
            enabled: true,
            direction: AnomalyDirection::Both,
            sensitivity: None,
            value_range: None,
            // The detector's scores are calibrated so that the threshold that
            // maximises the NAB score sits near 0.28; normal points stay
            // under about 0.23.
            threshold: 0.28,
            clear_threshold: 0.1,
            min_duration: Duration::ZERO,
            severity: "warning".into(),
        }
    }
}

/// Configuration of the anomaly processor (`[processors.anomaly]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Whether the processor runs.
    pub enabled: bool,
    /// Most series tracked at once; the least recently updated are dropped
    /// beyond it, so memory stays bounded whatever the cardinality.
    pub max_series: usize,
    /// A series with an open anomaly that sends no point for this long (in
    /// event time, by the watermark) has it resolved, with a summary that
    /// says the series stopped reporting; otherwise the anomaly would stay
    /// open until the series' next point, which may never come. Zero
    /// keeps anomalies open until a point closes them.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// The detector's settings (shared by every series).
    pub detector: DetectorConfig,
    /// Rules, first match wins; a metric no rule matches is not scored.
    pub rules: Vec<AnomalyRule>,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            enabled: true,
            max_series: 100_000,
            stale_after: Duration::from_secs(15 * 60),
            detector: DetectorConfig::default(),
            rules: vec![AnomalyRule::default()],
        }
    }
}

impl AnomalyConfig {
    /// Checks the rules.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_series == 0 {
            return Err("`max_series` must be above zero".into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            Glob::new(&r.metric).map_err(|e| format!("rules[{i}].metric: {e}"))?;
            if !(0.0..=1.0).contains(&r.threshold) || !(0.0..=1.0).contains(&r.clear_threshold) {
                return Err(format!("rules[{i}]: thresholds are scores between 0 and 1"));
            }
            if r.clear_threshold > r.threshold {
                return Err(format!(
                    "rules[{i}]: `clear_threshold` must not exceed `threshold`"
                ));
            }
            if r.sensitivity.is_some_and(|s| s.is_nan() || s <= 0.0) {
                return Err(format!("rules[{i}]: `sensitivity` must be above zero"));
            }
            if let Some([lo, hi]) = r.value_range
                && !(lo.is_finite() && hi.is_finite() && lo < hi)
            {
                return Err(format!(
                    "rules[{i}]: `value_range` must be [min, max] with finite min < max"
                ));
            }
        }
        Ok(())
    }
}

/// One tracked series.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Series {
    name: String,
    service: Option<String>,
    host: Option<String>,
    labels: BTreeMap<String, String>,
    /// Index of the matching rule; `None` when the series is not scored.
    rule: Option<usize>,
    detector: Option<SeriesDetector>,
    tracker: Option<SignalTracker>,
    last_ts: i64,
    /// Previous raw value of a cumulative counter.
    counter_last: Option<f64>,
    /// Updated since the last checkpoint (see `checkpoint.rs`).
    #[serde(skip)]
    changed: bool,
}

/// The checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    series: HashMap<u64, Series>,
    late_points: u64,
    evicted: u64,
    /// Keys evicted since the last checkpoint.
    #[serde(skip)]
    removed: Vec<u64>,
}

/// The processor.
#[derive(Clone)]
pub struct AnomalyProcessor {
    cfg: AnomalyConfig,
    /// One per rule; `None` for a glob that does not compile (never matches).
    matchers: Vec<Option<GlobMatcher>>,
    /// One detector configuration per rule, shared by its series.
    detector_configs: Vec<Arc<DetectorConfig>>,
    state: State,
    /// Watermark at or after which the next look for stale series is due
    /// (every quarter of `stale_after`, so the walk over all series is
    /// amortised over many points).
    next_stale_check_ns: i64,
}

impl std::fmt::Debug for AnomalyProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnomalyProcessor")
            .field("series", &self.state.series.len())
            .finish()
    }
}

impl AnomalyProcessor {
    /// A processor with `cfg` (validated by [`AnomalyConfig::validate`]; an
    /// invalid glob matches nothing).
    pub fn new(cfg: AnomalyConfig) -> Self {
        let matchers = cfg
            .rules
            .iter()
            .map(|r| Glob::new(&r.metric).ok().map(|g| g.compile_matcher()))
            .collect();
        let detector_configs = cfg
            .rules
            .iter()
            .map(|r| {
                let mut dc = cfg.detector.clone();
                if let Some(s) = r.sensitivity {
                    dc.sensitivity = s;
                }
                if r.value_range.is_some() {
                    dc.value_range = r.value_range;
                }
                Arc::new(dc)
            })
            .collect();
        AnomalyProcessor {
            cfg,
            matchers,
            detector_configs,
            state: State::default(),
            next_stale_check_ns: i64::MIN,
        }
    }

    /// Series currently tracked.
    pub fn series(&self) -> usize {
        self.state.series.len()
    }

    /// Points older than their series' latest point, ignored.
    pub fn late_points(&self) -> u64 {
        self.state.late_points
    }

    fn rule_for(&self, name: &str) -> Option<usize> {
        let i = self
            .matchers
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.is_match(name)))?;
        self.cfg.rules[i].enabled.then_some(i)
    }

    fn new_series(&self, row: &Row<'_>) -> Series {
        let rule = self.rule_for(row.name);
        let (detector, tracker) = match rule.and_then(|i| Some((i, self.cfg.rules.get(i)?))) {
            Some((i, r)) => {
                let sc = SignalConfig {
                    direction: match r.direction {
                        AnomalyDirection::Up => SignalDirection::Up,
                        AnomalyDirection::Down => SignalDirection::Down,
                        AnomalyDirection::Both => SignalDirection::Both,
                    },
                    threshold: r.threshold,
                    clear_threshold: r.clear_threshold,
                    min_duration_ns: r.min_duration.as_nanos().min(i64::MAX as u128) as i64,
                };
                let dc = self.detector_configs.get(i).cloned().unwrap_or_default();
                (
                    Some(SeriesDetector::with_shared_config(dc)),
                    Some(SignalTracker::new(&sc)),
                )
            }
            None => (None, None),
        };
        Series {
            name: row.name.to_owned(),
            service: row.service.map(str::to_owned),
            host: row.host.map(str::to_owned),
            labels: row.labels.clone(),
            rule,
            detector,
            tracker,
            last_ts: i64::MIN,
            counter_last: None,
            changed: true,
        }
    }

    /// Drops the least recently updated hundredth of the series (at least
    /// one), so eviction is amortised rather than done on every new series.
    /// An evicted series' open anomaly is resolved, as nothing would
    /// resolve it later.
    fn evict(&mut self, now_ns: i64, out: &mut Output) {
        let n = (self.state.series.len() / 100).max(1);
        let mut by_age: Vec<(i64, u64)> = self
            .state
            .series
            .iter()
            .map(|(k, s)| (s.last_ts, *k))
            .collect();
        by_age.sort_unstable();
        for (_, k) in by_age.into_iter().take(n) {
            if let Some(mut series) = self.state.series.remove(&k) {
                close_signal(
                    &self.cfg.rules,
                    &mut series,
                    now_ns,
                    "is no longer tracked (max_series)",
                    out,
                );
            }
            self.state.removed.push(k);
            self.state.evicted += 1;
        }
    }

    fn observe(&mut self, row: Row<'_>, out: &mut Output) {
        let key = row.key();
        if !self.state.series.contains_key(&key) {
            if self.state.series.len() >= self.cfg.max_series {
                self.evict(row.ts, out);
            }
            let s = self.new_series(&row);
            self.state.series.insert(key, s);
        }
        let Some(series) = self.state.series.get_mut(&key) else {
            return;
        };
        if row.ts <= series.last_ts {
            self.state.late_points += 1;
            return;
        }
        let previous_ts = series.last_ts;
        series.last_ts = row.ts;
        series.changed = true;
        let (Some(rule), Some(detector), Some(tracker)) = (
            series.rule,
            series.detector.as_mut(),
            series.tracker.as_mut(),
        ) else {
            return;
        };
        let value = if row.counter {
            let last = series.counter_last.replace(row.value);
            match last {
                Some(l) if row.value >= l && previous_ts > i64::MIN => {
                    let dt = (row.ts - previous_ts) as f64 / 1e9;
                    (row.value - l) / dt
                }
                // First sample or a reset: no rate for this interval.
                _ => return,
            }
        } else {
            row.value
        };
        let score = detector.update(row.ts, value);
        let Some(event) = tracker.update(row.ts, &score) else {
            return;
        };
        let Some(rule) = self.cfg.rules.get(rule) else {
            return;
        };
        out.alerts
            .push(raise(series, rule, &event, value, &score, row.ts));
    }
}

/// One metric sample, borrowed from a batch.
struct Row<'a> {
    ts: i64,
    name: &'a str,
    value: f64,
    counter: bool,
    service: Option<&'a str>,
    host: Option<&'a str>,
    labels: BTreeMap<String, String>,
}

impl Row<'_> {
    /// FNV-1a over the series identity; 64 bits make collisions negligible
    /// at the series counts `max_series` allows.
    fn key(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |b: &[u8]| {
            for &x in b {
                h ^= u64::from(x);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        feed(self.name.as_bytes());
        feed(self.service.unwrap_or("\u{0}").as_bytes());
        feed(self.host.unwrap_or("\u{0}").as_bytes());
        for (k, v) in &self.labels {
            feed(k.as_bytes());
            feed(v.as_bytes());
        }
        h
    }
}

fn labels_of(labels: &MapArray, i: usize) -> BTreeMap<String, String> {
    columns::map_entries(labels, i)
        .map(|(k, v)| (k.to_owned(), v.unwrap_or_default().to_owned()))
        .collect()
}

impl Processor for AnomalyProcessor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> &'static [Table] {
        &[Table::Metrics]
    }

    fn process(
        &mut self,
        _table: Table,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let value = columns::f64s(NAME, batch, "value")?;
        let name = columns::strings(NAME, batch, "name")?;
        let kind = columns::strings(NAME, batch, "kind")?;
        let service = columns::strings(NAME, batch, "service")?;
        let host = columns::strings(NAME, batch, "host")?;
        let labels = columns::map(NAME, batch, "labels")?;
        for i in 0..batch.num_rows() {
            let v = value.value(i);
            let k = kind.value(i);
            // Histogram and summary rows are distributions, not a level.
            if !v.is_finite() || !(k == "gauge" || k == "counter") {
                continue;
            }
            let row = Row {
                ts: ts.value(i),
                name: name.value(i),
                value: v,
                counter: k == "counter",
                service: columns::opt(service, i),
                host: columns::opt(host, i),
                labels: labels_of(labels, i),
            };
            self.observe(row, out);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        self.close_stale(watermark_ns, out);
    }

    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError> {
        self.write_snapshot(out)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        self.read_snapshot(state)
    }

    fn snapshot_changes(&mut self, out: &mut dyn std::io::Write) -> Result<bool, ProcessorError> {
        self.write_changes(out)?;
        Ok(true)
    }

    fn apply_changes(&mut self, changes: &[u8]) -> Result<(), ProcessorError> {
        self.read_changes(changes)
    }
}

mod alert;
mod checkpoint;
#[cfg(test)]
mod tests;
