//! Hot data: batches sealed by the pipeline but not yet in the lake.
//!
//! Queries see the lake plus these batches. Publishing a flush (renaming its
//! files into the lake and dropping the batches it covered) happens under the
//! write lock, and a scan lists lake files and snapshots hot batches under the
//! read lock, so a query never sees a row twice or misses it in between.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use tocsin_ingest::Table;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Hot batches per table, each tagged with the flush epoch that will make it
/// durable.
#[derive(Debug, Default)]
pub struct HotStore {
    inner: RwLock<HotBatches>,
}

/// The batches inside a [`HotStore`].
#[derive(Debug, Default)]
pub struct HotBatches {
    tables: BTreeMap<Table, Vec<(u64, RecordBatch)>>,
}

impl HotBatches {
    /// Adds a batch of `table` that the flush of `epoch` will write.
    pub fn push(&mut self, table: Table, epoch: u64, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.tables.entry(table).or_default().push((epoch, batch));
        }
    }

    /// Drops every batch made durable by flushes up to and including `epoch`.
    pub fn remove_through(&mut self, epoch: u64) {
        for batches in self.tables.values_mut() {
            batches.retain(|(e, _)| *e > epoch);
        }
    }

    /// The hot batches of `table`.
    pub fn batches(&self, table: Table) -> Vec<RecordBatch> {
        self.tables
            .get(&table)
            .map(|v| v.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default()
    }

    /// Hot rows over all tables.
    pub fn rows(&self) -> usize {
        self.tables
            .values()
            .flat_map(|v| v.iter().map(|(_, b)| b.num_rows()))
            .sum()
    }
}

impl HotStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shared access, held by a scan while it lists lake files.
    pub async fn read(&self) -> RwLockReadGuard<'_, HotBatches> {
        self.inner.read().await
    }

    /// Exclusive access, held while a flush is published.
    pub async fn write(&self) -> RwLockWriteGuard<'_, HotBatches> {
        self.inner.write().await
    }
}
