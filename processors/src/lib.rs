//! # tocsin-processors
//!
//! Processors turn batches of ingested tables into [`Decision`]s.
//!
//! - [`Processor`]: the one extension point; every detector and correlator
//!   implements it, and [`registry::build`] is where they are registered;
//! - [`Watermark`]: event-time progress, so a replay of the same input gives
//!   the same decisions;
//! - [`decision`]: the decision type and its `decisions` table form;
//! - [`error_rate`]: per-service error rate over a sliding window.

pub mod decision;
pub mod error_rate;
pub mod registry;
mod stats;
mod watermark;

use arrow::array::RecordBatch;
use tocsin_ingest::Table;

pub use decision::{Decision, DecisionAction, DecisionKind, Severity, decisions_to_batch};
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
/// The pipeline calls [`process`](Processor::process) for every sealed batch
/// of a table listed in [`inputs`](Processor::inputs), then
/// [`on_watermark`](Processor::on_watermark) when event time advances. All
/// time logic must use event time, never the wall clock, so that replays are
/// deterministic. State is snapshotted together with the input offsets it
/// covers and restored on restart.
pub trait Processor: Send {
    /// The processor's name (the `processor` column of its decisions).
    fn name(&self) -> &'static str;

    /// The tables it consumes.
    fn inputs(&self) -> &'static [Table];

    /// Folds a batch of `table` into the state; may emit decisions.
    fn process(
        &mut self,
        table: Table,
        batch: &RecordBatch,
        out: &mut Vec<Decision>,
    ) -> Result<(), ProcessorError>;

    /// Event time has advanced to `watermark_ns`: close windows up to it.
    fn on_watermark(&mut self, watermark_ns: i64, out: &mut Vec<Decision>);

    /// The state to checkpoint.
    fn snapshot(&self) -> Result<serde_json::Value, ProcessorError>;

    /// Replaces the state with a checkpointed one.
    fn restore(&mut self, state: serde_json::Value) -> Result<(), ProcessorError>;
}
