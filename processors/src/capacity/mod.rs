//! Capacity decisions over the `metrics` table: `scale`, `rightsize`, `idle`.
//!
//! Every series of a configured resource (a metric name glob with the
//! resource's limit and size) is averaged into event-time buckets (default
//! hourly) kept in a bounded history. When event time passes each
//! evaluation point, the series is forecast with `tocsin-forecast`:
//!
//! - `scale` when the point forecast crosses the limit within the lead
//!   time, or when a significant linear trend of the history does (what
//!   Prometheus's `predict_linear` does for disks: the forecaster is tuned
//!   for the next days, a month ahead a steady fill rate is the better
//!   guide), with the predicted date, a recommended capacity and a
//!   confidence; resolved when neither does any more;
//! - `rightsize` when, over the observation period, the p95 of utilisation
//!   (value / limit) leaves room to shrink, with the suggested size and the
//!   saving at the configured cost per unit;
//! - `idle` when the p95 of utilisation stays under `idle_below` for the
//!   whole idle TTL (a preview environment nobody uses).

use std::collections::{BTreeMap, VecDeque};

use arrow::array::RecordBatch;
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use tocsin_forecast::capacity::{RightsizeParams, is_idle, recommended_capacity, rightsize};
use tocsin_forecast::{ForecastConfig, season_candidates_for_step};
use tocsin_ingest::Table;

use crate::columns;
use crate::decision::{Decision, DecisionAction, DecisionKind, Severity, format_ts};
use crate::{Output, Processor, ProcessorError};

mod config;
mod trend;

pub use config::{CapacityConfig, CapacityResource};
use trend::linear_crossing;

const NAME: &str = "capacity";

/// One watched series.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Series {
    resource: usize,
    name: String,
    service: Option<String>,
    host: Option<String>,
    /// Bucket means, oldest first; the last is the bucket before `open_bucket`.
    history: VecDeque<f64>,
    open_bucket: i64,
    sum: f64,
    n: u64,
    next_eval_ns: i64,
    /// Open decisions by kind name.
    open: BTreeMap<String, i64>,
}

impl Series {
    fn target(&self) -> String {
        let mut t = self.name.clone();
        let mut labels = Vec::new();
        if let Some(s) = &self.service {
            labels.push(format!("service=\"{s}\""));
        }
        if let Some(h) = &self.host {
            labels.push(format!("host=\"{h}\""));
        }
        if !labels.is_empty() {
            t.push('{');
            t.push_str(&labels.join(","));
            t.push('}');
        }
        t
    }

    fn close_bucket(&mut self, next: i64, max: usize) {
        if self.n > 0 {
            self.history.push_back(self.sum / self.n as f64);
        }
        // Buckets without data repeat the last mean (a gap is not a zero),
        // at most a full history's worth.
        let gap = (next - self.open_bucket - 1).clamp(0, max as i64);
        if let Some(&last) = self.history.back() {
            for _ in 0..gap {
                self.history.push_back(last);
            }
        }
        while self.history.len() > max {
            self.history.pop_front();
        }
        self.open_bucket = next;
        self.sum = 0.0;
        self.n = 0;
    }
}

/// The checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    series: BTreeMap<String, Series>,
    late_points: u64,
}

/// The processor.
#[derive(Debug, Clone)]
pub struct CapacityProcessor {
    cfg: CapacityConfig,
    matchers: Vec<Option<GlobMatcher>>,
    state: State,
}

impl CapacityProcessor {
    /// A processor with `cfg` (validated by [`CapacityConfig::validate`]).
    pub fn new(cfg: CapacityConfig) -> Self {
        let matchers = cfg
            .resources
            .iter()
            .map(|r| Glob::new(&r.metric).ok().map(|g| g.compile_matcher()))
            .collect();
        CapacityProcessor {
            cfg,
            matchers,
            state: State::default(),
        }
    }

    fn resource_for(&self, name: &str) -> Option<usize> {
        self.matchers
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.is_match(name)))
    }

    fn step_ns(&self) -> i64 {
        self.cfg.step.as_nanos().min(i64::MAX as u128) as i64
    }

    fn observe(&mut self, name: &str, service: Option<&str>, host: Option<&str>, ts: i64, v: f64) {
        let step = self.step_ns();
        let bucket = ts.div_euclid(step);
        let key = format!(
            "{name}\u{1f}{}\u{1f}{}",
            service.unwrap_or(""),
            host.unwrap_or("")
        );
        if !self.state.series.contains_key(&key) {
            let Some(resource) = self.resource_for(name) else {
                return;
            };
            if self.state.series.len() >= self.cfg.max_series {
                return;
            }
            let first_eval = (bucket + 1).saturating_mul(step);
            self.state.series.insert(
                key.clone(),
                Series {
                    resource,
                    name: name.to_owned(),
                    service: service.map(str::to_owned),
                    host: host.map(str::to_owned),
                    history: VecDeque::new(),
                    open_bucket: bucket,
                    sum: 0.0,
                    n: 0,
                    next_eval_ns: first_eval,
                    open: BTreeMap::new(),
                },
            );
        }
        let max = self.cfg.history;
        let Some(s) = self.state.series.get_mut(&key) else {
            return;
        };
        if bucket < s.open_bucket {
            self.state.late_points += 1;
            return;
        }
        if bucket > s.open_bucket {
            s.close_bucket(bucket, max);
        }
        s.sum += v;
        s.n += 1;
    }

    fn evaluate(&self, s: &Series, now: i64, out: &mut Vec<Decision>) -> BTreeMap<String, i64> {
        let r = &self.cfg.resources[s.resource];
        let mut open = s.open.clone();
        let values: Vec<f64> = s.history.iter().copied().collect();
        if values.len() < self.cfg.min_history {
            return open;
        }
        let step_ns = self.step_ns();
        let step_s = (step_ns / 1_000_000_000).max(1) as u64;
        let target = s.target();
        let horizon = self.cfg.steps(self.cfg.lead_time).clamp(1, 24 * 90);
        let fc = ForecastConfig {
            horizon,
            step_seconds: Some(step_s),
            season_candidates: season_candidates_for_step(step_s),
            ..ForecastConfig::default()
        };
        // History ends with the last closed bucket; step k of the forecast
        // is the bucket k after it.
        let end_ns = s.open_bucket.saturating_mul(step_ns);
        let evidence_sql = evidence_sql(s, end_ns - values.len() as i64 * step_ns, end_ns, step_s);
        let mut emit = |kind: DecisionKind,
                        action: DecisionAction,
                        severity: Severity,
                        reason: String,
                        evidence: serde_json::Value,
                        confidence: f64| {
            let dedup_key = format!("{}:{target}", kind.as_str());
            out.push(Decision {
                ts: now,
                id: Decision::make_id(&dedup_key, action),
                kind,
                action,
                target: target.clone(),
                severity,
                reason,
                evidence,
                evidence_sql: evidence_sql.clone(),
                dedup_key,
                confidence,
                processor: NAME.to_owned(),
            });
        };
        let mut transition = |kind: DecisionKind, now_open: bool, emit_open: &mut dyn FnMut()| {
            let was_open = open.contains_key(kind.as_str());
            if now_open && !was_open {
                emit_open();
                open.insert(kind.as_str().to_owned(), now);
                None
            } else if !now_open && was_open {
                open.remove(kind.as_str());
                Some(kind)
            } else {
                None
            }
        };
        let mut resolved = Vec::new();

        // scale
        let forecast = tocsin_forecast::forecast(&values, &fc).ok();
        let by_forecast = forecast.as_ref().and_then(|f| {
            let x = tocsin_forecast::capacity::time_to_exhaustion(f, r.limit)?;
            x.point_steps.map(|steps| (steps, "forecast"))
        });
        let trend = linear_crossing(&values, r.limit, horizon);
        let by_trend = trend.map(|(steps, _)| (steps, "linear trend"));
        let crossing = match (by_forecast, by_trend) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        let mut open_scale = || {
            if let Some((steps, method)) = crossing {
                let at = end_ns.saturating_add((steps as i64).saturating_mul(step_ns));
                // Enough for the higher of the forecast's upper bound and
                // the trend's value at the end of the lead time.
                let from_forecast = forecast
                    .as_ref()
                    .and_then(|f| recommended_capacity(f, self.cfg.headroom));
                let from_trend = trend.map(|(_, v)| v * self.cfg.headroom);
                let recommended = match (from_forecast, from_trend) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                // Both methods agreeing is worth more than one of them.
                let confidence = if by_forecast.is_some() && by_trend.is_some() {
                    0.9
                } else {
                    0.7
                };
                let days = (at - now) as f64 / 86_400e9;
                emit(
                    DecisionKind::Scale,
                    DecisionAction::Open,
                    if days < 7.0 {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    format!(
                        "{target} is forecast to reach its limit {} by {} (in {days:.1} days)",
                        r.limit,
                        format_ts(at)
                    ),
                    serde_json::json!({
                        "limit": r.limit,
                        "predicted_at": format_ts(at),
                        "steps_ahead": steps,
                        "predicted_by": method,
                        "forecast_crossing_steps": by_forecast.map(|c| c.0),
                        "trend_crossing_steps": by_trend.map(|c| c.0),
                        "recommended_capacity": recommended,
                        "model": forecast.as_ref().map(|f| f.model.clone()),
                        "last_value": values.last(),
                    }),
                    confidence,
                );
            }
        };
        resolved.extend(transition(
            DecisionKind::Scale,
            crossing.is_some(),
            &mut open_scale,
        ));

        // rightsize
        let window = self.cfg.steps(self.cfg.rightsize_after).max(1);
        if values.len() >= window {
            let util: Vec<f64> = values[values.len() - window..]
                .iter()
                .map(|v| v / r.limit)
                .collect();
            let params = RightsizeParams {
                current_size: r.size,
                target_utilisation: r.target_utilisation,
                quantile: 0.95,
                granularity: r.granularity,
                min_size: r.min_size,
                cost_per_unit: r.cost_per_unit,
            };
            let suggestion = rightsize(&util, &params)
                .ok()
                .filter(|x| x.suggested_size < r.size);
            let mut open_rightsize = || {
                if let Some(x) = &suggestion {
                    emit(
                        DecisionKind::Rightsize,
                        DecisionAction::Open,
                        Severity::Info,
                        format!(
                            "{target} needs {} of its {} units at p95; saving {:.2} per month",
                            x.suggested_size, r.size, x.saving
                        ),
                        serde_json::json!({
                            "current_size": r.size,
                            "suggested_size": x.suggested_size,
                            "p95_demand": x.demand,
                            "saving_per_month": x.saving,
                            "window_buckets": window,
                        }),
                        0.8,
                    );
                }
            };
            resolved.extend(transition(
                DecisionKind::Rightsize,
                suggestion.is_some(),
                &mut open_rightsize,
            ));
        }

        // idle
        let window = self.cfg.steps(self.cfg.idle_after).max(1);
        if values.len() >= window {
            let util: Vec<f64> = values[values.len() - window..]
                .iter()
                .map(|v| v / r.limit)
                .collect();
            let idle = is_idle(&util, r.idle_below, 0.95);
            let mut open_idle = || {
                emit(
                    DecisionKind::Idle,
                    DecisionAction::Open,
                    Severity::Info,
                    format!(
                        "{target} has stayed under {:.0}% of its limit for {}",
                        r.idle_below * 100.0,
                        humantime::format_duration(self.cfg.idle_after)
                    ),
                    serde_json::json!({
                        "idle_below": r.idle_below,
                        "window_buckets": window,
                        "max_in_window": util.iter().copied().fold(f64::MIN, f64::max) * r.limit,
                    }),
                    0.9,
                );
            };
            resolved.extend(transition(DecisionKind::Idle, idle, &mut open_idle));
        }

        for kind in resolved {
            emit(
                kind,
                DecisionAction::Resolve,
                Severity::Info,
                format!("{target} no longer needs `{}`", kind.as_str()),
                serde_json::json!({}),
                1.0,
            );
        }
        open
    }
}

fn sql_str(s: &str) -> String {
    s.replace('\'', "''")
}

fn evidence_sql(s: &Series, from: i64, to: i64, step_s: u64) -> String {
    let mut filter = format!("name = '{}'", sql_str(&s.name));
    match &s.service {
        Some(v) => filter.push_str(&format!(" AND service = '{}'", sql_str(v))),
        None => filter.push_str(" AND service IS NULL"),
    }
    match &s.host {
        Some(v) => filter.push_str(&format!(" AND host = '{}'", sql_str(v))),
        None => filter.push_str(" AND host IS NULL"),
    }
    format!(
        "SELECT date_bin(INTERVAL '{step_s} seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket, \
         avg(value) AS mean, max(value) AS peak FROM metrics WHERE {filter} \
         AND ts >= TIMESTAMP '{}' AND ts < TIMESTAMP '{}' GROUP BY 1 ORDER BY 1",
        format_ts(from),
        format_ts(to)
    )
}

impl Processor for CapacityProcessor {
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
        _out: &mut Output,
    ) -> Result<(), ProcessorError> {
        if self.cfg.resources.is_empty() {
            return Ok(());
        }
        let ts = columns::ts(NAME, batch)?;
        let value = columns::f64s(NAME, batch, "value")?;
        let name = columns::strings(NAME, batch, "name")?;
        let service = columns::strings(NAME, batch, "service")?;
        let host = columns::strings(NAME, batch, "host")?;
        for i in 0..batch.num_rows() {
            let v = value.value(i);
            if !v.is_finite() {
                continue;
            }
            let (svc, h) = (columns::opt(service, i), columns::opt(host, i));
            self.observe(name.value(i), svc, h, ts.value(i), v);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        let step = self.step_ns();
        let every = self.cfg.evaluate_every.as_nanos().min(i64::MAX as u128) as i64;
        let max = self.cfg.history;
        let wm_bucket = watermark_ns.div_euclid(step);
        let keys: Vec<String> = self
            .state
            .series
            .iter()
            .filter(|(_, s)| s.next_eval_ns <= watermark_ns)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(mut s) = self.state.series.remove(&key) else {
                continue;
            };
            // Event time passed the open bucket: it is complete.
            if wm_bucket > s.open_bucket {
                s.close_bucket(wm_bucket, max);
            }
            s.open = self.evaluate(&s, watermark_ns, &mut out.decisions);
            s.next_eval_ns = watermark_ns.saturating_add(every);
            self.state.series.insert(key, s);
        }
    }

    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError> {
        crate::state_to_json(NAME, &self.state, out)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        self.state = crate::state_from_json(NAME, state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
