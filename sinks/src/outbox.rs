//! The lake's `decisions` table as the outbox of the embedded mode.
//!
//! The pipeline writes each flush's decisions to the lake (as the derived
//! segment of that flush epoch) before it tells the sinks about them, so a
//! decision a sink has not delivered is always on disk. Each sink's reader
//! starts from the sink's saved position: it first reads the lake files of
//! the epochs it missed, then takes epochs live from the pipeline; if it
//! fell behind (the live channel was full), it reads the gap from the lake
//! again. Within an epoch, decisions are numbered in one canonical order
//! (time, then open/update/resolve, then id) whether they come from memory
//! or from a file, because the lake sorts file rows by (target, ts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tocsin_ingest::{LakeLayout, SegmentId, Table};
use tocsin_processors::output::DERIVED_SOURCE;
use tocsin_processors::{Decision, DecisionAction, decisions_from_batch};
use tokio::sync::{mpsc, watch};

use crate::delivery::{Cursor, OutboxEntry, Position, wait_for_shutdown};
use crate::lake::{LakeError, list_files};

/// The decisions of one flush epoch, sent by the pipeline once durable.
#[derive(Debug, Clone)]
pub struct DurableDecisions {
    /// The flush epoch.
    pub epoch: u64,
    /// Its decisions, in the order they were made.
    pub decisions: Arc<Vec<Decision>>,
}

/// The lake outbox could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Listing the lake failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A decisions file could not be read.
    #[error("reading decisions from {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn action_rank(a: DecisionAction) -> u8 {
    match a {
        DecisionAction::Open => 0,
        DecisionAction::Update => 1,
        DecisionAction::Resolve => 2,
    }
}

/// Sorts one epoch's decisions into the canonical outbox order.
pub fn canonical_order(decisions: &mut [Decision]) {
    decisions.sort_by(|a, b| {
        (a.ts, action_rank(a.action), &a.id).cmp(&(b.ts, action_rank(b.action), &b.id))
    });
}

fn read_file(path: &Path) -> Result<Vec<Decision>, OutboxError> {
    let err = |reason: String| OutboxError::File {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        out.extend(decisions_from_batch(&batch).map_err(|e| err(e.to_string()))?);
    }
    Ok(out)
}

/// Reads the decisions of epochs `from..=to` from the lake, per epoch, in
/// canonical order.
pub fn read_epochs(
    layout: &LakeLayout,
    from: u64,
    to: u64,
) -> Result<BTreeMap<u64, Vec<Decision>>, OutboxError> {
    let mut out: BTreeMap<u64, Vec<Decision>> = BTreeMap::new();
    if from > to {
        return Ok(out);
    }
    for path in list_files(&layout.table_dir(Table::Decisions))? {
        let Some(seg) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(SegmentId::parse_file_name)
        else {
            continue;
        };
        let epoch = seg.first_offset as u64;
        if seg.topic != DERIVED_SOURCE || epoch < from || epoch > to {
            continue;
        }
        out.entry(epoch).or_default().extend(read_file(&path)?);
    }
    for decisions in out.values_mut() {
        canonical_order(decisions);
    }
    Ok(out)
}

/// Sends one epoch's decisions to the engine; false once the engine is gone.
async fn send_epoch(
    engine: &mpsc::Sender<OutboxEntry>,
    epoch: u64,
    decisions: Vec<Decision>,
) -> bool {
    for (i, d) in decisions.into_iter().enumerate() {
        let entry = OutboxEntry {
            position: Position {
                part: 0,
                major: epoch as i64,
                minor: i as i64,
            },
            decision: Arc::new(d),
        };
        if engine.send(entry).await.is_err() {
            return false;
        }
    }
    true
}

/// Feeds one sink's engine from the lake outbox: the epochs after its saved
/// position up to `durable_epoch` (the pipeline's last checkpoint) from the
/// files, then live epochs, until `live` closes or shutdown.
pub async fn run_lake_outbox(
    layout: LakeLayout,
    resume: Cursor,
    durable_epoch: u64,
    mut live: mpsc::Receiver<DurableDecisions>,
    engine: mpsc::Sender<OutboxEntry>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), OutboxError> {
    let from = resume
        .through(0)
        .map_or(0, |(epoch, _)| epoch.max(0) as u64);
    let mut last = durable_epoch;
    let backlog = {
        let l = layout.clone();
        tokio::task::spawn_blocking(move || read_epochs(&l, from, durable_epoch))
            .await
            .map_err(|e| OutboxError::File {
                path: layout.table_dir(Table::Decisions),
                reason: e.to_string(),
            })??
    };
    for (epoch, decisions) in backlog {
        if !send_epoch(&engine, epoch, decisions).await {
            return Ok(());
        }
    }
    loop {
        let batch = tokio::select! {
            b = live.recv() => b,
            _ = wait_for_shutdown(&mut shutdown) => None,
        };
        let Some(batch) = batch else { return Ok(()) };
        if batch.epoch <= last {
            continue;
        }
        if batch.epoch > last + 1 {
            let gap = read_epochs(&layout, last + 1, batch.epoch - 1)?;
            for (epoch, decisions) in gap {
                if !send_epoch(&engine, epoch, decisions).await {
                    return Ok(());
                }
            }
        }
        let mut decisions = (*batch.decisions).clone();
        canonical_order(&mut decisions);
        if !send_epoch(&engine, batch.epoch, decisions).await {
            return Ok(());
        }
        last = batch.epoch;
    }
}
