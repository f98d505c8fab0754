//! Security patch prioritisation over the `vulnerabilities` table: scanner
//! findings become `patch` decisions, one `dedup_key` per (target, CVE).
//!
//! The policy lives in `tocsin-patching` (priority from CVSS, known
//! exploitation — the row's flag or a KEV list loaded from a file —, EPSS and
//! exposure; SLA clocks; scans that close on a newer scan of the target or
//! after a grace period). This processor feeds it rows, advances its clock
//! with the event-time watermark, and turns its events into decisions:
//!
//! | event | decision |
//! |---|---|
//! | open | `open`, severity from the priority |
//! | priority changed | `update` |
//! | SLA at risk | `update`, one severity higher, `evidence.sla_at_risk = true` |
//! | SLA breached | `update`, severity `critical`, `evidence.sla_breached = true` — always emitted |
//! | gone from a later scan | `resolve` |
//!
//! Each emission has its own `id` (`<dedup_key>#<action>#<event>`), so a
//! receiver that deduplicates on the id never mistakes a breach for the
//! at-risk warning before it.

use arrow::array::{Array, AsArray, RecordBatch};
use tocsin_ingest::Table;
use tocsin_patching::{
    Finding, Kev, PatchConfig, PatchEvent, PatchEventKind, PatchTracker, Priority,
};

use crate::columns;
use crate::decision::{Decision, DecisionAction, DecisionKind, Severity};
use crate::output::Output;
use crate::{Processor, ProcessorError};

/// The processor's name.
const NAME: &str = "patching";

/// Turns vulnerability findings into `patch` decisions.
pub struct PatchingProcessor {
    config: PatchConfig,
    kev: Kev,
    tracker: PatchTracker,
    events: Vec<PatchEvent>,
}

/// The processor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PatchingError {
    /// The KEV file could not be read.
    #[error("kev_file {path}: {source}")]
    KevFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The KEV file is not a KEV catalog or a list of CVE ids.
    #[error("kev_file {path}: {source}")]
    KevParse {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: tocsin_patching::KevError,
    },
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] tocsin_patching::ConfigError),
}

impl PatchingProcessor {
    /// A processor for `config`, reading its KEV file if one is set.
    pub fn new(config: PatchConfig) -> Result<Self, PatchingError> {
        let kev = match &config.kev_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| PatchingError::KevFile {
                        path: path.clone(),
                        source,
                    })?;
                Kev::parse(&text).map_err(|source| PatchingError::KevParse {
                    path: path.clone(),
                    source,
                })?
            }
            None => Kev::default(),
        };
        let tracker = PatchTracker::new(config.clone(), kev.clone())?;
        Ok(PatchingProcessor {
            config,
            kev,
            tracker,
            events: Vec::new(),
        })
    }

    fn emit(&mut self, out: &mut Output) {
        for e in self.events.drain(..) {
            if let Some(d) = decision_for(&e) {
                out.decisions.push(d);
            } else {
                tracing::warn!(target = %e.target, cve = %e.cve, "patch finding evicted: too many tracked findings");
            }
        }
    }
}

fn severity_of(p: Priority) -> Severity {
    match p {
        Priority::Critical => Severity::Critical,
        Priority::High => Severity::Error,
        Priority::Medium => Severity::Warning,
        Priority::Low => Severity::Info,
    }
}

fn sql_quote(s: &str) -> String {
    s.replace('\'', "''")
}

/// The decision for one tracker event (`None` for evictions, which are
/// logged rather than paged).
pub fn decision_for(e: &PatchEvent) -> Option<Decision> {
    let base = severity_of(e.priority);
    let (action, event, severity) = match e.kind {
        PatchEventKind::Open => (DecisionAction::Open, "open", base),
        PatchEventKind::Update => (DecisionAction::Update, "priority", base),
        PatchEventKind::AtRisk => (
            DecisionAction::Update,
            "at_risk",
            match base {
                Severity::Info => Severity::Warning,
                Severity::Warning => Severity::Error,
                _ => Severity::Critical,
            },
        ),
        PatchEventKind::Breached => (DecisionAction::Update, "breached", Severity::Critical),
        PatchEventKind::Resolve => (DecisionAction::Resolve, "resolve", base),
        PatchEventKind::Evicted => return None,
    };
    let id = match e.kind {
        PatchEventKind::Update => format!(
            "{}#update#priority-{}-{}",
            e.dedup_key,
            e.priority.as_str(),
            e.ts
        ),
        _ => format!("{}#{}#{event}", e.dedup_key, action.as_str()),
    };
    let evidence = serde_json::json!({
        "cve": e.cve,
        "priority": e.priority.as_str(),
        "previous_priority": e.previous_priority.map(|p| p.as_str()),
        "reasons": e.reasons,
        "risk": e.risk,
        "first_seen": crate::decision::format_ts(e.first_seen),
        "last_seen": crate::decision::format_ts(e.last_seen),
        "due": crate::decision::format_ts(e.due),
        "sla_hours": e.sla_ns as f64 / 3.6e12,
        "sla_at_risk": e.kind == PatchEventKind::AtRisk,
        "sla_breached": e.kind == PatchEventKind::Breached,
        "packages": e.packages,
        "installed_versions": e.installed_versions,
        "fixed_versions": e.fixed_versions,
        "service": e.service,
        "scanner": e.scanner,
        "cvss": e.cvss,
        "epss": e.epss,
        "kev": e.kev,
        "known_exploited": e.known_exploited,
        "internet_facing": e.exposed,
    });
    Some(Decision {
        ts: e.ts,
        id,
        kind: DecisionKind::Patch,
        action,
        target: e.target.clone(),
        severity,
        reason: e.message.clone(),
        evidence,
        evidence_sql: format!(
            "SELECT ts, scanner, package, installed_version, fixed_version, cvss, severity, \
             known_exploited, epss FROM vulnerabilities WHERE target = '{}' AND cve = '{}' ORDER BY ts",
            sql_quote(&e.target),
            sql_quote(&e.cve)
        ),
        dedup_key: e.dedup_key.clone(),
        confidence: 1.0,
        processor: NAME.into(),
    })
}

impl Processor for PatchingProcessor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> &'static [Table] {
        &[Table::Vulnerabilities]
    }

    fn process(
        &mut self,
        _table: Table,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<(), ProcessorError> {
        let ts = columns::ts(NAME, batch)?;
        let scanner = columns::strings(NAME, batch, "scanner")?;
        let target = columns::strings(NAME, batch, "target")?;
        let package = columns::strings(NAME, batch, "package")?;
        let installed = columns::strings(NAME, batch, "installed_version")?;
        let fixed = columns::strings(NAME, batch, "fixed_version")?;
        let cve = columns::strings(NAME, batch, "cve")?;
        let cvss = columns::f64s(NAME, batch, "cvss")?;
        let severity = columns::strings(NAME, batch, "severity")?;
        let epss = columns::f64s(NAME, batch, "epss")?;
        let service = columns::strings(NAME, batch, "service")?;
        let kev = batch
            .column_by_name("known_exploited")
            .and_then(|c| c.as_boolean_opt())
            .ok_or(ProcessorError::Schema {
                processor: NAME.into(),
                column: "known_exploited",
            })?;
        let num = |a: &arrow::array::Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..batch.num_rows() {
            let row = Finding {
                ts: ts.value(i),
                scanner: scanner.value(i),
                target: target.value(i),
                package: package.value(i),
                installed_version: columns::opt(installed, i),
                fixed_version: columns::opt(fixed, i),
                cve: cve.value(i),
                cvss: num(cvss, i),
                severity: severity.value(i),
                known_exploited: (!kev.is_null(i)).then(|| kev.value(i)),
                epss: num(epss, i),
                service: columns::opt(service, i),
            };
            self.tracker.ingest(&row, &mut self.events);
        }
        self.emit(out);
        Ok(())
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        self.tracker.on_watermark(watermark_ns, &mut self.events);
        self.emit(out);
    }

    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError> {
        crate::state_to_json(NAME, &self.tracker.snapshot(), out)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        let err = |source| ProcessorError::Restore {
            processor: NAME.into(),
            source,
        };
        let snapshot = serde_json::from_slice(state).map_err(err)?;
        self.tracker = PatchTracker::restore(self.config.clone(), self.kev.clone(), snapshot)
            .map_err(|e| err(serde::de::Error::custom(e.to_string())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
