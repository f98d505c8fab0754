//! The pipeline: messages in, micro-batches through the processors, rows and
//! decisions made durable, offsets handed back for commit.
//!
//! One [`Pipeline`] owns every source partition it reads. For each it keeps
//! an open micro-batch (sealed by size, bytes or linger), the sealed batches
//! not yet in the lake, and the offset range they cover. Sealed batches go to
//! the hot store (queryable at once) and through the processors; a flush
//! ([`flush`]) writes them to the lake, produces decisions and dead letters,
//! checkpoints, and only then reports offsets as committable.

mod flush;
mod park;

pub use flush::FlushReport;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use tocsin_ingest::builders::{DeadLetterBuilder, DeadLetterRow};
use tocsin_ingest::{
    DecodeError, DecodeLimits, Decoder, Lineage, Table, TableBuilder, decode_message,
};
use tocsin_processors::output::{
    DerivedSegment, alerts_to_batch, incidents_to_batch, log_patterns_to_batch,
};
use tocsin_processors::{Decision, Output, Processor, Watermark};
use tocsin_queries::HotStore;
use tocsin_sinks::LakeWriter;
use tocsin_sinks::kafka::{DeadLetter, KafkaOutbox};
use tocsin_sinks::outbox::DurableDecisions;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::PipelineConfig;
use crate::metrics::{DeadLetterLabels, DecisionLabels, Metrics, SourceLabels, TableLabels};

/// How the messages of one source are decoded.
pub struct Route {
    /// Destination table.
    pub table: Table,
    /// The decoder.
    pub decoder: Box<dyn Decoder>,
    /// Whether the source is a Kafka topic: its undecodable messages also go
    /// to the dead-letter topic (every source keeps them in the lake's
    /// `deadletter` table), and its offsets are committed after each flush.
    pub from_kafka: bool,
}

/// One message handed to the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct InMessage<'a> {
    /// Topic or embedded source name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Message key, if any.
    pub key: Option<&'a [u8]>,
    /// The bytes.
    pub payload: &'a [u8],
    /// Receive time (the Kafka timestamp where there is one), ns since the epoch.
    pub received_ns: i64,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Decoded into this many rows.
    Rows(usize),
    /// Dead-lettered.
    DeadLettered(DecodeError),
    /// Already durable from before a restart; ignored.
    Skipped,
}

/// The state of one source partition.
struct SourceState {
    route: Arc<Route>,
    builder: TableBuilder,
    open_since: Option<Instant>,
    sealed: Vec<RecordBatch>,
    dead_rows: DeadLetterBuilder,
    dead_sealed: Vec<RecordBatch>,
    dead_topic: Vec<DeadLetter>,
    first_offset: Option<i64>,
    last_offset: i64,
    /// First offset not yet durable.
    next_offset: i64,
    /// Whether the checkpoint records this partition (so a crash before its
    /// first flush can be cleaned up).
    in_checkpoint: bool,
    consumed: u64,
    rows: u64,
}

impl SourceState {
    fn pending_rows(&self) -> usize {
        self.sealed.iter().map(RecordBatch::num_rows).sum::<usize>() + self.builder.len()
    }
}

/// Everything the pipeline needs from outside.
pub struct PipelineParts {
    /// The partition number this pipeline is the task of, when instances
    /// share a consumer group's partitions (`[kafka] scale_out`); `None`
    /// for a pipeline that owns all its input and the whole lake.
    pub task: Option<i32>,
    /// Batching and event-time settings.
    pub cfg: PipelineConfig,
    /// The lake.
    pub lake: LakeWriter,
    /// Where sealed batches become queryable.
    pub hot: Arc<HotStore>,
    /// The checkpoint file.
    pub checkpoints: CheckpointStore,
    /// The processors, in order.
    pub processors: Vec<Box<dyn Processor>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The Kafka producer, in distributed mode.
    pub outbox: Option<Arc<KafkaOutbox>>,
    /// Where durable decisions go in embedded mode (one queue per sink).
    pub sink_feeds: Vec<mpsc::Sender<DurableDecisions>>,
}

/// The pipeline.
pub struct Pipeline {
    task: Option<i32>,
    cfg: PipelineConfig,
    limits: DecodeLimits,
    lake: LakeWriter,
    hot: Arc<HotStore>,
    checkpoints: CheckpointStore,
    processors: Vec<Box<dyn Processor>>,
    metrics: Arc<Metrics>,
    outbox: Option<Arc<KafkaOutbox>>,
    sink_feeds: Vec<mpsc::Sender<DurableDecisions>>,
    /// Decisions sinks refused, bound for the dead-letter topic (Kafka mode).
    parked_topic: Vec<DeadLetter>,
    routes: HashMap<String, Arc<Route>>,
    sources: HashMap<String, HashMap<i32, SourceState>>,
    /// Resume offsets from the checkpoint, for partitions not seen yet.
    resume: HashMap<(String, i32), i64>,
    watermark: Watermark,
    last_watermark: Option<i64>,
    pending_decisions: Vec<Decision>,
    /// Rows processors derived since the last flush (raised alerts, pattern
    /// rows), written as the `_derived` segment of the next epoch.
    pending_derived: Vec<(Table, RecordBatch)>,
    /// Batches sealed since the hot store was last updated.
    pending_hot: Vec<(Table, RecordBatch)>,
    acks: Vec<oneshot::Sender<Result<(), String>>>,
    /// The last completed flush.
    epoch: u64,
    /// The last checkpoint saved, without the processors' state (that is
    /// only on disk).
    last_checkpoint: Checkpoint,
    /// The next checkpoint writes whole processor states (set while a
    /// checkpoint is being written, so a failed one forces it).
    whole_state_next: bool,
    last_flush: Instant,
}

impl Pipeline {
    /// A pipeline that recovers from the last checkpoint, if there is one:
    /// removes lake files written after it and restores processor state.
    pub fn recover(parts: PipelineParts) -> anyhow::Result<Self> {
        let mut p = Pipeline {
            task: parts.task,
            limits: parts.cfg.limits(),
            watermark: Watermark::new(
                parts.cfg.allowed_lateness.as_nanos() as i64,
                parts.cfg.source_idle_timeout,
            ),
            cfg: parts.cfg,
            lake: parts.lake,
            hot: parts.hot,
            checkpoints: parts.checkpoints,
            processors: parts.processors,
            metrics: parts.metrics,
            outbox: parts.outbox,
            sink_feeds: parts.sink_feeds,
            parked_topic: Vec::new(),
            routes: HashMap::new(),
            sources: HashMap::new(),
            resume: HashMap::new(),
            last_watermark: None,
            pending_decisions: Vec::new(),
            pending_derived: Vec::new(),
            pending_hot: Vec::new(),
            acks: Vec::new(),
            epoch: 0,
            last_checkpoint: Checkpoint::default(),
            whole_state_next: true,
            last_flush: Instant::now(),
        };
        p.restore_checkpoint()?;
        Ok(p)
    }

    /// The partition number this pipeline is the task of (see
    /// [`PipelineParts::task`]).
    pub fn task(&self) -> Option<i32> {
        self.task
    }

    /// The partition of this pipeline's `_derived` segments, and its owner
    /// id in the hot store.
    fn derived_partition(&self) -> i32 {
        self.task.unwrap_or(0)
    }

    /// Where rows derived before flush `epoch` go.
    fn derived_at(&self, epoch: u64) -> DerivedSegment {
        DerivedSegment {
            partition: self.derived_partition(),
            epoch,
        }
    }

    /// Drops this pipeline's hot batches: its input is read again by
    /// whichever instance takes its partitions over.
    pub async fn drop_hot(&self) {
        let mut hot = self.hot.write().await;
        hot.remove_owner(self.derived_partition());
        self.metrics.hot_rows.set(hot.rows() as i64);
    }

    /// Adds a sink's live feed (sinks start after recovery, when the durable
    /// epoch is known).
    pub fn add_sink_feed(&mut self, feed: mpsc::Sender<DurableDecisions>) {
        self.sink_feeds.push(feed);
    }

    /// Closes the sinks' live feeds (at shutdown, so their readers finish).
    pub fn close_sink_feeds(&mut self) {
        self.sink_feeds.clear();
    }

    /// The epoch of the last checkpoint: every decision of it and before is
    /// in the lake.
    pub fn durable_epoch(&self) -> u64 {
        self.epoch
    }

    /// Per source partition, the first offset the last checkpoint does not
    /// cover: lake files below it are committed (and may be compacted).
    pub fn committed_offsets(&self) -> std::collections::BTreeMap<(String, i32), i64> {
        self.last_checkpoint
            .sources
            .iter()
            .map(|p| ((p.topic.clone(), p.partition), p.next_offset))
            .collect()
    }

    pub fn add_route(&mut self, source: &str, route: Route) {
        self.routes.insert(source.to_owned(), Arc::new(route));
    }

    /// Whether `source` takes whole documents (webhook bodies, scanner
    /// reports) rather than one record per line.
    pub fn takes_documents(&self, source: &str) -> bool {
        self.routes
            .get(source)
            .is_some_and(|r| r.decoder.whole_message())
    }

    /// The decoder limits in force.
    pub fn limits(&self) -> DecodeLimits {
        self.limits
    }

    /// The offset the next message of an embedded source gets.
    pub fn next_embedded_offset(&self, source: &str) -> i64 {
        match self.sources.get(source).and_then(|p| p.get(&0)) {
            Some(st) => st
                .first_offset
                .map_or(st.next_offset, |_| st.last_offset + 1),
            None => self
                .resume
                .get(&(source.to_owned(), 0))
                .copied()
                .unwrap_or(0),
        }
    }

    /// Registers `ack` to be told when everything ingested so far is durable.
    pub fn ack_on_flush(&mut self, ack: oneshot::Sender<Result<(), String>>) {
        self.acks.push(ack);
    }

    fn source(&mut self, topic: &str, partition: i32) -> Option<&mut SourceState> {
        if !self
            .sources
            .get(topic)
            .is_some_and(|p| p.contains_key(&partition))
        {
            let route = self.routes.get(topic)?.clone();
            let builder = TableBuilder::for_table(route.table)?;
            let resume = self.resume.get(&(topic.to_owned(), partition)).copied();
            let st = SourceState {
                route,
                builder,
                open_since: None,
                sealed: Vec::new(),
                dead_rows: DeadLetterBuilder::new(),
                dead_sealed: Vec::new(),
                dead_topic: Vec::new(),
                first_offset: None,
                last_offset: -1,
                next_offset: resume.unwrap_or(-1),
                in_checkpoint: resume.is_some(),
                consumed: 0,
                rows: 0,
            };
            self.sources
                .entry(topic.to_owned())
                .or_default()
                .insert(partition, st);
        }
        self.sources.get_mut(topic)?.get_mut(&partition)
    }

    /// Decodes one message into its source's open micro-batch, sealing the
    /// batch when it is full.
    pub fn ingest(&mut self, msg: InMessage<'_>) -> anyhow::Result<Outcome> {
        let limits = self.limits;
        let max_rows = self.cfg.batch_max_rows;
        let max_bytes = self.cfg.batch_max_bytes;
        let Some(st) = self.source(msg.topic, msg.partition) else {
            anyhow::bail!("no route for source `{}`", msg.topic);
        };
        if st.next_offset < 0 {
            // First message of a partition the checkpoint does not know.
            st.next_offset = msg.offset;
        }
        if msg.offset < st.next_offset
            || (st.first_offset.is_some() && msg.offset <= st.last_offset)
        {
            self.metrics
                .skipped
                .get_or_create(&SourceLabels {
                    source: msg.topic.to_owned(),
                })
                .inc();
            return Ok(Outcome::Skipped);
        }
        st.consumed += 1;
        if st.first_offset.is_none() {
            st.first_offset = Some(msg.offset);
        }
        st.last_offset = msg.offset;
        if st.open_since.is_none() {
            st.open_since = Some(Instant::now());
        }
        let lineage = Lineage {
            topic: msg.topic,
            partition: msg.partition,
            offset: msg.offset,
            received_ns: msg.received_ns,
        };
        let outcome = match decode_message(
            st.route.decoder.as_ref(),
            msg.payload,
            &lineage,
            &limits,
            &mut st.builder,
        ) {
            Ok(n) => {
                st.rows += n as u64;
                Outcome::Rows(n)
            }
            Err(e) => {
                let error = e.to_string();
                st.dead_rows.push(
                    &DeadLetterRow {
                        ts: msg.received_ns,
                        table: st.route.table.name(),
                        format: st.route.decoder.format(),
                        reason: e.reason.as_str(),
                        error: &error,
                        raw: msg.payload,
                    },
                    &lineage,
                );
                if st.route.from_kafka {
                    st.dead_topic.push(DeadLetter {
                        payload: msg.payload.to_vec(),
                        key: msg.key.map(<[u8]>::to_vec),
                        topic: msg.topic.to_owned(),
                        partition: msg.partition,
                        offset: msg.offset,
                        error,
                        reason: e.reason.as_str(),
                    });
                }
                Outcome::DeadLettered(e)
            }
        };
        let full = st.builder.len() >= max_rows || st.builder.approx_bytes() >= max_bytes;
        if let Outcome::DeadLettered(e) = &outcome {
            self.metrics
                .dead_lettered
                .get_or_create(&DeadLetterLabels {
                    source: msg.topic.to_owned(),
                    reason: e.reason.as_str().to_owned(),
                })
                .inc();
        }
        if full {
            self.seal(msg.topic, msg.partition)?;
        }
        Ok(outcome)
    }

    /// Seals every open batch older than the linger time.
    pub fn seal_lingering(&mut self) -> anyhow::Result<()> {
        let linger = self.cfg.batch_linger;
        let due: Vec<(String, i32)> = self
            .sources
            .iter()
            .flat_map(|(t, parts)| {
                parts
                    .iter()
                    .filter(|(_, st)| st.open_since.is_some_and(|s| s.elapsed() >= linger))
                    .map(|(p, _)| (t.clone(), *p))
            })
            .collect();
        for (t, p) in due {
            self.seal(&t, p)?;
        }
        // A source that went quiet stops holding event time back.
        let wm = self.watermark.advance(std::time::Instant::now());
        let mut out = Output::default();
        self.on_watermark(wm, &mut out);
        self.absorb(out, 0)
    }

    fn seal_all(&mut self) -> anyhow::Result<()> {
        let all: Vec<(String, i32)> = self
            .sources
            .iter()
            .flat_map(|(t, parts)| parts.keys().map(|p| (t.clone(), *p)))
            .collect();
        for (t, p) in all {
            self.seal(&t, p)?;
        }
        Ok(())
    }

    /// Closes the open micro-batch of a source: it becomes queryable and
    /// goes through the processors.
    fn seal(&mut self, topic: &str, partition: i32) -> anyhow::Result<()> {
        let Some(st) = self
            .sources
            .get_mut(topic)
            .and_then(|p| p.get_mut(&partition))
        else {
            return Ok(());
        };
        st.open_since = None;
        let table = st.route.table;
        let mut new_batches = Vec::new();
        let mut enriched = Output::default();
        if !st.builder.is_empty() {
            let mut batch = st.builder.finish()?;
            for p in self.processors.iter_mut() {
                if p.enriches().contains(&table) {
                    batch = p.enrich(table, batch, &mut enriched)?;
                }
            }
            st.sealed.push(batch.clone());
            new_batches.push((table, batch));
        }
        if !st.dead_rows.is_empty() {
            let batch = TableBuilder::DeadLetter(std::mem::take(&mut st.dead_rows)).finish()?;
            st.dead_sealed.push(batch.clone());
            new_batches.push((Table::DeadLetter, batch));
        }
        let (consumed, rows) = (
            std::mem::take(&mut st.consumed),
            std::mem::take(&mut st.rows),
        );
        self.metrics
            .consumed
            .get_or_create(&SourceLabels {
                source: topic.to_owned(),
            })
            .inc_by(consumed);
        self.metrics
            .rows_decoded
            .get_or_create(&TableLabels {
                table: table.name().to_owned(),
            })
            .inc_by(rows);
        self.absorb(enriched, 0)?;
        for (table, batch) in new_batches {
            self.process((topic, partition), table, &batch)?;
            self.pending_hot.push((table, batch));
        }
        Ok(())
    }

    /// Takes in what processors emitted: decisions wait for the flush;
    /// raised alerts and pattern rows become derived batches that are
    /// queryable at once, and raised alerts also go through the processors
    /// that read alerts (`depth` bounds that feedback).
    fn absorb(&mut self, mut out: Output, depth: usize) -> anyhow::Result<()> {
        for d in &out.decisions {
            self.metrics
                .decisions
                .get_or_create(&DecisionLabels {
                    kind: d.kind.as_str().to_owned(),
                    action: d.action.as_str().to_owned(),
                })
                .inc();
            tracing::info!(
                kind = d.kind.as_str(),
                action = d.action.as_str(),
                target = %d.target,
                dedup_key = %d.dedup_key,
                "{}",
                d.reason
            );
        }
        self.pending_decisions.append(&mut out.decisions);
        let epoch = self.epoch + 1;
        if !out.log_patterns.is_empty() {
            let batch = log_patterns_to_batch(&out.log_patterns, self.derived_at(epoch))?;
            self.pending_derived
                .push((Table::LogPatterns, batch.clone()));
            self.pending_hot.push((Table::LogPatterns, batch));
        }
        if !out.incidents.is_empty() {
            let batch = incidents_to_batch(&out.incidents)?;
            self.pending_derived.push((Table::Incidents, batch.clone()));
            self.pending_hot.push((Table::Incidents, batch));
        }
        if !out.alerts.is_empty() {
            for a in &out.alerts {
                tracing::info!(
                    alertname = %a.alertname,
                    status = a.status.as_str(),
                    service = a.service.as_deref().unwrap_or(""),
                    source = a.source,
                    "raised alert"
                );
            }
            let batch = alerts_to_batch(&out.alerts, self.derived_at(epoch))?;
            self.pending_derived.push((Table::Alerts, batch.clone()));
            self.pending_hot.push((Table::Alerts, batch.clone()));
            // Alerts raised by processors feed the alert processors once;
            // what those raise in turn is stored but not fed back again.
            if depth == 0 {
                let mut next = Output::default();
                for p in self.processors.iter_mut() {
                    if p.inputs().contains(&Table::Alerts) {
                        p.process(Table::Alerts, &batch, &mut next)?;
                    }
                }
                self.absorb(next, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Runs the processors over a sealed batch of `source` and advances
    /// event time.
    fn process(
        &mut self,
        source: (&str, i32),
        table: Table,
        batch: &RecordBatch,
    ) -> anyhow::Result<()> {
        let mut out = Output::default();
        for p in self.processors.iter_mut() {
            if p.inputs().contains(&table) {
                p.process(table, batch, &mut out)?;
            }
        }
        // Dead letters carry their receive time, not an event time: they
        // must not move the watermark.
        if table != Table::DeadLetter
            && let Some(max_ts) = max_event_time(batch)
        {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
            let ceiling = now.saturating_add(self.cfg.max_future_skew.as_nanos() as i64);
            let wm = self
                .watermark
                .observe(source, max_ts.min(ceiling), std::time::Instant::now());
            self.on_watermark(wm, &mut out);
        }
        self.absorb(out, 0)
    }

    /// Tells the processors when event time moved.
    fn on_watermark(&mut self, wm: Option<i64>, out: &mut Output) {
        if let Some(wm) = wm
            && self.last_watermark != Some(wm)
        {
            self.last_watermark = Some(wm);
            for p in self.processors.iter_mut() {
                p.on_watermark(wm, out);
            }
            self.metrics.watermark_seconds.set(wm as f64 / 1e9);
        }
    }

    /// Makes newly sealed batches queryable.
    pub async fn publish_hot(&mut self) {
        if self.pending_hot.is_empty() {
            return;
        }
        let (owner, epoch) = (self.derived_partition(), self.epoch + 1);
        let mut hot = self.hot.write().await;
        for (table, batch) in self.pending_hot.drain(..) {
            hot.push(table, owner, epoch, batch);
        }
        self.metrics.hot_rows.set(hot.rows() as i64);
    }

    /// Rows read but not yet in the lake.
    pub fn pending_rows(&self) -> usize {
        self.sources
            .values()
            .flat_map(|p| p.values())
            .map(SourceState::pending_rows)
            .sum()
    }

    /// Whether a flush is due: the interval passed, enough rows wait, or a
    /// caller waits for durability and the linger time passed.
    pub fn flush_due(&self) -> bool {
        let since = self.last_flush.elapsed();
        since >= self.cfg.flush_interval
            || self.pending_rows() >= self.cfg.flush_max_rows
            || (!self.acks.is_empty() && since >= self.cfg.batch_linger)
            || (!self.pending_decisions.is_empty() && since >= self.cfg.decision_linger)
    }
}

fn max_event_time(batch: &RecordBatch) -> Option<i64> {
    let ts = batch
        .column_by_name("ts")?
        .as_primitive_opt::<TimestampNanosecondType>()?;
    arrow::compute::max(ts)
}
