//! Making sealed data durable, and recovering from the last time it was.
//!
//! A flush, in order: seal every open batch; record new source partitions in
//! the checkpoint (so a crash in the middle can be cleaned up); write each
//! segment's files under temp names and fsync them; produce decisions and
//! dead letters to Kafka and wait for the acknowledgements; rename the files
//! into the lake and drop the hot copies (atomically for queries); save the
//! checkpoint with the processors' state; hand decisions to the sinks and
//! report the offsets that may now be committed. A failure before the rename
//! leaves everything in memory for the next attempt.

use std::sync::Arc;
use std::time::Instant;

use tocsin_ingest::{SegmentId, Table};
use tocsin_processors::decisions_to_batch;
use tocsin_sinks::outbox::DurableDecisions;

use super::Pipeline;
use crate::checkpoint::{Checkpoint, DERIVED_SOURCE, SourcePosition};
use crate::metrics::TableLabels;

/// What a flush made durable.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlushReport {
    /// `(topic, partition, next_offset)` of every source partition, to commit.
    pub commits: Vec<(String, i32, i64)>,
    /// Rows written to the lake.
    pub rows: usize,
    /// Decisions made durable.
    pub decisions: usize,
}

struct StageJob {
    table: Table,
    segment: SegmentId,
    batches: Vec<arrow::array::RecordBatch>,
}

impl Pipeline {
    pub(super) fn restore_checkpoint(&mut self) -> anyhow::Result<()> {
        // A pipeline that owns the whole lake removes every leftover temp
        // file; a task only its own sources' (below), as other instances
        // may be writing theirs.
        let mut removed = match self.task {
            None => self.lake.remove_temp_files()?,
            Some(_) => 0,
        };
        let Some(mut cp) = self.checkpoints.load()? else {
            return Ok(());
        };
        for pos in &cp.sources {
            removed += self
                .lake
                .remove_uncommitted(&pos.topic, pos.partition, pos.next_offset)?;
            if pos.topic != DERIVED_SOURCE {
                self.resume
                    .insert((pos.topic.clone(), pos.partition), pos.next_offset);
            }
        }
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed lake files written after the last checkpoint; their input will be read again"
            );
        }
        self.checkpoints.restore_states(&cp, &mut self.processors)?;
        cp.embedded_state.clear();
        self.watermark.restore(cp.max_event_ns, cp.watermark_ns);
        let now = std::time::Instant::now();
        for pos in cp.sources.iter().filter(|p| p.topic != DERIVED_SOURCE) {
            self.watermark.expect((&pos.topic, pos.partition), now);
        }
        self.last_watermark = self.watermark.current();
        self.epoch = cp.epoch;
        tracing::info!(
            epoch = cp.epoch,
            sources = cp.sources.len(),
            "resumed from checkpoint"
        );
        self.last_checkpoint = cp;
        Ok(())
    }

    fn positions(&self, include_pending_new: bool) -> Vec<SourcePosition> {
        let mut out: Vec<SourcePosition> = Vec::new();
        for (topic, parts) in &self.sources {
            for (&partition, st) in parts {
                if st.in_checkpoint || include_pending_new {
                    out.push(SourcePosition {
                        topic: topic.clone(),
                        partition,
                        next_offset: st.next_offset,
                    });
                }
            }
        }
        // Partitions in the checkpoint that this run has not seen (yet).
        for ((topic, partition), &next) in &self.resume {
            if !self
                .sources
                .get(topic)
                .is_some_and(|p| p.contains_key(partition))
            {
                out.push(SourcePosition {
                    topic: topic.clone(),
                    partition: *partition,
                    next_offset: next,
                });
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        out
    }

    /// Makes everything ingested so far durable. See the module docs for the order.
    pub async fn flush(&mut self) -> anyhow::Result<FlushReport> {
        let started = Instant::now();
        self.seal_all()?;
        let mut out = tocsin_processors::Output::default();
        for p in self.processors.iter_mut() {
            p.on_flush(&mut out);
        }
        self.absorb(out, 0)?;
        self.publish_hot().await;
        self.last_flush = Instant::now();

        let has_data = self.sources.values().flat_map(|p| p.values()).any(|st| {
            !st.sealed.is_empty() || !st.dead_sealed.is_empty() || st.first_offset.is_some()
        });
        if !has_data && self.pending_decisions.is_empty() && self.pending_derived.is_empty() {
            for ack in self.acks.drain(..) {
                let _ = ack.send(Ok(()));
            }
            return Ok(FlushReport::default());
        }

        // New partitions go into the checkpoint before any of their files
        // exist, so that a crash during this flush can be cleaned up.
        if self
            .sources
            .values()
            .flat_map(|p| p.values())
            .any(|st| !st.in_checkpoint)
        {
            // The intent names the same state files as the last header
            // (state written by an older version stays embedded in it).
            let mut intent = self.checkpoints.load()?.unwrap_or_default();
            intent.sources = self.positions(true);
            intent.sources.push(SourcePosition {
                topic: DERIVED_SOURCE.into(),
                partition: self.derived_partition(),
                next_offset: self.epoch as i64 + 1,
            });
            self.checkpoints.save(&intent)?;
            for st in self.sources.values_mut().flat_map(|p| p.values_mut()) {
                st.in_checkpoint = true;
            }
        }

        let epoch = self.epoch + 1;
        let mut jobs = Vec::new();
        for (topic, parts) in &self.sources {
            for (&partition, st) in parts {
                let Some(first) = st.first_offset else {
                    continue;
                };
                let segment = SegmentId {
                    topic: topic.clone(),
                    partition,
                    first_offset: first,
                    last_offset: st.last_offset,
                };
                if !st.sealed.is_empty() {
                    jobs.push(StageJob {
                        table: st.route.table,
                        segment: segment.clone(),
                        batches: st.sealed.clone(),
                    });
                }
                if !st.dead_sealed.is_empty() {
                    jobs.push(StageJob {
                        table: Table::DeadLetter,
                        segment,
                        batches: st.dead_sealed.clone(),
                    });
                }
            }
        }
        if !self.pending_decisions.is_empty() {
            jobs.push(StageJob {
                table: Table::Decisions,
                segment: SegmentId {
                    topic: DERIVED_SOURCE.into(),
                    partition: self.derived_partition(),
                    first_offset: epoch as i64,
                    last_offset: epoch as i64,
                },
                batches: vec![decisions_to_batch(&self.pending_decisions)?],
            });
        }
        let mut derived: Vec<(Table, Vec<arrow::array::RecordBatch>)> = Vec::new();
        for (table, batch) in &self.pending_derived {
            match derived.iter_mut().find(|(t, _)| t == table) {
                Some((_, batches)) => batches.push(batch.clone()),
                None => derived.push((*table, vec![batch.clone()])),
            }
        }
        for (table, batches) in derived {
            jobs.push(StageJob {
                table,
                segment: SegmentId {
                    topic: DERIVED_SOURCE.into(),
                    partition: self.derived_partition(),
                    first_offset: epoch as i64,
                    last_offset: epoch as i64,
                },
                batches,
            });
        }

        let lake = self.lake.clone();
        let stage_started = Instant::now();
        let staged = tokio::task::spawn_blocking(move || {
            let mut staged = Vec::new();
            for job in jobs {
                match lake.stage(job.table, &job.segment, &job.batches) {
                    Ok(files) => staged.extend(files),
                    Err(e) => {
                        lake.discard(staged);
                        return Err(e);
                    }
                }
            }
            Ok(staged)
        })
        .await??;

        let staging = stage_started.elapsed();
        let outbox_started = Instant::now();
        if let Some(outbox) = &self.outbox {
            let dead: Vec<_> = self
                .sources
                .values()
                .flat_map(|p| p.values())
                .flat_map(|st| st.dead_topic.iter().cloned())
                .chain(self.parked_topic.iter().cloned())
                .collect();
            if let Err(e) = outbox.publish(&self.pending_decisions, &dead).await {
                self.lake.discard(staged);
                return Err(e.into());
            }
        }

        let outbox_wait = outbox_started.elapsed();
        {
            let mut hot = self.hot.write().await;
            if let Err(e) = self.lake.publish(&staged) {
                drop(hot);
                self.lake.discard(staged);
                return Err(e.into());
            }
            hot.remove_through(self.derived_partition(), epoch);
            self.metrics.hot_rows.set(hot.rows() as i64);
        }

        let mut rows = 0;
        for f in &staged {
            let l = TableLabels {
                table: f.table.name().to_owned(),
            };
            self.metrics
                .lake_rows
                .get_or_create(&l)
                .inc_by(f.rows as u64);
            self.metrics.lake_files.get_or_create(&l).inc();
            self.metrics.lake_bytes.get_or_create(&l).inc_by(f.bytes);
            rows += f.rows;
        }
        for st in self.sources.values_mut().flat_map(|p| p.values_mut()) {
            if st.first_offset.take().is_some() {
                st.next_offset = st.last_offset + 1;
            }
            st.sealed.clear();
            st.dead_sealed.clear();
            st.dead_topic.clear();
        }

        // Writing changes marks them checkpointed inside the processors: if
        // this flush fails after that, only a whole state is safe next time.
        let checkpoint_started = Instant::now();
        let whole = self.whole_state_next || self.last_checkpoint.wants_whole_state();
        self.whole_state_next = true;
        let state_file = self
            .checkpoints
            .write_states(epoch, &mut self.processors, whole)?;
        let state_files = if whole {
            vec![state_file]
        } else {
            let mut files = self.last_checkpoint.state_files.clone();
            files.push(state_file);
            files
        };
        let mut sources = self.positions(false);
        sources.push(SourcePosition {
            topic: DERIVED_SOURCE.into(),
            partition: self.derived_partition(),
            next_offset: epoch as i64 + 1,
        });
        let cp = Checkpoint {
            epoch,
            sources,
            max_event_ns: self.watermark.max_event_ns(),
            watermark_ns: self.watermark.current(),
            state_files,
            embedded_state: Default::default(),
        };
        self.checkpoints.save(&cp)?;
        self.whole_state_next = false;
        self.epoch = epoch;
        self.last_checkpoint = cp;

        self.pending_derived.clear();
        self.parked_topic.clear();
        let decisions = Arc::new(std::mem::take(&mut self.pending_decisions));
        for feed in &self.sink_feeds {
            // Never wait for a sink: the decisions are in the lake, and a
            // reader that fell behind reads the gap from there.
            let _ = feed.try_send(DurableDecisions {
                epoch,
                decisions: decisions.clone(),
            });
        }
        for ack in self.acks.drain(..) {
            let _ = ack.send(Ok(()));
        }
        self.metrics.flushes.inc();
        let commits = self
            .last_checkpoint
            .sources
            .iter()
            .filter(|p| p.topic != DERIVED_SOURCE)
            .filter(|p| self.routes.get(&p.topic).is_some_and(|r| r.from_kafka))
            .map(|p| (p.topic.clone(), p.partition, p.next_offset))
            .collect();
        tracing::debug!(
            epoch,
            rows,
            decisions = decisions.len(),
            elapsed = ?started.elapsed(),
            ?staging,
            ?outbox_wait,
            checkpoint = ?checkpoint_started.elapsed(),
            "flushed"
        );
        Ok(FlushReport {
            commits,
            rows,
            decisions: decisions.len(),
        })
    }

    /// Tells every waiting caller that the flush failed.
    pub fn fail_acks(&mut self, error: &str) {
        for ack in self.acks.drain(..) {
            let _ = ack.send(Err(error.to_owned()));
        }
    }
}
