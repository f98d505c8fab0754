//! Kafka as a sink: the decisions topic (the outbox every other sink reads)
//! and the dead-letter topic, plus the outbox reader that feeds a sink.

use std::time::Duration;

use futures::future::{BoxFuture, try_join_all};
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tocsin_processors::Decision;
use tokio::sync::mpsc;

use crate::delivery::engine::CursorView;
use crate::delivery::{OutboxEntry, Position, wait_for_shutdown};

/// A message that failed to decode, bound for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The message as received.
    pub payload: Vec<u8>,
    /// Its key, if it had one.
    pub key: Option<Vec<u8>>,
    /// Where it came from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The decode error.
    pub error: String,
    /// The short reason (`invalid_json`, ...).
    pub reason: &'static str,
}

/// The name of the one header a dead letter carries on the topic.
pub const DEAD_LETTER_HEADER: &str = "tocsin.deadletter";

/// The value of a dead letter's [`DEAD_LETTER_HEADER`], as JSON:
/// `{"reason":"invalid_json","error":"…","topic":"tocsin.logs","partition":3,"offset":1234}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetterHeader<'a> {
    /// The short reason (`invalid_json`, ...).
    #[serde(borrow)]
    pub reason: std::borrow::Cow<'a, str>,
    /// The decode error.
    #[serde(borrow)]
    pub error: std::borrow::Cow<'a, str>,
    /// The topic the message came from.
    #[serde(borrow)]
    pub topic: std::borrow::Cow<'a, str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

impl<'a> DeadLetterHeader<'a> {
    /// The header of `dl`.
    pub fn of(dl: &'a DeadLetter) -> Self {
        DeadLetterHeader {
            reason: dl.reason.into(),
            error: dl.error.as_str().into(),
            topic: dl.topic.as_str().into(),
            partition: dl.partition,
            offset: dl.offset,
        }
    }
}

/// Produces decisions and dead letters, waiting for the broker's acknowledgement.
pub struct KafkaOutbox {
    producer: FutureProducer,
    decisions_topic: String,
    deadletter_topic: String,
}

const SEND_TIMEOUT: Duration = Duration::from_secs(60);

impl KafkaOutbox {
    /// A producer on `client` (brokers and security already set).
    pub fn new(
        client: &ClientConfig,
        decisions_topic: &str,
        deadletter_topic: &str,
    ) -> Result<Self, KafkaError> {
        let producer: FutureProducer = client
            .clone()
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "300000")
            .create()?;
        Ok(KafkaOutbox {
            producer,
            decisions_topic: decisions_topic.to_owned(),
            deadletter_topic: deadletter_topic.to_owned(),
        })
    }

    /// Produces every decision (keyed by `dedup_key`, so one key keeps its
    /// order in one partition) and every dead letter, and returns once the
    /// broker has acknowledged all of them.
    pub async fn publish(
        &self,
        decisions: &[Decision],
        dead_letters: &[DeadLetter],
    ) -> Result<(), KafkaError> {
        let payloads: Vec<Vec<u8>> = decisions
            .iter()
            .map(|d| serde_json::to_vec(d).unwrap_or_default())
            .collect();
        let headers: Vec<Vec<u8>> = dead_letters
            .iter()
            .map(|dl| serde_json::to_vec(&DeadLetterHeader::of(dl)).unwrap_or_default())
            .collect();
        let mut sends: Vec<BoxFuture<'_, Result<(), KafkaError>>> =
            Vec::with_capacity(decisions.len() + dead_letters.len());
        for (d, p) in decisions.iter().zip(&payloads) {
            let record = FutureRecord::to(&self.decisions_topic)
                .key(d.dedup_key.as_bytes())
                .payload(p.as_slice());
            let send = self.producer.send(record, SEND_TIMEOUT);
            sends.push(Box::pin(async move {
                send.await.map(|_| ()).map_err(|(e, _)| e)
            }));
        }
        for (dl, header) in dead_letters.iter().zip(&headers) {
            let send = self
                .producer
                .send(self.dead_letter_record(dl, header), SEND_TIMEOUT);
            sends.push(Box::pin(async move {
                send.await.map(|_| ()).map_err(|(e, _)| e)
            }));
        }
        try_join_all(sends).await?;
        Ok(())
    }

    /// The dead-letter record: the raw message, its key, and one header,
    /// `tocsin.deadletter`, whose value is a JSON object with the reason,
    /// the error and the source coordinates ([`DeadLetterHeader`]).
    ///
    /// One header rather than one per field: a broker stores and serves
    /// each header as a record of its own, and with five, producing a dead
    /// letter cost tansu as much as five messages, which slowed the reading
    /// of a topic full of bad input by a third (RELIABILITY.md, flood).
    fn dead_letter_record<'a>(
        &'a self,
        dl: &'a DeadLetter,
        header: &'a [u8],
    ) -> FutureRecord<'a, [u8], [u8]> {
        // The header value is copied by `insert`.
        let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
            key: DEAD_LETTER_HEADER,
            value: Some(header),
        });
        let mut record = FutureRecord::to(&self.deadletter_topic)
            .payload(dl.payload.as_slice())
            .headers(headers);
        if let Some(k) = &dl.key {
            record = record.key(k.as_slice());
        }
        record
    }
}

/// Feeds a sink's delivery engine from the decisions topic with the sink's
/// own consumer group (`tocsin-sink-<name>`), and commits, within 100 ms
/// and at the end, the offsets the engine has finished (its cursor's done prefix
/// per partition). Messages that are not decisions are logged and skipped.
pub async fn run_kafka_outbox(
    client: ClientConfig,
    decisions_topic: String,
    sink_name: String,
    engine: mpsc::Sender<OutboxEntry>,
    cursor: CursorView,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let mut config = client.clone();
    // Decisions are few and urgent: an idle fetch returns after 50 ms
    // instead of librdkafka's 500, so a page is not held back by it.
    // `[kafka.options]` may set another wait.
    if config.get("fetch.wait.max.ms").is_none() {
        config.set("fetch.wait.max.ms", "50");
    }
    let consumer: StreamConsumer = config
        .set("group.id", format!("tocsin-sink-{sink_name}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&decisions_topic])?;
    // The offsets last committed: a commit is sent only when the done
    // prefix moved, so the short interval costs nothing when idle.
    let mut committed: Vec<(i32, i64)> = Vec::new();
    let mut commit = |consumer: &StreamConsumer| {
        let c = cursor.get();
        let through: Vec<(i32, i64)> = c
            .parts
            .iter()
            .filter_map(|(&part, pc)| pc.through.map(|(offset, _)| (part, offset + 1)))
            .collect();
        if through.is_empty() || through == committed {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for &(part, next) in &through {
            let _ = tpl.add_partition_offset(&decisions_topic, part, Offset::Offset(next));
        }
        match consumer.commit(&tpl, CommitMode::Async) {
            Ok(()) => committed = through,
            Err(e) => {
                tracing::warn!(sink = %sink_name, error = %e, "committing the outbox position failed")
            }
        }
    };
    // A decision delivered but not yet committed is delivered again after
    // a crash (receivers dedupe it by its key): committing often keeps
    // that window short.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let msg = tokio::select! {
            m = consumer.recv() => m,
            _ = tick.tick() => { commit(&consumer); continue; }
            _ = wait_for_shutdown(&mut shutdown) => break,
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(sink = %sink_name, error = %e, "outbox read failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        match msg.payload().map(serde_json::from_slice::<Decision>) {
            Some(Ok(decision)) => {
                let entry = OutboxEntry {
                    position: Position {
                        part: msg.partition(),
                        major: msg.offset(),
                        minor: 0,
                    },
                    decision: std::sync::Arc::new(decision),
                };
                if engine.send(entry).await.is_err() {
                    break;
                }
            }
            _ => tracing::error!(
                sink = %sink_name,
                partition = msg.partition(),
                offset = msg.offset(),
                "skipping a message of the decisions topic that is not a decision"
            ),
        }
    }
    commit(&consumer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_header_is_one_json_object_with_reason_and_coordinates() {
        let dl = DeadLetter {
            payload: b"{not json".to_vec(),
            key: None,
            topic: "tocsin.logs".to_owned(),
            partition: 3,
            offset: 1234,
            error: "expected value at line 1 column 2 \"quoted\"".to_owned(),
            reason: "invalid_json",
        };
        let json = serde_json::to_string(&DeadLetterHeader::of(&dl)).unwrap();
        assert_eq!(
            json,
            r#"{"reason":"invalid_json","error":"expected value at line 1 column 2 \"quoted\"","topic":"tocsin.logs","partition":3,"offset":1234}"#
        );
        let back: DeadLetterHeader<'_> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, DeadLetterHeader::of(&dl));
    }
}
