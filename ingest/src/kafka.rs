//! The Kafka source: a consumer group over the configured ingest topics.
//!
//! Offsets are never auto-committed: the pipeline commits them only after the
//! rows they carried are durable in the lake (see the root crate's pipeline).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use serde::Deserialize;

use crate::catalog::Table;

/// Configuration of the Kafka source and of every Kafka client (`[kafka]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Consumer group of the pipeline.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Topics to consume and how to decode them.
    #[serde(default = "default_topics")]
    pub topics: Vec<TopicConfig>,
    /// Where decisions are produced.
    #[serde(default = "default_decisions_topic")]
    pub decisions_topic: String,
    /// Where undecodable messages are produced.
    #[serde(default = "default_deadletter_topic")]
    pub deadletter_topic: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, ...).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Several instances share the group's partitions and take each
    /// other's over on a rebalance: processor state is kept per partition
    /// number (a task) beside the lake, so whoever is assigned a partition
    /// resumes from its checkpoint. Needs every topic with the same
    /// partition count, keyed so that what is correlated shares a
    /// partition (by service). Off: one instance's processors see all its
    /// partitions at once.
    #[serde(default)]
    pub scale_out: bool,
}

/// One consumed topic (`[[kafka.topics]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Topic name.
    pub name: String,
    /// Table its messages go to.
    #[serde(deserialize_with = "de_table")]
    pub table: Table,
    /// Wire format of its messages.
    #[serde(default = "default_format")]
    pub format: String,
}

fn de_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn default_group() -> String {
    "tocsin".into()
}
fn default_format() -> String {
    "json".into()
}
fn default_decisions_topic() -> String {
    "tocsin.decisions".into()
}
fn default_deadletter_topic() -> String {
    "tocsin.deadletter".into()
}

/// `tocsin.logs`, `tocsin.metrics` and `tocsin.alerts`, all JSON.
pub fn default_topics() -> Vec<TopicConfig> {
    [
        ("tocsin.logs", Table::Logs),
        ("tocsin.metrics", Table::Metrics),
        ("tocsin.alerts", Table::Alerts),
    ]
    .into_iter()
    .map(|(name, table)| TopicConfig {
        name: name.into(),
        table,
        format: default_format(),
    })
    .collect()
}

impl KafkaConfig {
    /// A client configuration with the brokers and the extra options set.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // After an outage a client reconnects within 2 s of the broker's
        // return, not librdkafka's 10 s backoff ceiling (`[kafka.options]`
        // may set another).
        c.set("reconnect.backoff.max.ms", "2000");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }

    /// Creates the pipeline's consumer, subscribed to every configured topic.
    pub fn consumer(&self) -> Result<StreamConsumer<KafkaHealth>, KafkaError> {
        use rdkafka::consumer::Consumer;
        let mut config = ClientConfig::new();
        // Defaults that `[kafka.options]` may override. A fetch returns as
        // soon as there is data; the wait only bounds an idle one, and a
        // long one delays a lone alert on a quiet topic (librdkafka's
        // default is 500 ms).
        config
            .set("statistics.interval.ms", "5000")
            .set("fetch.wait.max.ms", "50");
        for (k, v) in self.client_config().config_map() {
            config.set(k, v);
        }
        if self.scale_out {
            // A task is a partition number across every topic; the range
            // assignor gives one member the same numbers of every topic
            // when the partition counts are equal.
            config.set("partition.assignment.strategy", "range");
        }
        // What tocsin's delivery guarantee rests on: not overridable.
        let consumer: StreamConsumer<KafkaHealth> = config
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(KafkaHealth::default())?;
        let topics: Vec<&str> = self.topics.iter().map(|t| t.name.as_str()).collect();
        consumer.subscribe(&topics)?;
        Ok(consumer)
    }
}

/// What the Kafka client reports about itself: consumer lag per partition,
/// whether any broker is reachable (read by `/metrics` and `/readyz`), and
/// the group's rebalances (read by the main loop).
#[derive(Debug, Default)]
pub struct KafkaHealth {
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    brokers_down: AtomicBool,
    /// During an outage librdkafka reports several errors a second.
    error_log: Mutex<LogEverySecond>,
    rebalances: Mutex<Vec<Rebalanced>>,
}

/// A change of the partitions this consumer owns, in the order the group
/// made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalanced {
    /// These (topic, partition)s were taken away; another member may own
    /// them once the group settles.
    Revoked(Vec<(String, i32)>),
    /// These were given to this consumer.
    Assigned(Vec<(String, i32)>),
}

fn partitions_of(tpl: &rdkafka::TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// Lets through one log line a second for a repeating event, with how many
/// occurred since the last one.
#[derive(Debug, Default)]
pub struct LogEverySecond {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl LogEverySecond {
    /// Counts an occurrence; `Some(count)` when it is time to log it.
    pub fn occurred(&mut self) -> Option<u64> {
        self.unlogged += 1;
        if self
            .last
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(std::time::Instant::now());
        Some(std::mem::take(&mut self.unlogged))
    }
}

impl KafkaHealth {
    /// Consumer lag per (topic, partition) from the latest statistics.
    pub fn lag(&self) -> BTreeMap<(String, i32), i64> {
        self.lag.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Whether the client last reported that every broker is down.
    pub fn brokers_down(&self) -> bool {
        self.brokers_down.load(Ordering::Relaxed)
    }

    /// The rebalances since the last call, oldest first. They are recorded
    /// while the consumer is polled (inside `recv`), so a caller that takes
    /// them before acting on a message or a flush never acts for a
    /// partition it no longer owns.
    pub fn take_rebalances(&self) -> Vec<Rebalanced> {
        self.rebalances
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// A message arrived, so a broker is up: readiness returns with the
    /// first message after an outage instead of the next statistics report
    /// (every 5 s).
    pub fn saw_message(&self) {
        if self.brokers_down.load(Ordering::Relaxed) {
            self.brokers_down.store(false, Ordering::Relaxed);
        }
    }
}

impl ClientContext for KafkaHealth {
    fn stats(&self, stats: Statistics) {
        let mut lag = BTreeMap::new();
        for (topic, t) in &stats.topics {
            for (&p, part) in &t.partitions {
                if p >= 0 && part.consumer_lag >= 0 {
                    lag.insert((topic.clone(), p), part.consumer_lag);
                }
            }
        }
        if let Ok(mut l) = self.lag.lock() {
            *l = lag;
        }
        let any_up = stats.brokers.values().any(|b| b.state == "UP");
        self.brokers_down.store(!any_up, Ordering::Relaxed);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            self.brokers_down.store(true, Ordering::Relaxed);
        }
        let count = self.error_log.lock().ok().and_then(|mut l| l.occurred());
        if let Some(errors) = count {
            tracing::warn!(%error, reason, errors, "kafka client error");
        }
    }
}

impl ConsumerContext for KafkaHealth {
    fn pre_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Revoke(tpl) = rebalance
            && let Ok(mut r) = self.rebalances.lock()
        {
            r.push(Rebalanced::Revoked(partitions_of(tpl)));
        }
    }

    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Assign(tpl) = rebalance
            && let Ok(mut r) = self.rebalances.lock()
        {
            r.push(Rebalanced::Assigned(partitions_of(tpl)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_default_to_the_three_ingest_topics() {
        let c: KafkaConfig = serde_json::from_str(r#"{"brokers":"127.0.0.1:9092"}"#).unwrap();
        let names: Vec<&str> = c.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["tocsin.logs", "tocsin.metrics", "tocsin.alerts"]);
        assert_eq!(c.decisions_topic, "tocsin.decisions");
        assert_eq!(c.deadletter_topic, "tocsin.deadletter");
        assert_eq!(c.group_id, "tocsin");
    }

    #[test]
    fn unknown_table_is_a_clear_error() {
        let e = serde_json::from_str::<TopicConfig>(r#"{"name":"x","table":"lgos"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown table `lgos`"), "{e}");
    }

    #[test]
    fn clients_reconnect_within_two_seconds_unless_configured_otherwise() {
        let c: KafkaConfig = serde_json::from_str(r#"{"brokers":"b:9092"}"#).unwrap();
        assert_eq!(
            c.client_config().get("reconnect.backoff.max.ms"),
            Some("2000")
        );
        let c: KafkaConfig = serde_json::from_str(
            r#"{"brokers":"b:9092","options":{"reconnect.backoff.max.ms":"500"}}"#,
        )
        .unwrap();
        assert_eq!(
            c.client_config().get("reconnect.backoff.max.ms"),
            Some("500")
        );
    }

    #[test]
    fn a_message_makes_the_client_ready_again() {
        let h = KafkaHealth::default();
        h.brokers_down.store(true, Ordering::Relaxed);
        assert!(h.brokers_down());
        h.saw_message();
        assert!(!h.brokers_down());
    }

    #[test]
    fn a_repeating_event_is_logged_once_a_second_with_its_count() {
        let mut log = LogEverySecond::default();
        assert_eq!(log.occurred(), Some(1));
        assert_eq!(log.occurred(), None);
        assert_eq!(log.occurred(), None);
        log.last = Some(std::time::Instant::now() - std::time::Duration::from_secs(2));
        assert_eq!(log.occurred(), Some(3));
    }
}
