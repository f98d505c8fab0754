//! In Kafka mode the HTTP receivers are a gateway: a body is published to
//! the ingest topic configured for its table and format and answered once
//! the broker acknowledged it; the consumers then decode it like any
//! shipper's message. A (table, format) with no topic is written to the
//! lake directly, as in the embedded mode.

mod common;

use std::time::Duration;

use common::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_path("ingest/tests/fixtures").join(name)).expect("the fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_publish_to_kafka_and_the_consumers_decode() {
    let dir = TestDir::new("gateway");
    let tansu = Tansu::start(
        dir.path(),
        &[
            ("otlp.metrics", 1),
            ("prometheus.remote_write", 1),
            ("tocsin.decisions", 1),
            ("tocsin.deadletter", 1),
        ],
    )
    .await;
    let config = format!(
        r#"
[pipeline]
flush_interval = "1s"
batch_linger = "200ms"
max_event_age = "0s"

[kafka]
brokers = "{}"
group_id = "tocsin-gateway"

[[kafka.topics]]
name = "otlp.metrics"
table = "metrics"
format = "otlp_proto"

[[kafka.topics]]
name = "prometheus.remote_write"
table = "metrics"
format = "remote_write"
"#,
        tansu.addr
    );
    let mut tocsin = Tocsin::start_with(dir.path(), &config).await;
    let http = reqwest::Client::new();

    let otlp = http
        .post(format!("{}/v1/metrics", tocsin.base))
        .header("content-type", "application/x-protobuf")
        .body(fixture("otlp_metrics.pb"))
        .send()
        .await
        .unwrap();
    assert_eq!(otlp.status(), 200);
    let rw = http
        .post(format!("{}/api/v1/write", tocsin.base))
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .body(fixture("remote_write_prometheus.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(rw.status(), 204);
    // Answered only after the broker had it.
    assert_eq!(tansu.message_count("otlp.metrics"), Ok(1));
    assert_eq!(tansu.message_count("prometheus.remote_write"), Ok(1));

    // The consumers decode what the receivers published.
    let samples = wait_for(
        "the remote_write samples consumed from Kafka",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let n = tocsin
                .sql_ints("SELECT count(*) FROM metrics WHERE _topic = 'prometheus.remote_write'")
                .await?;
            if n == [377] {
                Ok(n)
            } else {
                Err(format!("{n:?}"))
            }
        },
    )
    .await;
    assert_eq!(samples, [377]);
    let orders = wait_for(
        "the OTLP counter consumed from Kafka",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let n = tocsin
                .sql_ints("SELECT count(*) FROM metrics WHERE _topic = 'otlp.metrics' AND name = 'app.orders.processed'")
                .await?;
            if n == [2] { Ok(n) } else { Err(format!("{n:?}")) }
        },
    )
    .await;
    assert_eq!(orders, [2]);

    // No topic takes JSON logs here: they are written to the lake at once.
    let now = now_ns();
    let line = format!(
        "{{\"ts\":\"{}\",\"service\":\"api\",\"level\":\"info\",\"message\":\"hello\"}}\n",
        rfc3339(now)
    );
    let (status, report) = tocsin.post("/v1/ingest/logs", &line).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 1, "{report}");
    assert!(report.get("published").is_none(), "{report}");
    tocsin.terminate();
}
