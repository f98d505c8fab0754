//! Decisions sinks refused, kept in the dead-letter path.

use tocsin_ingest::builders::{DeadLetterBuilder, DeadLetterRow};
use tocsin_ingest::{Lineage, Table, TableBuilder};
use tocsin_sinks::delivery::Parked;
use tocsin_sinks::kafka::DeadLetter;

use super::Pipeline;
use crate::checkpoint::DERIVED_SOURCE;
use crate::metrics::DeadLetterLabels;

impl Pipeline {
    /// Keeps a decision a sink refused: a `deadletter` row (table
    /// `decisions`, format `sink:<name>`, reason `sink_refused`, the target's
    /// response as the error, the decision as JSON) written with the next
    /// flush, and in Kafka mode a message on the dead-letter topic.
    pub fn park(&mut self, parked: &Parked) -> anyhow::Result<()> {
        let raw = serde_json::to_vec(&parked.decision)?;
        let format = format!("sink:{}", parked.sink);
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let mut rows = DeadLetterBuilder::new();
        rows.push(
            &DeadLetterRow {
                ts: now,
                table: Table::Decisions.name(),
                format: &format,
                reason: "sink_refused",
                error: &parked.reason,
                raw: &raw,
            },
            &Lineage {
                topic: DERIVED_SOURCE,
                partition: self.derived_partition(),
                offset: self.epoch as i64 + 1,
                received_ns: now,
            },
        );
        let batch = TableBuilder::DeadLetter(rows).finish()?;
        self.pending_derived.push((Table::DeadLetter, batch));
        if self.outbox.is_some() {
            self.parked_topic.push(DeadLetter {
                payload: raw,
                key: Some(parked.decision.dedup_key.as_bytes().to_vec()),
                topic: format,
                partition: 0,
                offset: 0,
                error: parked.reason.clone(),
                reason: "sink_refused",
            });
        }
        self.metrics
            .dead_lettered
            .get_or_create(&DeadLetterLabels {
                source: format!("sink.{}", parked.sink),
                reason: "sink_refused".into(),
            })
            .inc();
        Ok(())
    }
}
