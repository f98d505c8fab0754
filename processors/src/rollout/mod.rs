//! `RolloutProcessor`: judges every deploy and flag change, and tracks SLOs.
//!
//! Requests are read from access-log lines (`logs` rows whose attributes
//! carry a duration and, optionally, a status), per service and version;
//! saturation gauges from `metrics`; pattern ids from `logs.pattern_id`.
//! Each change of the `changes` table starts a comparison of the new
//! version against the baseline in `tocsin_judge::RolloutJudge`; its verdicts
//! become `promote`, `hold`, `rollback` and `flag_disable` decisions. SLO
//! burn-rate alerts are raised as alerts (`source = 'tocsin.slo'`), so they
//! join incidents like any other.

mod config;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};
use tocsin_ingest::Table;
use tocsin_judge::{
    ChangeKind, Decision as Verdict, DeployEvent, RolloutJudge, SloTracker, Strategy,
    Verdict as JudgeVerdict,
};

use crate::columns;
use crate::decision::{Decision, DecisionAction, DecisionKind, Severity};
use crate::output::{AlertStatus, Output, RaisedAlert};
use crate::{Processor, ProcessorError, state_from_json, state_to_json};

pub use config::{RolloutConfig, SloSpec};

const NAME: &str = "rollout";

/// A change the judge is comparing, kept to write its evidence query.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChangeUnderTest {
    ts: i64,
    service: String,
    baseline: String,
    candidate: String,
    before_after: bool,
}

fn sql_str(s: &str) -> String {
    s.replace('\'', "''")
}

fn sql_ts(ns: i64) -> String {
    format!("TIMESTAMP '{}'", crate::decision::format_ts(ns))
}

/// What is checkpointed.
#[derive(Serialize, Deserialize)]
struct State {
    judge: String,
    slo: Option<SloTracker>,
    versions: BTreeMap<String, String>,
    #[serde(default)]
    held: std::collections::BTreeSet<String>,
    #[serde(default)]
    changes: BTreeMap<String, ChangeUnderTest>,
    #[serde(default)]
    pending: Vec<DeployEvent>,
}

/// Judges rollouts and tracks SLOs.
pub struct RolloutProcessor {
    cfg: RolloutConfig,
    judge: RolloutJudge,
    slo: Option<SloTracker>,
    /// The latest version seen per service: the baseline of its next deploy.
    versions: BTreeMap<String, String>,
    /// Each change under judgement: when it happened, the versions compared
    /// and whether the comparison is before/after (flags, full cut-overs).
    changes: BTreeMap<String, ChangeUnderTest>,
    /// Canaries waiting for their baseline version to show up.
    pending: Vec<DeployEvent>,
    /// Changes already announced as held: later windows that still hold say
    /// nothing new, so they are not sent again.
    held: std::collections::BTreeSet<String>,
}

impl RolloutProcessor {
    /// A processor with `cfg`; fails when the configuration is invalid.
    pub fn new(cfg: RolloutConfig) -> Result<Self, String> {
        let judge = RolloutJudge::new(cfg.judge()?).map_err(|e| e.to_string())?;
        let slo = match cfg.slo()? {
            Some(c) => Some(SloTracker::new(c).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(RolloutProcessor {
            cfg,
            judge,
            slo,
            versions: BTreeMap::new(),
            held: Default::default(),
            changes: BTreeMap::new(),
            pending: Vec::new(),
        })
    }

    fn observe_changes(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let id = columns::strings(NAME, batch, "id")?;
        let kind = columns::strings(NAME, batch, "kind")?;
        let service = columns::strings(NAME, batch, "service")?;
        let version = columns::strings(NAME, batch, "version")?;
        let details = columns::strings(NAME, batch, "details")?;
        for i in 0..batch.num_rows() {
            let Some(svc) = columns::opt(service, i) else {
                continue;
            };
            let change_kind = match kind.value(i) {
                "deploy" => ChangeKind::Deploy,
                "flag" => ChangeKind::Flag,
                _ => continue,
            };
            // Unparsable details only lose the strategy and weight hints.
            let d: serde_json::Value = serde_json::from_str(details.value(i)).unwrap_or_default();
            let strategy = match d.get("strategy").and_then(|s| s.as_str()) {
                Some("canary") => Strategy::Canary,
                Some("blue-green" | "blue_green" | "bluegreen") => Strategy::BlueGreen,
                _ => Strategy::Rolling,
            };
            let weight = d
                .get("traffic_weight")
                .or_else(|| d.get("weight"))
                .and_then(|w| w.as_f64())
                .filter(|w| (0.0..=1.0).contains(w))
                .unwrap_or(match strategy {
                    Strategy::Canary => self.cfg.default_canary_weight,
                    _ => 1.0,
                });
            let known = self.versions.get(svc).cloned();
            let baseline = known.clone().unwrap_or_default();
            let new_version = match change_kind {
                // A flag flips behaviour, not the version: judged against
                // the same version before the change.
                ChangeKind::Flag => baseline.clone(),
                ChangeKind::Deploy => columns::opt(version, i).unwrap_or_default().to_owned(),
            };
            self.changes.insert(
                id.value(i).to_owned(),
                ChangeUnderTest {
                    ts: ts.value(i),
                    service: svc.to_owned(),
                    baseline: baseline.clone(),
                    candidate: new_version.clone(),
                    before_after: change_kind == ChangeKind::Flag || weight >= 1.0,
                },
            );
            let event = DeployEvent {
                ts_ns: ts.value(i),
                service: svc.to_owned(),
                version: new_version.clone(),
                baseline_version: baseline,
                strategy,
                traffic_weight: weight,
                change_id: id.value(i).to_owned(),
                kind: change_kind,
            };
            // A canary whose baseline has not been seen yet waits for the
            // first request of another version: that is the baseline.
            if known.is_none() && change_kind == ChangeKind::Deploy && weight < 1.0 {
                self.pending.push(event);
            } else {
                self.judge.observe_deploy(event);
            }
            // A canary runs beside the baseline; other strategies replace it.
            if change_kind == ChangeKind::Deploy && weight >= 1.0 {
                self.versions.insert(svc.to_owned(), new_version);
            }
        }
        Ok(())
    }

    fn observe_logs(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let service = columns::strings(NAME, batch, "service")?;
        let version = columns::strings(NAME, batch, "version")?;
        let level = columns::strings(NAME, batch, "level")?;
        let pattern = columns::strings(NAME, batch, "pattern_id")?;
        let attrs = columns::map(NAME, batch, "attributes")?;
        for i in 0..batch.num_rows() {
            let (Some(svc), Some(ver)) = (columns::opt(service, i), columns::opt(version, i))
            else {
                continue;
            };
            if !self.versions.contains_key(svc) {
                self.versions.insert(svc.to_owned(), ver.to_owned());
            }
            if !self.pending.is_empty() {
                self.start_pending(svc, ver);
            }
            let t = ts.value(i);
            if let Some(p) = columns::opt(pattern, i) {
                self.judge.observe_log_pattern(svc, ver, t, p, false);
            }
            let find = |names: &[String]| {
                columns::map_entries(attrs, i)
                    .find(|(k, v)| v.is_some() && names.iter().any(|n| n == k))
                    .and_then(|(_, v)| v)
            };
            let Some(latency) =
                find(&self.cfg.latency_attributes).and_then(|v| v.parse::<f64>().ok())
            else {
                continue;
            };
            if !latency.is_finite() || latency < 0.0 {
                continue;
            }
            let error = match find(&self.cfg.status_attributes).and_then(|v| v.parse::<u16>().ok())
            {
                Some(status) => status >= 500,
                None => matches!(level.value(i), "error" | "fatal"),
            };
            self.judge.observe_request(svc, ver, t, latency, error);
            if let Some(slo) = self.slo.as_mut() {
                slo.observe_request(svc, t, latency, error);
            }
        }
        Ok(())
    }

    /// Starts the canaries of `service` that waited for a baseline, now
    /// that `version` (not theirs) is seen.
    fn start_pending(&mut self, service: &str, version: &str) {
        let (ready, waiting): (Vec<DeployEvent>, Vec<DeployEvent>) =
            std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|e| e.service == service && e.version != version);
        self.pending = waiting;
        for mut e in ready {
            e.baseline_version = version.to_owned();
            if let Some(c) = self.changes.get_mut(&e.change_id) {
                c.baseline = version.to_owned();
            }
            self.judge.observe_deploy(e);
        }
    }

    fn observe_metrics(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        if self.cfg.saturation_metrics.is_empty() {
            return Ok(());
        }
        let ts = columns::ts(NAME, batch)?;
        let name = columns::strings(NAME, batch, "name")?;
        let value = columns::f64s(NAME, batch, "value")?;
        let service = columns::strings(NAME, batch, "service")?;
        let version = columns::strings(NAME, batch, "version")?;
        for i in 0..batch.num_rows() {
            let n = name.value(i);
            if !self.cfg.saturation_metrics.iter().any(|m| m == n) {
                continue;
            }
            if let (Some(svc), Some(ver)) = (columns::opt(service, i), columns::opt(version, i)) {
                self.judge
                    .observe_sample(svc, ver, n, ts.value(i), value.value(i));
            }
        }
        Ok(())
    }

    /// A query over `logs` giving requests, error rate and latency
    /// quantiles of both arms of the comparison, as the judge saw them.
    fn evidence_sql(&self, v: &JudgeVerdict) -> String {
        let Some(c) = self.changes.get(&v.change_id) else {
            return v.evidence_sql.clone();
        };
        let attr = |names: &[String]| {
            let parts: Vec<String> = names
                .iter()
                .map(|n| format!("attributes['{}']", sql_str(n)))
                .collect();
            format!("COALESCE({})", parts.join(", "))
        };
        let latency = format!("TRY_CAST({} AS DOUBLE)", attr(&self.cfg.latency_attributes));
        let error = format!(
            "COALESCE(TRY_CAST({} AS INT) >= 500, level IN ('error', 'fatal'))",
            attr(&self.cfg.status_attributes)
        );
        let arm = |name: &str, version: &str, from: i64, to: i64| {
            format!(
                "SELECT '{name}' AS arm, version, count(*) AS requests, \
                 avg(CASE WHEN {error} THEN 1.0 ELSE 0.0 END) AS error_rate, \
                 approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY {latency}) AS p50_ms, \
                 approx_percentile_cont(0.95) WITHIN GROUP (ORDER BY {latency}) AS p95_ms, \
                 approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY {latency}) AS p99_ms \
                 FROM logs WHERE service = '{svc}' AND version = '{ver}' AND {latency} IS NOT NULL \
                 AND ts >= {from} AND ts < {to} GROUP BY version",
                svc = sql_str(&c.service),
                ver = sql_str(version),
                from = sql_ts(from),
                to = sql_ts(to),
            )
        };
        let span = (v.ts_ns - c.ts).max(0);
        let baseline = if c.before_after {
            arm("baseline", &c.baseline, c.ts - span, c.ts)
        } else {
            arm("baseline", &c.baseline, c.ts, v.ts_ns)
        };
        format!(
            "{baseline} UNION ALL {}",
            arm("candidate", &c.candidate, c.ts, v.ts_ns)
        )
    }

    fn decision(&self, v: &JudgeVerdict) -> Decision {
        let (kind, severity) = match v.decision {
            Verdict::Promote => (DecisionKind::Promote, Severity::Info),
            Verdict::Rollback => (DecisionKind::Rollback, Severity::Critical),
            Verdict::FlagDisable => (DecisionKind::FlagDisable, Severity::Critical),
            // Inconclusive holds the rollout: never a silent pass.
            Verdict::Hold | Verdict::Inconclusive => (DecisionKind::Hold, Severity::Warning),
        };
        let confidence = v
            .metrics
            .iter()
            .map(|m| m.p_value)
            .filter(|p| p.is_finite())
            .fold(1.0_f64, f64::min);
        Decision {
            ts: v.ts_ns,
            id: format!("{}#{}", v.dedup_key, v.decision.as_str()),
            kind,
            action: DecisionAction::Open,
            target: format!("{}@{}", v.service, v.version),
            severity,
            reason: v.reason.clone(),
            evidence: serde_json::json!({
                "service": v.service,
                "version": v.version,
                "change_id": v.change_id,
                "verdict": v.decision.as_str(),
                "metrics": v.metrics,
            }),
            evidence_sql: self.evidence_sql(v),
            dedup_key: v.dedup_key.clone(),
            confidence: ((1.0 - confidence) * 1e4).round() / 1e4,
            processor: NAME.to_owned(),
        }
    }
}

impl Processor for RolloutProcessor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> &'static [Table] {
        &[Table::Changes, Table::Logs, Table::Metrics]
    }

    fn process(
        &mut self,
        table: Table,
        batch: &RecordBatch,
        _out: &mut Output,
    ) -> Result<(), ProcessorError> {
        match table {
            Table::Changes => self.observe_changes(batch),
            Table::Logs => self.observe_logs(batch),
            Table::Metrics => self.observe_metrics(batch),
            _ => Ok(()),
        }
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        for v in self.judge.advance(watermark_ns) {
            if v.decision == Verdict::Hold && !self.held.insert(v.change_id.clone()) {
                continue;
            }
            if v.decision != Verdict::Hold {
                self.held.remove(&v.change_id);
            }
            out.decisions.push(self.decision(&v));
        }
        let Some(slo) = self.slo.as_mut() else {
            return;
        };
        for a in slo.advance(watermark_ns) {
            let mut labels = BTreeMap::new();
            labels.insert("alertname".to_owned(), "ErrorBudgetBurn".to_owned());
            labels.insert("service".to_owned(), a.service.clone());
            labels.insert("slo".to_owned(), a.slo.clone());
            labels.insert(
                "window".to_owned(),
                format!("{}m/{}m", a.long_window_min, a.short_window_min),
            );
            let severity = match a.severity {
                tocsin_judge::Severity::Page => "critical",
                tocsin_judge::Severity::Ticket => "warning",
            };
            labels.insert("severity".to_owned(), severity.to_owned());
            let mut annotations = BTreeMap::new();
            annotations.insert(
                "summary".to_owned(),
                format!(
                    "SLO {} of {} burns its error budget {:.1}× over {} min ({:.1}× over {} min)",
                    a.slo,
                    a.service,
                    a.burn_rate_long,
                    a.long_window_min,
                    a.burn_rate_short,
                    a.short_window_min
                ),
            );
            out.alerts.push(RaisedAlert {
                ts: a.ts_ns,
                alertname: "ErrorBudgetBurn".into(),
                status: AlertStatus::Firing,
                severity: severity.to_owned(),
                service: Some(a.service.clone()),
                labels,
                annotations,
                starts_at: a.ts_ns,
                ends_at: None,
                source: "tocsin.slo",
            });
        }
    }

    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError> {
        let judge = self
            .judge
            .snapshot()
            .map_err(|e| ProcessorError::Snapshot {
                processor: NAME.into(),
                source: serde_json::Error::io(std::io::Error::other(e.to_string())),
            })?;
        state_to_json(
            NAME,
            &State {
                judge,
                slo: self.slo.clone(),
                versions: self.versions.clone(),
                held: self.held.clone(),
                changes: self.changes.clone(),
                pending: self.pending.clone(),
            },
            out,
        )
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        let s: State = state_from_json(NAME, state)?;
        self.judge = RolloutJudge::restore(&s.judge).map_err(|e| ProcessorError::Restore {
            processor: NAME.into(),
            source: serde_json::Error::io(std::io::Error::other(e.to_string())),
        })?;
        if self.slo.is_some() {
            self.slo = s.slo;
        }
        self.versions = s.versions;
        self.held = s.held;
        self.changes = s.changes;
        self.pending = s.pending;
        Ok(())
    }
}

/// Error budget left per SLO, for operators: `(slo, remaining share)`.
impl RolloutProcessor {
    /// The share of each SLO's error budget still unspent over its period.
    pub fn budgets(&self) -> Vec<(String, f64)> {
        let Some(slo) = &self.slo else {
            return Vec::new();
        };
        self.cfg
            .slos
            .iter()
            .filter_map(|s| {
                slo.budget_remaining(&s.service)
                    .map(|b| (s.service.clone(), b))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
