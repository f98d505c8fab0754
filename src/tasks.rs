//! Which pipeline reads which partitions, and how partitions move between
//! the instances of a consumer group.
//!
//! Without `[kafka] scale_out` (and in the embedded mode) one [`Pipeline`]
//! owns every partition this instance reads, with its checkpoint in the
//! instance's state directory. With it, each partition number is a *task*:
//! a pipeline of its own that reads that partition of every topic, with its
//! processors, watermark, `_derived` segment and checkpoint, the checkpoint
//! kept beside the lake (`<lake>/_tasks/<n>/`) so that the instance the
//! group assigns the partition to next resumes from it. This is the shape
//! of Kafka Streams: state is partitioned the way the input is.
//!
//! A rebalance revokes partitions before it assigns them. A revoked task is
//! suspended — neither fed nor flushed, since another member may own its
//! partitions as soon as the group settles — and, when the assignment
//! arrives, kept if the partition came back or dropped if it did not. A
//! dropped task loses nothing: whatever it had not flushed is read again
//! by the new owner from the task's checkpoint, and the lake files it had
//! staged but not checkpointed are removed by the new owner's recovery.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use tocsin_ingest::kafka::Rebalanced;
use tocsin_ingest::{LakeLayout, Table, decoder_for};
use tocsin_queries::HotStore;
use tocsin_sinks::LakeWriter;
use tocsin_sinks::delivery::Parked;
use tocsin_sinks::kafka::KafkaOutbox;
use tocsin_sinks::outbox::DurableDecisions;
use tokio::sync::mpsc;

use crate::checkpoint::CheckpointStore;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{FlushReport, Pipeline, PipelineParts, Route};
use crate::server;

#[cfg(test)]
mod tests;

/// The embedded sources the simulator feeds.
pub const SIMULATOR_SOURCES: [(&str, Table); 2] = [
    ("simulator.logs", Table::Logs),
    ("simulator.metrics", Table::Metrics),
];

/// Builds a pipeline for a task (or for the whole instance), recovered
/// from its checkpoint, with every route of the configuration.
pub struct PipelineFactory {
    /// The configuration.
    pub cfg: Arc<Config>,
    /// The lake.
    pub layout: LakeLayout,
    /// Where sealed batches become queryable.
    pub hot: Arc<HotStore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The Kafka producer, in distributed mode.
    pub outbox: Option<Arc<KafkaOutbox>>,
}

impl PipelineFactory {
    /// Where the checkpoint of `task` lives: the instance's state
    /// directory, or beside the lake for a partition task.
    pub fn checkpoint_dir(&self, task: Option<i32>) -> PathBuf {
        match task {
            None => self.cfg.state_dir(),
            Some(n) => self.layout.root().join("_tasks").join(n.to_string()),
        }
    }

    /// A pipeline for `task`, recovered from its checkpoint.
    pub fn build(&self, task: Option<i32>) -> anyhow::Result<Pipeline> {
        let cfg = &self.cfg;
        let mut pipeline = Pipeline::recover(PipelineParts {
            task,
            cfg: cfg.pipeline.clone(),
            lake: LakeWriter::new(self.layout.clone())?,
            hot: self.hot.clone(),
            checkpoints: CheckpointStore::open(&self.checkpoint_dir(task))?,
            processors: tocsin_processors::registry::build(&cfg.processors_config())
                .map_err(|e| anyhow::anyhow!(e))?,
            metrics: self.metrics.clone(),
            outbox: self.outbox.clone(),
            sink_feeds: Vec::new(),
        })?;
        let limits = pipeline.limits();
        let route = |table: Table, format: &str, from_kafka: bool| -> anyhow::Result<Route> {
            Ok(Route {
                table,
                decoder: decoder_for(table, format, limits).map_err(anyhow::Error::msg)?,
                from_kafka,
            })
        };
        for table in Table::ALL {
            for format in tocsin_ingest::decode::formats_for(table) {
                if let Some(source) = server::ingest_source(table, format) {
                    pipeline.add_route(&source, route(table, format, false)?);
                }
            }
        }
        for (source, table) in SIMULATOR_SOURCES {
            pipeline.add_route(source, route(table, "json", false)?);
        }
        if let Some(k) = &cfg.kafka {
            for t in &k.topics {
                pipeline.add_route(&t.name, route(t.table, &t.format, true)?);
            }
        }
        Ok(pipeline)
    }
}

/// The pipelines of this instance.
pub struct TaskSet {
    factory: PipelineFactory,
    scale_out: bool,
    /// By partition number; the single pipeline of an instance that is not
    /// scaled out is under 0.
    pipelines: BTreeMap<i32, Pipeline>,
    /// Revoked by a rebalance whose assignment has not arrived yet.
    suspended: BTreeSet<i32>,
}

impl TaskSet {
    /// One pipeline for everything this instance reads, recovered now.
    pub fn whole_instance(factory: PipelineFactory) -> anyhow::Result<TaskSet> {
        let pipeline = factory.build(None)?;
        Ok(TaskSet {
            factory,
            scale_out: false,
            pipelines: BTreeMap::from([(0, pipeline)]),
            suspended: BTreeSet::new(),
        })
    }

    /// No pipeline until the group assigns partitions.
    pub fn per_partition(factory: PipelineFactory) -> TaskSet {
        TaskSet {
            factory,
            scale_out: true,
            pipelines: BTreeMap::new(),
            suspended: BTreeSet::new(),
        }
    }

    /// The pipeline that reads `partition` of a topic, if this instance
    /// owns it now.
    pub fn for_partition(&mut self, partition: i32) -> Option<&mut Pipeline> {
        if !self.scale_out {
            return self.pipelines.get_mut(&0);
        }
        if self.suspended.contains(&partition) {
            return None;
        }
        self.pipelines.get_mut(&partition)
    }

    /// The pipeline of the whole instance (embedded sources, sink feeds);
    /// `None` when partitions are tasks.
    pub fn whole(&mut self) -> Option<&mut Pipeline> {
        if self.scale_out {
            None
        } else {
            self.pipelines.get_mut(&0)
        }
    }

    /// The tasks owned now (not suspended), by partition number.
    pub fn owned(&self) -> Vec<i32> {
        self.pipelines
            .keys()
            .filter(|n| !self.suspended.contains(n))
            .copied()
            .collect()
    }

    fn active(&mut self) -> impl Iterator<Item = &mut Pipeline> {
        let suspended = &self.suspended;
        self.pipelines
            .iter_mut()
            .filter(move |(n, _)| !suspended.contains(n))
            .map(|(_, p)| p)
    }

    /// Applies the group's rebalances, in order: suspends revoked tasks,
    /// then on an assignment keeps those that came back, drops the others
    /// and recovers new ones from their checkpoints. Without scale-out the
    /// one pipeline keeps every partition it has seen (see ARCHITECTURE's
    /// known limits).
    pub async fn rebalanced(&mut self, events: Vec<Rebalanced>) -> anyhow::Result<()> {
        for event in events {
            match event {
                Rebalanced::Revoked(parts) => {
                    tracing::info!(partitions = ?parts, "partitions revoked");
                    if self.scale_out {
                        self.suspended.extend(
                            parts
                                .iter()
                                .map(|(_, p)| *p)
                                .filter(|p| self.pipelines.contains_key(p)),
                        );
                    }
                }
                Rebalanced::Assigned(parts) => {
                    tracing::info!(partitions = ?parts, "partitions assigned");
                    if self.scale_out {
                        let numbers: BTreeSet<i32> = parts.iter().map(|(_, p)| *p).collect();
                        self.assign(&numbers).await?;
                        tracing::info!(tasks = ?self.owned(), "tasks owned");
                    }
                }
            }
        }
        Ok(())
    }

    async fn assign(&mut self, numbers: &BTreeSet<i32>) -> anyhow::Result<()> {
        for n in std::mem::take(&mut self.suspended) {
            if numbers.contains(&n) {
                continue;
            }
            if let Some(p) = self.pipelines.remove(&n) {
                p.drop_hot().await;
                tracing::info!(
                    task = n,
                    pending_rows = p.pending_rows(),
                    "task handed over; what it had not flushed is read again by its new owner"
                );
            }
        }
        for &n in numbers {
            if self.pipelines.contains_key(&n) {
                continue;
            }
            let p = self.factory.build(Some(n))?;
            tracing::info!(
                task = n,
                epoch = p.durable_epoch(),
                "task taken over from its checkpoint"
            );
            self.pipelines.insert(n, p);
        }
        Ok(())
    }

    /// Seals lingering batches of every owned task.
    pub fn seal_lingering(&mut self) -> anyhow::Result<()> {
        for p in self.active() {
            p.seal_lingering()?;
        }
        Ok(())
    }

    /// Makes newly sealed batches queryable.
    pub async fn publish_hot(&mut self) {
        for p in self.active() {
            p.publish_hot().await;
        }
    }

    /// Flushes every owned task whose flush is due (or all of them), and
    /// returns the offsets to commit and whether every flush succeeded. A
    /// failed task keeps its rows for the next attempt.
    pub async fn flush(&mut self, all: bool) -> (Vec<(String, i32, i64)>, bool) {
        let mut commits = Vec::new();
        let mut ok = true;
        for p in self.active() {
            if !all && !p.flush_due() {
                continue;
            }
            match p.flush().await {
                Ok(FlushReport { commits: c, .. }) => commits.extend(c),
                Err(e) => {
                    ok = false;
                    tracing::error!(task = ?p.task(), error = %format!("{e:#}"), "flush failed; will retry");
                }
            }
        }
        (commits, ok)
    }

    /// Per source partition of every owned task, the first offset its last
    /// checkpoint does not cover (what compaction may merge below).
    pub fn committed_offsets(&self) -> BTreeMap<(String, i32), i64> {
        self.pipelines
            .iter()
            .filter(|(n, _)| !self.suspended.contains(n))
            .flat_map(|(_, p)| p.committed_offsets())
            .collect()
    }

    /// Keeps a decision a sink refused, with the next flush of the first
    /// owned task. `Ok(false)` when this instance owns no task now; the
    /// caller keeps it for later.
    pub fn park(&mut self, parked: &Parked) -> anyhow::Result<bool> {
        match self.active().next() {
            Some(p) => {
                p.park(parked)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Adds a sink's live feed (embedded mode: the whole-instance pipeline).
    pub fn add_sink_feed(&mut self, feed: mpsc::Sender<DurableDecisions>) {
        if let Some(p) = self.whole() {
            p.add_sink_feed(feed);
        }
    }

    /// Closes the sinks' live feeds.
    pub fn close_sink_feeds(&mut self) {
        for p in self.pipelines.values_mut() {
            p.close_sink_feeds();
        }
    }

    /// Tells every waiting caller that the flush failed.
    pub fn fail_acks(&mut self, error: &str) {
        for p in self.pipelines.values_mut() {
            p.fail_acks(error);
        }
    }
}
