//! Log template mining over the `logs` table.
//!
//! Each sealed `logs` batch goes through a [`PatternMiner`] from
//! `tocsin-patterns` before it is stored, which fills `pattern_id`; every
//! flush writes the patterns that matched lines since the previous one to
//! `log_patterns`. A [`SignalDetector`] watches the stream and raises alerts
//! (`source = "tocsin.logs"`) for a new template after a deploy, a template
//! whose rate spikes against its own baseline, and a surge of error lines.
//! A deploy is seen as a service's `version` changing in its log lines
//! (until the `changes` table exists and says so directly).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{RecordBatch, StringBuilder};
use serde::{Deserialize, Serialize};
use tocsin_ingest::Table;
use tocsin_patterns::signals::{Level, Signal, SignalConfig, SignalDetector, SignalKind};
use tocsin_patterns::{MinerConfig, PatternId, PatternMiner};

use crate::columns;
use crate::output::{AlertStatus, PatternUpdate, RaisedAlert};
use crate::{Output, Processor, ProcessorError};

const NAME: &str = "log_patterns";
/// The `source` of the alerts this processor raises.
pub const ALERT_SOURCE: &str = "tocsin.logs";
/// Namespace of lines without a service.
const NO_SERVICE: &str = "-";

/// Configuration of the pattern processor (`[processors.log_patterns]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogPatternsConfig {
    /// Whether the processor runs.
    pub enabled: bool,
    /// The miner (similarity, masking, pattern cap).
    pub miner: MinerConfig,
    /// New templates in a service's first `warmup` are not flagged.
    #[serde(with = "humantime_serde")]
    pub warmup: Duration,
    /// How long after a deploy a new template is flagged.
    #[serde(with = "humantime_serde")]
    pub deploy_window: Duration,
    /// Flag new templates only inside a deploy window.
    pub new_pattern_requires_deploy: bool,
    /// Bucket width for rates.
    #[serde(with = "humantime_serde")]
    pub bucket: Duration,
    /// A template spikes at this multiple of its baseline…
    pub spike_factor: f64,
    /// …with at least this many lines in the bucket.
    pub spike_min_count: u64,
    /// Error lines surge at this multiple of their baseline…
    pub surge_factor: f64,
    /// …with at least this many error lines in the bucket.
    pub surge_min_count: u64,
    /// Severity of a new-template alert.
    pub new_pattern_severity: String,
    /// Severity of a rate-spike alert.
    pub spike_severity: String,
    /// Severity of an error-surge alert.
    pub surge_severity: String,
}

impl Default for LogPatternsConfig {
    fn default() -> Self {
        let s = SignalConfig::default();
        let dur = |ns: i64| Duration::from_nanos(ns.max(0) as u64);
        LogPatternsConfig {
            enabled: true,
            miner: MinerConfig::default(),
            warmup: dur(s.warmup_ns),
            deploy_window: dur(s.deploy_window_ns),
            new_pattern_requires_deploy: s.require_deploy,
            bucket: dur(s.bucket_ns),
            spike_factor: s.spike_factor,
            spike_min_count: s.spike_min_count,
            surge_factor: s.surge_factor,
            surge_min_count: s.surge_min_count,
            new_pattern_severity: "warning".into(),
            spike_severity: "warning".into(),
            surge_severity: "critical".into(),
        }
    }
}

impl LogPatternsConfig {
    fn signal_config(&self) -> SignalConfig {
        let ns = |d: Duration| d.as_nanos().min(i64::MAX as u128) as i64;
        SignalConfig {
            warmup_ns: ns(self.warmup),
            deploy_window_ns: ns(self.deploy_window),
            require_deploy: self.new_pattern_requires_deploy,
            bucket_ns: ns(self.bucket),
            spike_factor: self.spike_factor,
            spike_min_count: self.spike_min_count,
            surge_factor: self.surge_factor,
            surge_min_count: self.surge_min_count,
            ..SignalConfig::default()
        }
    }

    /// Checks the miner and signal settings.
    pub fn validate(&self) -> Result<(), String> {
        PatternMiner::new(self.miner.clone()).map_err(|e| format!("miner: {e}"))?;
        SignalDetector::new(self.signal_config()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The checkpointed state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    miner: PatternMiner,
    signals: SignalDetector,
    /// Latest version seen per service; a change is a deploy.
    versions: HashMap<String, String>,
    /// Lines per pattern since the last flush.
    dirty: BTreeMap<PatternId, i64>,
}

/// The processor.
#[derive(Debug)]
pub struct LogPatternsProcessor {
    cfg: LogPatternsConfig,
    state: State,
}

impl LogPatternsProcessor {
    /// A processor with `cfg`; fails on an invalid miner or signal setting.
    pub fn new(cfg: LogPatternsConfig) -> Result<Self, String> {
        let miner = PatternMiner::new(cfg.miner.clone()).map_err(|e| e.to_string())?;
        let signals = SignalDetector::new(cfg.signal_config()).map_err(|e| e.to_string())?;
        Ok(LogPatternsProcessor {
            cfg,
            state: State {
                miner,
                signals,
                versions: HashMap::new(),
                dirty: BTreeMap::new(),
            },
        })
    }

    /// Live templates.
    pub fn patterns(&self) -> usize {
        self.state.miner.len()
    }

    fn alert(&self, s: Signal) -> RaisedAlert {
        let (alertname, severity, summary) = match s.kind {
            SignalKind::NewPattern => (
                "NewLogPattern",
                &self.cfg.new_pattern_severity,
                match &s.deploy_version {
                    Some(v) => format!("new log template on {} since version {v}", s.namespace),
                    None => format!("new log template on {}", s.namespace),
                },
            ),
            SignalKind::RateSpike => (
                "LogPatternSpike",
                &self.cfg.spike_severity,
                format!(
                    "log template on {} at {:.1}x its usual rate ({} lines in a bucket, baseline {:.1})",
                    s.namespace, s.ratio, s.count, s.baseline
                ),
            ),
            SignalKind::ErrorSurge => (
                "ErrorLogSurge",
                &self.cfg.surge_severity,
                format!(
                    "error lines on {} at {:.1}x their usual rate ({} in a bucket, baseline {:.1})",
                    s.namespace, s.ratio, s.count, s.baseline
                ),
            ),
        };
        let mut labels = BTreeMap::from([
            ("service".to_owned(), s.namespace.clone()),
            ("pattern_id".to_owned(), s.pattern_id.to_string()),
        ]);
        if let Some(v) = &s.deploy_version {
            labels.insert("version".into(), v.clone());
        }
        let annotations = BTreeMap::from([
            ("summary".to_owned(), summary),
            ("template".to_owned(), s.template),
            ("example".to_owned(), s.example),
            ("count".to_owned(), s.count.to_string()),
            ("baseline".to_owned(), format!("{:.3}", s.baseline)),
            ("ratio".to_owned(), format!("{:.3}", s.ratio)),
        ]);
        RaisedAlert {
            ts: s.ts_ns,
            alertname: alertname.into(),
            status: AlertStatus::Firing,
            severity: severity.clone(),
            service: (s.namespace != NO_SERVICE).then_some(s.namespace),
            labels,
            annotations,
            starts_at: s.ts_ns,
            ends_at: None,
            source: ALERT_SOURCE,
        }
    }

    fn mine(
        &mut self,
        batch: RecordBatch,
        out: &mut Output,
    ) -> Result<RecordBatch, ProcessorError> {
        let ts = columns::ts(NAME, &batch)?;
        let service = columns::strings(NAME, &batch, "service")?;
        let version = columns::strings(NAME, &batch, "version")?;
        let level = columns::strings(NAME, &batch, "level")?;
        let message = columns::strings(NAME, &batch, "message")?;
        let idx = batch
            .schema()
            .index_of("pattern_id")
            .map_err(|_| ProcessorError::Schema {
                processor: NAME.into(),
                column: "pattern_id",
            })?;
        let mut ids = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 16);
        let mut signals = Vec::new();
        for i in 0..batch.num_rows() {
            let t = ts.value(i);
            let ns = columns::opt(service, i).unwrap_or(NO_SERVICE);
            if let Some(v) = columns::opt(version, i) {
                self.note_version(ns, t, v);
            }
            let obs = self.state.miner.observe(ns, t, message.value(i));
            ids.append_value(obs.pattern_id.to_string());
            *self.state.dirty.entry(obs.pattern_id).or_default() += 1;
            if let Some(info) = self.state.miner.pattern(obs.pattern_id) {
                let lvl = Level::parse(level.value(i));
                signals.extend(self.state.signals.observe(t, &obs, info, lvl));
            }
        }
        out.alerts
            .extend(signals.into_iter().map(|s| self.alert(s)));
        let mut columns = batch.columns().to_vec();
        columns[idx] = Arc::new(ids.finish());
        RecordBatch::try_new(batch.schema(), columns).map_err(|source| ProcessorError::Arrow {
            processor: NAME.into(),
            source,
        })
    }

    fn note_version(&mut self, service: &str, ts: i64, version: &str) {
        match self.state.versions.get_mut(service) {
            Some(v) if v == version => {}
            Some(v) => {
                v.clear();
                v.push_str(version);
                self.state.signals.record_deploy(service, ts, version);
            }
            // The first version seen of a service is where we came in,
            // not a deploy.
            None => {
                // Bounded like the miner's namespaces: a flood of services
                // stops deploy tracking for new ones, never memory.
                if self.state.versions.len() < 10_000 {
                    self.state
                        .versions
                        .insert(service.to_owned(), version.to_owned());
                }
            }
        }
    }
}

impl Processor for LogPatternsProcessor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> &'static [Table] {
        &[]
    }

    fn enriches(&self) -> &'static [Table] {
        &[Table::Logs]
    }

    fn enrich(
        &mut self,
        _table: Table,
        batch: RecordBatch,
        out: &mut Output,
    ) -> Result<RecordBatch, ProcessorError> {
        self.mine(batch, out)
    }

    fn process(
        &mut self,
        _table: Table,
        _batch: &RecordBatch,
        _out: &mut Output,
    ) -> Result<(), ProcessorError> {
        Ok(())
    }

    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output) {
        let signals = self.state.signals.advance(watermark_ns);
        out.alerts
            .extend(signals.into_iter().map(|s| self.alert(s)));
    }

    fn on_flush(&mut self, out: &mut Output) {
        for (id, new_lines) in std::mem::take(&mut self.state.dirty) {
            // A template merged into another since: its lines count there.
            let Some(info) = self
                .state
                .miner
                .resolve(id)
                .and_then(|id| self.state.miner.pattern(id))
            else {
                continue;
            };
            out.log_patterns.push(PatternUpdate {
                id: id.to_string(),
                service: info.namespace.clone(),
                template: info.template.clone(),
                first_seen: info.first_seen_ns,
                last_seen: info.last_seen_ns,
                count: info.count.min(i64::MAX as u64) as i64,
                new_lines,
                example: info.example.clone(),
            });
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
