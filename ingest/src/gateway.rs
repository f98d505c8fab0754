//! The HTTP receivers' Kafka side. In Kafka mode a receiver publishes the
//! body it got, unchanged, to the ingest topic configured for its table
//! and format, and answers once the broker has acknowledged it; the
//! pipeline's consumers then decode it like any message from a shipper.
//! tocsin is then also the gateway in front of Kafka, and a receiver
//! answers only for what is durable in Kafka.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::catalog::Table;
use crate::kafka::KafkaConfig;

/// Where a published body went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The message's offset.
    pub offset: i64,
}

/// Why a body was not published.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The broker refuses messages this large (`message.max.bytes`).
    #[error("the body of {0} bytes is larger than the broker accepts")]
    TooLarge(usize),
    /// Any other producer failure (brokers down, timeout).
    #[error("publishing to Kafka failed: {0}")]
    Kafka(#[from] KafkaError),
}

/// Publishes receiver bodies to the ingest topics.
pub struct KafkaGateway {
    producer: FutureProducer,
    topics: HashMap<(Table, String), String>,
    timeout: Duration,
}

impl KafkaGateway {
    /// A producer on the configured brokers. Each (table, format) goes to
    /// the first `[[kafka.topics]]` entry that names it; a pair with no
    /// topic is not published (its receiver writes to the lake directly).
    pub fn new(cfg: &KafkaConfig, timeout: Duration) -> Result<Self, KafkaError> {
        let producer: FutureProducer = cfg
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()?;
        let mut topics = HashMap::new();
        for t in &cfg.topics {
            topics
                .entry((t.table, t.format.clone()))
                .or_insert_with(|| t.name.clone());
        }
        Ok(KafkaGateway {
            producer,
            topics,
            timeout,
        })
    }

    /// The topic that takes `format` bodies for `table`, if one is configured.
    pub fn topic_for(&self, table: Table, format: &str) -> Option<&str> {
        self.topics
            .get(&(table, format.to_owned()))
            .map(String::as_str)
    }

    /// Publishes `body` to `topic` and waits for the broker's acknowledgement.
    pub async fn publish(&self, topic: &str, body: &[u8]) -> Result<Published, GatewayError> {
        let record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(body);
        match self.producer.send(record, self.timeout).await {
            Ok(delivery) => Ok(Published {
                topic: topic.to_owned(),
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {
                Err(GatewayError::TooLarge(body.len()))
            }
            Err((e, _)) => Err(GatewayError::Kafka(e)),
        }
    }
}
