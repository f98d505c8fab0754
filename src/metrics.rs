//! `/metrics`: the pipeline's counters in the Prometheus text format.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tocsin_ingest::kafka::KafkaHealth;
use tocsin_sinks::DeliveryStats;

/// Labels naming a source (Kafka topic or embedded source).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Topic or embedded source name.
    pub source: String,
}

/// Labels naming a table.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    /// Table name.
    pub table: String,
}

/// Labels of a dead-lettered message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabels {
    /// Topic or embedded source name.
    pub source: String,
    /// Short reason (`invalid_json`, ...).
    pub reason: String,
}

/// Labels of a decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Decision kind.
    pub kind: String,
    /// Lifecycle action.
    pub action: String,
}

/// Labels of a Kafka partition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: String,
}

/// Labels naming a sink.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// Sink name.
    pub sink: String,
}

/// Every metric tocsin exports.
pub struct Metrics {
    registry: Registry,
    /// Messages read per source.
    pub consumed: Family<SourceLabels, Counter>,
    /// Messages skipped because they were already durable (replay after a restart).
    pub skipped: Family<SourceLabels, Counter>,
    /// Rows decoded per table.
    pub rows_decoded: Family<TableLabels, Counter>,
    /// Messages dead-lettered per source and reason.
    pub dead_lettered: Family<DeadLetterLabels, Counter>,
    /// Rows written to the lake per table.
    pub lake_rows: Family<TableLabels, Counter>,
    /// Files written to the lake per table.
    pub lake_files: Family<TableLabels, Counter>,
    /// Bytes written to the lake per table.
    pub lake_bytes: Family<TableLabels, Counter>,
    /// Completed flushes.
    pub flushes: Counter,
    /// Failed flushes (retried).
    pub flush_errors: Counter,
    /// Decisions emitted.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Rows held in memory, not yet in the lake.
    pub hot_rows: Gauge,
    /// SQL queries running now over HTTP (a query whose client went away
    /// is cancelled and leaves this gauge).
    pub sql_running: Gauge,
    /// Kafka consumer lag per partition.
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    /// The event-time watermark, in seconds since the epoch.
    pub watermark_seconds: Gauge<f64, AtomicU64>,
    sink_delivered: Family<SinkLabels, Counter>,
    sink_retried: Family<SinkLabels, Counter>,
    sink_dropped: Family<SinkLabels, Counter>,
    sink_folded: Family<SinkLabels, Counter>,
    sink_skipped: Family<SinkLabels, Counter>,
    sink_rate_limited: Family<SinkLabels, Counter>,
    sink_in_flight: Family<SinkLabels, Gauge>,
    sink_circuit_open: Family<SinkLabels, Gauge>,
    sinks: Vec<(String, Arc<DeliveryStats>)>,
    kafka: Option<Arc<KafkaHealth>>,
}

impl Metrics {
    /// All metrics, registered, with the sinks' and Kafka client's reports.
    pub fn new(sinks: Vec<(String, Arc<DeliveryStats>)>, kafka: Option<Arc<KafkaHealth>>) -> Self {
        let mut registry = Registry::with_prefix("tocsin");
        let m = Metrics {
            consumed: Family::default(),
            skipped: Family::default(),
            rows_decoded: Family::default(),
            dead_lettered: Family::default(),
            lake_rows: Family::default(),
            lake_files: Family::default(),
            lake_bytes: Family::default(),
            flushes: Counter::default(),
            flush_errors: Counter::default(),
            decisions: Family::default(),
            hot_rows: Gauge::default(),
            sql_running: Gauge::default(),
            consumer_lag: Family::default(),
            watermark_seconds: Gauge::default(),
            sink_delivered: Family::default(),
            sink_retried: Family::default(),
            sink_dropped: Family::default(),
            sink_folded: Family::default(),
            sink_skipped: Family::default(),
            sink_rate_limited: Family::default(),
            sink_in_flight: Family::default(),
            sink_circuit_open: Family::default(),
            sinks,
            kafka,
            registry: Registry::default(),
        };
        registry.register(
            "messages_consumed",
            "Messages read, per source",
            m.consumed.clone(),
        );
        registry.register(
            "messages_skipped",
            "Messages skipped as already durable (replay after a restart)",
            m.skipped.clone(),
        );
        registry.register(
            "rows_decoded",
            "Rows decoded, per table",
            m.rows_decoded.clone(),
        );
        registry.register(
            "dead_lettered",
            "Messages that failed to decode, per source and reason",
            m.dead_lettered.clone(),
        );
        registry.register("lake_rows", "Rows written to the lake", m.lake_rows.clone());
        registry.register(
            "lake_files",
            "Files written to the lake",
            m.lake_files.clone(),
        );
        registry.register(
            "lake_bytes",
            "Bytes written to the lake",
            m.lake_bytes.clone(),
        );
        registry.register("flushes", "Completed lake flushes", m.flushes.clone());
        registry.register(
            "flush_errors",
            "Failed lake flushes (retried)",
            m.flush_errors.clone(),
        );
        registry.register("decisions", "Decisions emitted", m.decisions.clone());
        registry.register(
            "sql_running",
            "SQL queries over HTTP running now",
            m.sql_running.clone(),
        );
        registry.register(
            "hot_rows",
            "Rows in memory, not yet in the lake",
            m.hot_rows.clone(),
        );
        registry.register(
            "consumer_lag",
            "Kafka consumer lag, messages",
            m.consumer_lag.clone(),
        );
        registry.register(
            "watermark_seconds",
            "Event-time watermark, seconds since the epoch",
            m.watermark_seconds.clone(),
        );
        registry.register(
            "sink_delivered",
            "Decisions delivered, per sink",
            m.sink_delivered.clone(),
        );
        registry.register(
            "sink_retried",
            "Delivery attempts retried, per sink",
            m.sink_retried.clone(),
        );
        registry.register(
            "sink_dropped",
            "Decisions refused permanently and parked in the dead-letter path, per sink",
            m.sink_dropped.clone(),
        );
        registry.register(
            "sink_folded",
            "Updates not sent because a newer update of the same key was waiting, per sink",
            m.sink_folded.clone(),
        );
        registry.register(
            "sink_skipped",
            "Decisions a sink does not take (routing rules or its kind filter), per sink",
            m.sink_skipped.clone(),
        );
        registry.register(
            "sink_rate_limited",
            "Waits for the rate limit or a Retry-After pause, per sink",
            m.sink_rate_limited.clone(),
        );
        registry.register(
            "sink_in_flight",
            "Decisions taken from the outbox and not yet delivered, per sink",
            m.sink_in_flight.clone(),
        );
        registry.register(
            "sink_circuit_open",
            "1 while a sink's circuit breaker is open, per sink",
            m.sink_circuit_open.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        for (name, stats) in &self.sinks {
            let l = SinkLabels { sink: name.clone() };
            let set = |f: &Family<SinkLabels, Counter>, v: &AtomicU64| {
                f.get_or_create(&l)
                    .inner()
                    .store(v.load(Ordering::Relaxed), Ordering::Relaxed);
            };
            set(&self.sink_delivered, &stats.delivered);
            set(&self.sink_retried, &stats.retried);
            set(&self.sink_dropped, &stats.failed);
            set(&self.sink_folded, &stats.folded);
            set(&self.sink_skipped, &stats.skipped);
            set(&self.sink_rate_limited, &stats.rate_limited);
            self.sink_in_flight
                .get_or_create(&l)
                .set(stats.in_flight.load(Ordering::Relaxed));
            self.sink_circuit_open
                .get_or_create(&l)
                .set(stats.circuit_open.load(Ordering::Relaxed));
        }
        if let Some(k) = &self.kafka {
            for ((topic, partition), lag) in k.lag() {
                self.consumer_lag
                    .get_or_create(&PartitionLabels {
                        topic,
                        partition: partition.to_string(),
                    })
                    .set(lag);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let stats = Arc::new(DeliveryStats::default());
        stats.delivered.store(3, Ordering::Relaxed);
        let m = Metrics::new(vec![("hook".into(), stats)], None);
        m.dead_lettered
            .get_or_create(&DeadLetterLabels {
                source: "tocsin.logs".into(),
                reason: "invalid_json".into(),
            })
            .inc();
        let text = m.render();
        assert!(
            text.contains(
                "tocsin_dead_lettered_total{source=\"tocsin.logs\",reason=\"invalid_json\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("tocsin_sink_delivered_total{sink=\"hook\"} 3"),
            "{text}"
        );
    }
}
