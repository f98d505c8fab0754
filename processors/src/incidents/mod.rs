//! `IncidentsProcessor`: turns the `alerts` stream into incidents.
//!
//! Each alert row goes through the lifecycle (fingerprint, dedup, flap
//! damping, `min_occurrences`, `for_duration`, resolve timeout), then
//! silences and inhibition; what is left is correlated into incidents by
//! time, topology and labels, with changes from the `changes` table as
//! suspects. Incident steps become rows of `incidents` and `incident`
//! decisions whose `dedup_key` is stable for the incident's whole life, so
//! a paging sink opens, updates and resolves one page.

mod config;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use arrow::array::{Array, MapArray, RecordBatch};
use serde::{Deserialize, Serialize};
use tocsin_alerting::{
    AlertEvent, AlertStatus as LifecycleStatus, AlertmanagerConfig, Inhibitor, Labels, Lifecycle,
    LifecycleSnapshot, Silences, Transition, TransitionState,
};
use tocsin_incidents::{
    AlertSignal, AlertStatus as SignalStatus, ChangeEvent, Correlator, CorrelatorSnapshot,
    IncidentAction, IncidentEvent, IncidentStatus, Severity as IncidentSeverity,
};
use tocsin_ingest::Table;

use crate::columns;
use crate::decision::{Decision, DecisionAction, DecisionKind, Severity};
use crate::output::{IncidentRow, Output};
use crate::{Processor, ProcessorError, state_from_json, state_to_json};

pub use config::IncidentsConfig;

const NAME: &str = "incidents";

/// Silences as last read from their file, with the file's modification
/// time so an unchanged file is not re-read.
#[derive(Debug, Default)]
struct SilenceFile {
    silences: Silences,
    modified: Option<SystemTime>,
}

impl SilenceFile {
    /// Re-reads `path` when it changed. A missing file means no silences; a
    /// broken one keeps the previous silences (and says so) rather than
    /// un-silencing everything.
    fn refresh(&mut self, path: &Path) {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.modified {
            return;
        }
        self.modified = modified;
        if modified.is_none() {
            self.silences = Silences::new();
            return;
        }
        match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|s| Silences::from_json(&s).map_err(|e| e.to_string()))
        {
            Ok(s) => self.silences = s,
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "silences not reloaded"),
        }
    }
}

/// What is checkpointed.
#[derive(Serialize, Deserialize)]
struct State {
    lifecycle: LifecycleSnapshot,
    correlator: CorrelatorSnapshot,
    forwarded: BTreeMap<String, Labels>,
}

/// Correlates alerts into incidents.
pub struct IncidentsProcessor {
    cfg: IncidentsConfig,
    lifecycle: Lifecycle,
    correlator: Correlator,
    inhibitor: Inhibitor,
    silences: SilenceFile,
    /// Firing alerts handed to the correlator (not silenced, not
    /// inhibited), by fingerprint: their resolution is handed on too, and
    /// they are the sources inhibition rules look at.
    forwarded: BTreeMap<String, Labels>,
    /// Alerts kept from the correlator by a silence or an inhibition.
    suppressed: u64,
}

impl IncidentsProcessor {
    /// A processor with `cfg`; fails when the configuration or the
    /// Alertmanager file it names is invalid.
    pub fn new(cfg: IncidentsConfig) -> Result<Self, String> {
        cfg.validate()?;
        let inhibitor = match &cfg.alertmanager_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let am = AlertmanagerConfig::from_yaml(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Inhibitor::new(am.inhibit_rules)
            }
            None => Inhibitor::new(Vec::new()),
        };
        Ok(IncidentsProcessor {
            lifecycle: Lifecycle::new(cfg.lifecycle.clone()),
            correlator: Correlator::new(cfg.correlator()?),
            inhibitor,
            silences: SilenceFile::default(),
            forwarded: BTreeMap::new(),
            suppressed: 0,
            cfg,
        })
    }

    /// Alerts kept out of incidents by silences or inhibition so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn observe_alerts(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        for ev in alert_events(batch)? {
            for t in self.lifecycle.observe(&ev) {
                self.on_transition(t);
            }
        }
        Ok(())
    }

    fn observe_changes(&mut self, batch: &RecordBatch) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let id = columns::strings(NAME, batch, "id")?;
        let kind = columns::strings(NAME, batch, "kind")?;
        let service = columns::strings(NAME, batch, "service")?;
        let env = columns::strings(NAME, batch, "env")?;
        let version = columns::strings(NAME, batch, "version")?;
        let actor = columns::strings(NAME, batch, "actor")?;
        for i in 0..batch.num_rows() {
            // A change of no named service cannot be tied to an incident.
            let Some(svc) = columns::opt(service, i) else {
                continue;
            };
            self.correlator.observe_change(&ChangeEvent {
                ts_ns: ts.value(i),
                kind: kind.value(i).to_owned(),
                service: svc.to_owned(),
                env: columns::opt(env, i).unwrap_or_default().to_owned(),
                version: columns::opt(version, i).unwrap_or_default().to_owned(),
                actor: columns::opt(actor, i).unwrap_or_default().to_owned(),
                id: id.value(i).to_owned(),
            });
        }
        Ok(())
    }

    /// Hands a lifecycle transition to the correlator unless a silence or
    /// an inhibition rule keeps it out.
    fn on_transition(&mut self, t: Transition) {
        match t.state {
            TransitionState::Firing | TransitionState::Flapping => {
                if self.forwarded.contains_key(&t.fingerprint) {
                    return;
                }
                let silenced = self
                    .silences
                    .silences
                    .is_silenced(&t.labels, t.ts_ns)
                    .is_some();
                let inhibited = {
                    let active: Vec<&Labels> = self.forwarded.values().collect();
                    self.inhibitor.is_inhibited(&t.labels, &active)
                };
                if silenced || inhibited {
                    self.suppressed += 1;
                    return;
                }
                let mut labels = t.labels.clone();
                if t.state == TransitionState::Flapping {
                    labels.insert("flapping".into(), "true".into());
                }
                self.correlator
                    .observe_alert(&signal(&t, &labels, SignalStatus::Firing));
                self.forwarded.insert(t.fingerprint, t.labels);
            }
            TransitionState::Resolved => {
                if let Some(labels) = self.forwarded.remove(&t.fingerprint) {
                    self.correlator
                        .observe_alert(&signal(&t, &labels, SignalStatus::Resolved));
                }
            }
        }
    }

    fn emit(&self, ev: &IncidentEvent, out: &mut Output) {
        let inc = &ev.incident;
        let (action, decision_action) = match ev.action {
            IncidentAction::Open => ("open", DecisionAction::Open),
            IncidentAction::Update => ("update", DecisionAction::Update),
            IncidentAction::Resolve => ("resolve", DecisionAction::Resolve),
        };
        let dedup_key = inc.dedup_key();
        let root_cause = inc.root_cause.first().map(|r| r.service.clone());
        let target = root_cause
            .clone()
            .or_else(|| inc.services.first().cloned())
            .unwrap_or_default();
        let details = serde_json::json!({
            "root_cause": inc.root_cause,
            "timeline": inc.timeline,
            "members": inc.member_fingerprints,
            "suspected_change": ev.suspected_change,
        });
        out.incidents.push(IncidentRow {
            ts: ev.ts_ns,
            id: inc.id.clone(),
            action,
            opened_at: inc.opened_at_ns,
            resolved_at: inc.resolved_at_ns,
            severity: inc.severity.as_str(),
            title: inc.title.clone(),
            services: inc.services.clone(),
            alert_count: i64::try_from(inc.alert_count).unwrap_or(i64::MAX),
            status: match inc.status {
                IncidentStatus::Open => "open",
                IncidentStatus::Resolved => "resolved",
            },
            suspected_change: inc.suspected_change.clone(),
            root_cause,
            details: details.to_string(),
            dedup_key: dedup_key.clone(),
        });
        let severity = match inc.severity {
            IncidentSeverity::P1 => Severity::Critical,
            IncidentSeverity::P2 => Severity::Error,
            IncidentSeverity::P3 => Severity::Warning,
            IncidentSeverity::P4 => Severity::Info,
        };
        out.decisions.push(Decision {
            ts: ev.ts_ns,
            // Updates share the action, so the sequence number keeps each
            // emission's id distinct for the sinks' duplicate filter.
            id: format!("{dedup_key}#{action}#{}", ev.seq),
            kind: DecisionKind::Incident,
            action: decision_action,
            target,
            severity,
            // The title already carries the severity (`P2 HighErrorRate on …`).
            reason: if ev.reason.is_empty() {
                inc.title.clone()
            } else {
                format!("{}: {}", inc.title, ev.reason)
            },
            evidence: serde_json::json!({
                "incident": inc.id,
                "severity": inc.severity.as_str(),
                "title": inc.title,
                "services": inc.services,
                "alert_count": inc.alert_count,
                "suspected_change": ev.suspected_change,
                "root_cause": inc.root_cause,
                "timeline": inc.timeline.iter().rev().take(50).collect::<Vec<_>>(),
            }),
            evidence_sql: ev.evidence_sql(),
            dedup_key,
            confidence: 1.0,
            processor: NAME.to_owned(),
        });
    }
}

/// The rows of an `alerts` batch as lifecycle events (labels always
/// include `alertname`).
pub fn alert_events(batch: &RecordBatch) -> Result<Vec<AlertEvent>, ProcessorError> {
    let ts = columns::ts(NAME, batch)?;
    let status = columns::strings(NAME, batch, "status")?;
    let alertname = columns::strings(NAME, batch, "alertname")?;
    let labels = columns::map(NAME, batch, "labels")?;
    let annotations = columns::map(NAME, batch, "annotations")?;
    let starts = columns::timestamps(NAME, batch, "starts_at")?;
    let ends = columns::timestamps(NAME, batch, "ends_at")?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut l = map_row(labels, i);
        l.entry("alertname".into())
            .or_insert_with(|| alertname.value(i).to_owned());
        out.push(AlertEvent {
            ts_ns: ts.value(i),
            status: if status.value(i) == "resolved" {
                LifecycleStatus::Resolved
            } else {
                LifecycleStatus::Firing
            },
            labels: l,
            annotations: map_row(annotations, i),
            starts_at_ns: starts.is_valid(i).then(|| starts.value(i)),
            ends_at_ns: ends.is_valid(i).then(|| ends.value(i)),
        });
    }
    Ok(out)
}

/// The alert signal of a transition, with the columns the correlator keys on.
fn signal(t: &Transition, labels: &Labels, status: SignalStatus) -> AlertSignal {
    let label = |k: &str, default: &str| labels.get(k).map_or(default, String::as_str).to_owned();
    AlertSignal {
        ts_ns: t.ts_ns,
        fingerprint: t.fingerprint.clone(),
        status,
        service: label("service", "unknown"),
        severity: label("severity", "warning").to_ascii_lowercase(),
        alertname: label("alertname", "alert"),
        labels: labels.clone(),
    }
}

fn map_row(map: &MapArray, i: usize) -> Labels {
    columns::map_entries(map, i)
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect()
}

impl Processor for IncidentsProcessor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> &'static [Table] {
        &[Table::Alerts, Table::Changes]
    }

    fn process(
        &mut self,
        table: Table,
        batch: &RecordBatch,
        _out: &mut Output,
    ) -> Result<(), ProcessorError> {
        if let Some(path) = &self.cfg.silences_file {
            let path = path.clone();
            self.silences.refresh(&path);
        }
        match table {
            Table::Alerts => self.observe_alerts(batch),
            Table::Changes => self.observe_changes(batch),
            _ => Ok(()),
        }
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        for t in self.lifecycle.advance(watermark_ns) {
            self.on_transition(t);
        }
        for ev in self.correlator.advance(watermark_ns) {
            self.emit(&ev, out);
        }
    }

    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError> {
        state_to_json(
            NAME,
            &State {
                lifecycle: self.lifecycle.snapshot(),
                correlator: self.correlator.snapshot(),
                forwarded: self.forwarded.clone(),
            },
            out,
        )
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        let s: State = state_from_json(NAME, state)?;
        self.lifecycle = Lifecycle::restore(s.lifecycle);
        let cfg = self.correlator.config().clone();
        self.correlator = Correlator::restore(cfg, s.correlator);
        self.forwarded = s.forwarded;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
