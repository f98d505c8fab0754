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

/// Hot batches per table, each tagged with its writer (a pipeline task) and
/// the flush epoch of that writer that will make it durable.
#[derive(Debug, Default)]
pub struct HotStore {
    inner: RwLock<HotBatches>,
}

/// The batches inside a [`HotStore`].
#[derive(Debug, Default)]
pub struct HotBatches {
    tables: BTreeMap<Table, Vec<HotBatch>>,
}

#[derive(Debug)]
struct HotBatch {
    owner: i32,
    epoch: u64,
    batch: RecordBatch,
}

impl HotBatches {
    /// Adds a batch of `table` that `owner`'s flush of `epoch` will write.
    /// Owners flush independently, so each has epochs of its own.
    pub fn push(&mut self, table: Table, owner: i32, epoch: u64, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.tables.entry(table).or_default().push(HotBatch {
                owner,
                epoch,
                batch,
            });
        }
    }

    /// Drops every batch of `owner` made durable by its flushes up to and
    /// including `epoch`.
    pub fn remove_through(&mut self, owner: i32, epoch: u64) {
        for batches in self.tables.values_mut() {
            batches.retain(|b| b.owner != owner || b.epoch > epoch);
        }
    }

    /// Drops every batch of `owner`: its input went to another instance,
    /// which reads it again.
    pub fn remove_owner(&mut self, owner: i32) {
        for batches in self.tables.values_mut() {
            batches.retain(|b| b.owner != owner);
        }
    }

    /// The hot batches of `table`.
    pub fn batches(&self, table: Table) -> Vec<RecordBatch> {
        self.tables
            .get(&table)
            .map(|v| v.iter().map(|b| b.batch.clone()).collect())
            .unwrap_or_default()
    }

    /// Hot rows over all tables.
    pub fn rows(&self) -> usize {
        self.tables
            .values()
            .flat_map(|v| v.iter().map(|b| b.batch.num_rows()))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn rows(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n))]).unwrap()
    }

    #[test]
    fn each_owner_removes_only_its_own_epochs() {
        let mut hot = HotBatches::default();
        hot.push(Table::Logs, 0, 1, rows(1));
        hot.push(Table::Logs, 0, 2, rows(2));
        hot.push(Table::Logs, 1, 1, rows(4));
        hot.push(Table::Logs, 1, 2, rows(8));
        hot.remove_through(0, 1);
        assert_eq!(hot.rows(), 2 + 4 + 8);
        hot.remove_through(1, 2);
        assert_eq!(hot.rows(), 2);
        hot.push(Table::Logs, 1, 3, rows(16));
        hot.remove_owner(1);
        assert_eq!(hot.rows(), 2);
        assert_eq!(hot.batches(Table::Logs).len(), 1);
    }
}
