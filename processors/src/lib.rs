//! # tocsin-processors
//!
//! Processors turn batches of ingested tables into [`Decision`]s.
//!
//! - [`Processor`]: the one extension point; every detector and correlator
//!   implements it, and [`registry::build`] is where they are registered;
//! - [`Watermark`]: event-time progress, so a replay of the same input gives
//!   the same decisions;
//! - [`decision`]: the decision type and its `decisions` table form;
//! - [`output`]: what a processor call emits: decisions, raised alerts and
//!   rows of derived tables;
//! - [`error_rate`]: per-service error rate over a sliding window;
//! - [`anomaly`]: per-series anomaly scores over `metrics`, raised as alerts;
//! - [`log_patterns`]: template mining over `logs` (`pattern_id`,
//!   `log_patterns`) and the alerts it derives;
//! - [`capacity`]: forecasts of resource series and the `scale`,
//!   `rightsize` and `idle` decisions drawn from them;
//! - [`incidents`]: alert lifecycle, silences and inhibition, and
//!   correlation of alerts and changes into incidents;
//! - [`rollout`]: canary and post-deploy verdicts on every change, and SLO
//!   burn-rate alerts.

pub mod anomaly;
pub mod capacity;
mod columns;
pub mod decision;
pub mod error_rate;
pub mod incidents;
pub mod log_patterns;
pub mod output;
pub mod patching;
pub mod registry;
pub mod rollout;
mod stats;
mod watermark;

use arrow::array::RecordBatch;
use tocsin_ingest::Table;

pub use decision::{
    Decision, DecisionAction, DecisionKind, Severity, decisions_from_batch, decisions_to_batch,
    format_ts,
};
pub use output::{
    AlertStatus, IncidentRow, Output, PatternUpdate, RaisedAlert, incidents_to_batch,
};
pub use registry::ProcessorsConfig;
pub use watermark::Watermark;

/// An error inside a processor. Processors skip rows they cannot use rather
/// than fail; these errors are about state and configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// A checkpointed state could not be restored.
    #[error("cannot restore the state of processor `{processor}`: {source}")]
    Restore {
        /// The processor.
        processor: String,
        /// Why.
        source: serde_json::Error,
    },
    /// State could not be serialised.
    #[error("cannot snapshot the state of processor `{processor}`: {source}")]
    Snapshot {
        /// The processor.
        processor: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A derived batch could not be built.
    #[error("processor `{processor}` could not build a batch: {source}")]
    Arrow {
        /// The processor.
        processor: String,
        /// Why.
        source: arrow::error::ArrowError,
    },
    /// An input batch does not have the table's schema.
    #[error("processor `{processor}` got a batch without column `{column}` of the expected type")]
    Schema {
        /// The processor.
        processor: String,
        /// The missing column.
        column: &'static str,
    },
}

/// A stream processor over batches of one or more tables.
///
/// The pipeline calls [`enrich`](Processor::enrich) on every sealed batch of
/// a table listed in [`enriches`](Processor::enriches) before the batch is
/// stored, then [`process`](Processor::process) for every sealed batch of a
/// table listed in [`inputs`](Processor::inputs), then
/// [`on_watermark`](Processor::on_watermark) when event time advances, and
/// [`on_flush`](Processor::on_flush) before each flush. All time logic must
/// use event time, never the wall clock, so that replays are deterministic.
/// State is snapshotted together with the input offsets it covers and
/// restored on restart.
pub trait Processor: Send {
    /// The processor's name (the `processor` column of its decisions).
    fn name(&self) -> &'static str;

    /// The tables it consumes.
    fn inputs(&self) -> &'static [Table];

    /// Folds a batch of `table` into the state; may emit.
    fn process(
        &mut self,
        table: Table,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<(), ProcessorError>;

    /// Event time has advanced to `watermark_ns`: close windows up to it.
    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Output);

    /// The tables whose batches this processor rewrites before they are
    /// stored (for example to fill `logs.pattern_id`).
    fn enriches(&self) -> &'static [Table] {
        &[]
    }

    /// Rewrites a sealed batch of a table in [`enriches`](Processor::enriches)
    /// before it becomes queryable or durable. The schema must not change.
    fn enrich(
        &mut self,
        _table: Table,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> Result<RecordBatch, ProcessorError> {
        Ok(batch)
    }

    /// A flush is about to make everything so far durable: emit rows that
    /// summarise the interval (for example the patterns that changed).
    fn on_flush(&mut self, _out: &mut Output) {}

    /// Writes the whole state to checkpoint into `out`. The state is
    /// streamed, not built in memory first: with many series it is hundreds
    /// of MB. What changed before this call is covered by it, so the next
    /// [`snapshot_changes`](Processor::snapshot_changes) starts from here.
    fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), ProcessorError>;

    /// Replaces the state with one that [`snapshot`](Processor::snapshot) wrote.
    fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError>;

    /// Writes only what changed since the last `snapshot` or
    /// `snapshot_changes` into `out` and returns `true`; a processor whose
    /// state is small returns `false` without writing, and the checkpoint
    /// takes a full snapshot of it instead.
    fn snapshot_changes(&mut self, _out: &mut dyn std::io::Write) -> Result<bool, ProcessorError> {
        Ok(false)
    }

    /// Applies changes that [`snapshot_changes`](Processor::snapshot_changes)
    /// wrote, on top of the restored state they followed.
    fn apply_changes(&mut self, _changes: &[u8]) -> Result<(), ProcessorError> {
        Err(ProcessorError::Restore {
            processor: self.name().into(),
            source: serde::de::Error::custom("this processor does not checkpoint changes"),
        })
    }
}

/// Serialises a processor's state for the checkpoint as JSON into `out`.
pub(crate) fn state_to_json<T: serde::Serialize>(
    processor: &str,
    state: &T,
    out: &mut dyn std::io::Write,
) -> Result<(), ProcessorError> {
    serde_json::to_writer(out, state).map_err(|source| ProcessorError::Snapshot {
        processor: processor.into(),
        source,
    })
}

/// Reads a processor's state back from a checkpoint.
pub(crate) fn state_from_json<T: serde::de::DeserializeOwned>(
    processor: &str,
    state: &[u8],
) -> Result<T, ProcessorError> {
    serde_json::from_slice(state).map_err(|source| ProcessorError::Restore {
        processor: processor.into(),
        source,
    })
}

/// The state a processor checkpoints, in memory (for tests and tools).
pub fn snapshot_to_vec(p: &mut dyn Processor) -> Result<Vec<u8>, ProcessorError> {
    let mut out = Vec::new();
    p.snapshot(&mut out)?;
    Ok(out)
}
