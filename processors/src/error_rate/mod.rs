//! Per-service error rate over a sliding event-time window.
//!
//! Two signals feed it: log lines (the share at `error`/`fatal`) and request
//! counters (`errors_total` over `requests_total`, from cumulative or delta
//! counters). Counts go into fixed buckets of `step`; when the watermark passes
//! a bucket's end, the window of the last `window` is evaluated per service. An
//! incident opens when either signal reaches `open_threshold` with at least
//! `min_events` behind it, and resolves once every signal with enough data is
//! below `resolve_threshold` (the gap between the two thresholds is the
//! hysteresis that keeps a borderline service from flapping).

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use serde::{Deserialize, Serialize};
use tocsin_ingest::Table;

use crate::columns;
use crate::decision::{Decision, DecisionAction, DecisionKind, Severity, format_ts};
use crate::stats::confidence_above;
use crate::{Output, Processor, ProcessorError};

/// Configuration of the error-rate processor (`[processors.error_rate]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorRateConfig {
    /// Whether the processor runs.
    pub enabled: bool,
    /// Length of the sliding window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How often the window is evaluated (and its bucket width).
    #[serde(with = "humantime_serde")]
    pub step: Duration,
    /// Error rate at or above which an incident opens (0..1).
    pub open_threshold: f64,
    /// Error rate below which an open incident resolves (0..1).
    pub resolve_threshold: f64,
    /// Fewest log lines or requests in a window for a signal to count.
    pub min_events: u64,
    /// Log levels counted as errors.
    pub error_levels: Vec<String>,
    /// Counter of requests.
    pub requests_metric: String,
    /// Counter of failed requests.
    pub errors_metric: String,
    /// `decision`: page directly with an `incident` decision; `alert`: raise
    /// a `HighErrorRate` alert instead, which the incidents processor
    /// correlates with everything else (one page per incident).
    pub emit: ErrorRateEmit,
}

/// What the error-rate processor emits when a service crosses its threshold.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorRateEmit {
    /// An `incident` decision of its own.
    #[default]
    Decision,
    /// An alert (`source = 'tocsin.error_rate'`) for the incidents processor.
    Alert,
}

impl Default for ErrorRateConfig {
    fn default() -> Self {
        ErrorRateConfig {
            enabled: true,
            window: Duration::from_secs(60),
            step: Duration::from_secs(10),
            open_threshold: 0.10,
            resolve_threshold: 0.05,
            min_events: 20,
            error_levels: vec!["error".into(), "fatal".into()],
            requests_metric: "requests_total".into(),
            errors_metric: "errors_total".into(),
            emit: ErrorRateEmit::Decision,
        }
    }
}

impl ErrorRateConfig {
    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.step.is_zero() || self.window < self.step {
            return Err("`window` must be at least `step`, and `step` above zero".into());
        }
        if !self.window.as_nanos().is_multiple_of(self.step.as_nanos()) {
            return Err("`window` must be a whole number of `step`s".into());
        }
        if !(0.0..=1.0).contains(&self.open_threshold)
            || !(0.0..=1.0).contains(&self.resolve_threshold)
        {
            return Err("thresholds are rates between 0 and 1".into());
        }
        if self.resolve_threshold > self.open_threshold {
            return Err("`resolve_threshold` must not exceed `open_threshold`".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Counts {
    log_lines: u64,
    error_lines: u64,
    requests: f64,
    errors: f64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.log_lines += o.log_lines;
        self.error_lines += o.error_lines;
        self.requests += o.requests;
        self.errors += o.errors;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OpenIncident {
    dedup_key: String,
    opened_ns: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ServiceState {
    /// Counts per bucket index (`ts / step`).
    buckets: BTreeMap<i64, Counts>,
    open: Option<OpenIncident>,
}

/// The checkpointed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    services: BTreeMap<String, ServiceState>,
    /// Last value per cumulative counter series, to turn them into deltas.
    counters: BTreeMap<String, f64>,
    /// Buckets below this index are closed: evaluated, and late for new rows.
    closed_before: Option<i64>,
    late_rows: u64,
    /// Severity of each firing `HighErrorRate` alert (alert mode): its
    /// resolution must carry the same labels to be the same alert.
    #[serde(default)]
    alert_severity: BTreeMap<String, String>,
}

/// The processor.
#[derive(Debug)]
pub struct ErrorRateProcessor {
    cfg: ErrorRateConfig,
    step_ns: i64,
    buckets_per_window: i64,
    state: State,
}

const NAME: &str = "error_rate";

impl ErrorRateProcessor {
    /// A processor with the given (validated) configuration.
    pub fn new(cfg: ErrorRateConfig) -> Self {
        let step_ns = (cfg.step.as_nanos() as i64).max(1);
        let buckets_per_window = (cfg.window.as_nanos() as i64 / step_ns).max(1);
        ErrorRateProcessor {
            cfg,
            step_ns,
            buckets_per_window,
            state: State::default(),
        }
    }

    /// Rows that arrived after their window had been evaluated.
    pub fn late_rows(&self) -> u64 {
        self.state.late_rows
    }

    fn bucket_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.step_ns)
    }

    fn counts_mut(&mut self, service: &str, bucket: i64) -> &mut Counts {
        // Look up by `&str` first so the common case does not allocate.
        if !self.state.services.contains_key(service) {
            self.state
                .services
                .insert(service.to_owned(), ServiceState::default());
        }
        let st = self
            .state
            .services
            .get_mut(service)
            .expect("service state inserted above");
        st.buckets.entry(bucket).or_default()
    }

    /// Whether a row at `bucket` can still be counted.
    fn accept(&mut self, bucket: i64) -> bool {
        match self.state.closed_before {
            Some(c) if bucket < c => {
                self.state.late_rows += 1;
                false
            }
            Some(_) => true,
            None => {
                // The first row starts the clock.
                self.state.closed_before = Some(bucket);
                true
            }
        }
    }

    fn process_logs(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let service = columns::strings(NAME, batch, "service")?;
        let level = columns::strings(NAME, batch, "level")?;
        // Runs of rows from one service are common; avoid a map lookup each.
        let mut run: Option<(String, i64, Counts)> = None;
        for i in 0..batch.num_rows() {
            let bucket = self.bucket_of(ts.value(i));
            if !self.accept(bucket) {
                continue;
            }
            let svc = if service.is_null(i) {
                "unknown"
            } else {
                service.value(i)
            };
            let is_error = self.cfg.error_levels.iter().any(|l| l == level.value(i));
            match &mut run {
                Some((s, b, c)) if s == svc && *b == bucket => {
                    c.log_lines += 1;
                    c.error_lines += u64::from(is_error);
                }
                _ => {
                    if let Some((s, b, c)) = run.take() {
                        self.counts_mut(&s, b).add(&c);
                    }
                    run = Some((
                        svc.to_owned(),
                        bucket,
                        Counts {
                            log_lines: 1,
                            error_lines: u64::from(is_error),
                            ..Counts::default()
                        },
                    ));
                }
            }
        }
        if let Some((s, b, c)) = run {
            self.counts_mut(&s, b).add(&c);
        }
        Ok(())
    }

    fn process_metrics(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let name = columns::strings(NAME, batch, "name")?;
        let service = columns::strings(NAME, batch, "service")?;
        let host = columns::strings(NAME, batch, "host")?;
        let value = columns::f64s(NAME, batch, "value")?;
        let labels = columns::map(NAME, batch, "labels")?;
        for i in 0..batch.num_rows() {
            let n = name.value(i);
            let is_requests = n == self.cfg.requests_metric;
            if !is_requests && n != self.cfg.errors_metric {
                continue;
            }
            let v = value.value(i);
            if !v.is_finite() {
                continue;
            }
            let svc = if service.is_null(i) {
                "unknown"
            } else {
                service.value(i)
            };
            // The series identity: name, service, host and every label.
            let entries = labels.value(i);
            let keys = entries.column(0).as_string::<i32>();
            let vals = entries.column(1).as_string::<i32>();
            let mut key = format!(
                "{n}\u{1f}{svc}\u{1f}{}",
                if host.is_null(i) { "" } else { host.value(i) }
            );
            let mut delta_temporality = false;
            for j in 0..keys.len() {
                if keys.value(j) == "temporality" && vals.value(j) == "delta" {
                    delta_temporality = true;
                }
                key.push('\u{1f}');
                key.push_str(keys.value(j));
                key.push('=');
                key.push_str(vals.value(j));
            }
            let delta = if delta_temporality {
                v
            } else {
                let previous = self.state.counters.insert(key, v);
                match previous {
                    // A drop means the counter restarted from zero.
                    Some(p) if v >= p => v - p,
                    Some(_) => v,
                    // The first sample only sets the baseline.
                    None => continue,
                }
            };
            let bucket = self.bucket_of(ts.value(i));
            if !self.accept(bucket) {
                continue;
            }
            let c = self.counts_mut(svc, bucket);
            if is_requests {
                c.requests += delta;
            } else {
                c.errors += delta;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, end_bucket: i64, out: &mut Vec<Decision>) {
        // The window is buckets [end_bucket - n, end_bucket).
        let start_bucket = end_bucket - self.buckets_per_window;
        let window_start = start_bucket * self.step_ns;
        let window_end = end_bucket * self.step_ns;
        for (service, st) in self.state.services.iter_mut() {
            let mut sum = Counts::default();
            for (_, c) in st.buckets.range(start_bucket..end_bucket) {
                sum.add(c);
            }
            let min = self.cfg.min_events as f64;
            let log_rate = (sum.log_lines as f64 >= min)
                .then(|| sum.error_lines as f64 / sum.log_lines as f64);
            let req_rate = (sum.requests >= min && sum.requests > 0.0)
                .then(|| (sum.errors / sum.requests).min(1.0));
            let Some((rate, n)) = [
                log_rate.map(|r| (r, sum.log_lines as f64)),
                req_rate.map(|r| (r, sum.requests)),
            ]
            .into_iter()
            .flatten()
            .max_by(|a, b| a.0.total_cmp(&b.0)) else {
                continue;
            };
            let ctx = Evidence {
                service,
                window_start,
                window_end,
                sum: &sum,
                log_rate,
                req_rate,
                cfg: &self.cfg,
            };
            match &st.open {
                None if rate >= self.cfg.open_threshold => {
                    let dedup_key = format!("{NAME}:{service}:{}", format_ts(window_end));
                    let severity = if rate >= (2.0 * self.cfg.open_threshold).min(0.5) {
                        Severity::Critical
                    } else {
                        Severity::Error
                    };
                    out.push(ctx.decision(
                        &dedup_key,
                        DecisionAction::Open,
                        severity,
                        format!(
                            "{service}: error rate {:.1}% over the last {} reached the {:.1}% threshold",
                            rate * 100.0,
                            humantime::format_duration(self.cfg.window),
                            self.cfg.open_threshold * 100.0
                        ),
                        confidence_above(rate, n, self.cfg.open_threshold),
                    ));
                    st.open = Some(OpenIncident {
                        dedup_key,
                        opened_ns: window_end,
                    });
                }
                Some(open) if rate < self.cfg.resolve_threshold => {
                    out.push(ctx.decision(
                        &open.dedup_key,
                        DecisionAction::Resolve,
                        Severity::Info,
                        format!(
                            "{service}: error rate back to {:.1}% (below {:.1}%) after {}",
                            rate * 100.0,
                            self.cfg.resolve_threshold * 100.0,
                            humantime::format_duration(Duration::from_secs(
                                ((window_end - open.opened_ns) / 1_000_000_000).max(0) as u64
                            ))
                        ),
                        1.0 - confidence_above(rate, n, self.cfg.resolve_threshold),
                    ));
                    st.open = None;
                }
                _ => {}
            }
        }
        // Drop buckets that can no longer be part of a window.
        let keep_from = end_bucket + 1 - self.buckets_per_window;
        self.state.services.retain(|_, st| {
            st.buckets = st.buckets.split_off(&keep_from);
            !st.buckets.is_empty() || st.open.is_some()
        });
    }
}

struct Evidence<'a> {
    service: &'a str,
    window_start: i64,
    window_end: i64,
    sum: &'a Counts,
    log_rate: Option<f64>,
    req_rate: Option<f64>,
    cfg: &'a ErrorRateConfig,
}

impl Evidence<'_> {
    fn decision(
        &self,
        dedup_key: &str,
        action: DecisionAction,
        severity: Severity,
        reason: String,
        confidence: f64,
    ) -> Decision {
        let start = format_ts(self.window_start);
        let end = format_ts(self.window_end);
        let svc = self.service.replace('\'', "''");
        let levels = self
            .cfg
            .error_levels
            .iter()
            .map(|l| format!("'{}'", l.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let evidence_sql = format!(
            "SELECT count(*) AS log_lines, count(*) FILTER (WHERE level IN ({levels})) AS error_lines \
             FROM logs WHERE service = '{svc}' AND ts >= TIMESTAMP '{start}' AND ts < TIMESTAMP '{end}'"
        );
        Decision {
            ts: self.window_end,
            id: Decision::make_id(dedup_key, action),
            kind: DecisionKind::Incident,
            action,
            target: self.service.to_owned(),
            severity,
            reason,
            evidence: serde_json::json!({
                "service": self.service,
                "window_start": start,
                "window_end": end,
                "log_lines": self.sum.log_lines,
                "error_lines": self.sum.error_lines,
                "log_error_rate": self.log_rate,
                "requests": self.sum.requests,
                "request_errors": self.sum.errors,
                "request_error_rate": self.req_rate,
                "open_threshold": self.cfg.open_threshold,
                "resolve_threshold": self.cfg.resolve_threshold,
            }),
            evidence_sql,
            dedup_key: dedup_key.to_owned(),
            confidence: (confidence * 1e4).round() / 1e4,
            processor: NAME.to_owned(),
        }
    }
}

impl Processor for ErrorRateProcessor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> &'static [Table] {
        &[Table::Logs, Table::Metrics]
    }

    fn process(
        &mut self,
        table: Table,
        batch: &RecordBatch,
        _out: &mut Output,
    ) -> Result<(), ProcessorError> {
        match table {
            Table::Logs => self.process_logs(batch),
            Table::Metrics => self.process_metrics(batch),
            _ => Ok(()),
        }
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        let Some(mut closed) = self.state.closed_before else {
            return;
        };
        // Bucket b ends at (b + 1) * step: every bucket below `target` has ended.
        let target = self.bucket_of(watermark_ns);
        while closed < target {
            let next = closed + 1;
            // Windows without any data decide nothing; jump over them so a
            // gap in event time costs nothing.
            let first_data = self
                .state
                .services
                .values()
                .filter_map(|s| s.buckets.range(next - self.buckets_per_window..).next())
                .map(|(b, _)| *b)
                .min();
            match first_data {
                None => closed = target,
                Some(d) if d >= next => closed = d.min(target),
                Some(_) => {
                    closed = next;
                    match self.cfg.emit {
                        ErrorRateEmit::Decision => self.evaluate(closed, &mut out.decisions),
                        ErrorRateEmit::Alert => {
                            let mut decisions = Vec::new();
                            self.evaluate(closed, &mut decisions);
                            for d in &decisions {
                                let sev = &mut self.state.alert_severity;
                                let severity = if d.action == DecisionAction::Resolve {
                                    sev.remove(&d.target)
                                } else {
                                    Some(
                                        sev.entry(d.target.clone())
                                            .or_insert_with(|| d.severity.as_str().to_owned())
                                            .clone(),
                                    )
                                };
                                let severity =
                                    severity.unwrap_or_else(|| d.severity.as_str().to_owned());
                                out.alerts.push(as_alert(d, severity));
                            }
                        }
                    }
                }
            }
        }
        self.state.closed_before = Some(closed);
    }

    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError> {
        crate::state_to_json(NAME, &self.state, out)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        self.state = crate::state_from_json(NAME, state)?;
        Ok(())
    }
}

/// The alert standing for an error-rate decision: firing while the
/// incident is open, resolved with it; the labels are the same at every step
/// so the alert keeps one fingerprint.
fn as_alert(d: &Decision, severity: String) -> crate::output::RaisedAlert {
    let labels: BTreeMap<String, String> = [
        ("alertname", "HighErrorRate"),
        ("service", d.target.as_str()),
        ("severity", severity.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let annotations: BTreeMap<String, String> = [
        ("summary", d.reason.as_str()),
        ("evidence_sql", d.evidence_sql.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let resolved = d.action == DecisionAction::Resolve;
    crate::output::RaisedAlert {
        ts: d.ts,
        alertname: "HighErrorRate".into(),
        status: if resolved {
            crate::output::AlertStatus::Resolved
        } else {
            crate::output::AlertStatus::Firing
        },
        severity,
        service: Some(d.target.clone()),
        labels,
        annotations,
        starts_at: d.ts,
        ends_at: resolved.then_some(d.ts),
        source: "tocsin.error_rate",
    }
}

#[cfg(test)]
mod tests;
