//! End to end over a real Kafka-compatible broker (tansu): three different
//! producer clients, a malformed message, and an injected error burst.
//!
//! Asserts that every produced line is in the lake exactly once, that the bad
//! message reached the `deadletter` table and the `tocsin.deadletter` topic,
//! and that the burst gave exactly one incident (open, then resolve, one
//! dedup key) on `tocsin.decisions`, at a webhook and in the `decisions` table.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const CHECKOUT_LINES_PER_SEC: i64 = 10;
/// Seconds of event time: healthy, then 50 % errors, then healthy.
const HEALTHY_BEFORE: i64 = 120;
const BURST: i64 = 60;
const HEALTHY_AFTER: i64 = 180;
const PY_LINES: usize = 1000;
const MALFORMED: &[u8] = br#"{"message": "#;

fn config(brokers: &str, webhook: &str) -> String {
    format!(
        r#"
[pipeline]
flush_interval = "1s"
batch_linger = "200ms"
allowed_lateness = "5s"

[kafka]
brokers = "{brokers}"
group_id = "tocsin-e2e"

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[[kafka.topics]]
name = "tocsin.logs"
table = "logs"
format = "json"

[[kafka.topics]]
name = "tocsin.metrics"
table = "metrics"
format = "json"

[[kafka.topics]]
name = "tocsin.alerts"
table = "alerts"
format = "json"

[processors.error_rate]
window = "60s"
step = "10s"
open_threshold = 0.2
resolve_threshold = 0.05
min_events = 20

[sinks.console]
enabled = false

[[sinks.webhook]]
name = "e2e"
url = "{webhook}"
"#
    )
}

/// The checkout service's lines: healthy, a burst at 50 % errors, healthy.
fn checkout_lines(base_ns: i64) -> Vec<(String, Vec<u8>)> {
    let total = (HEALTHY_BEFORE + BURST + HEALTHY_AFTER) * CHECKOUT_LINES_PER_SEC;
    (0..total)
        .map(|i| {
            let ts = base_ns + i * 1_000_000_000 / CHECKOUT_LINES_PER_SEC;
            let second = i / CHECKOUT_LINES_PER_SEC;
            let in_burst = (HEALTHY_BEFORE..HEALTHY_BEFORE + BURST).contains(&second);
            let level = if in_burst && i % 2 == 0 {
                "error"
            } else {
                "info"
            };
            let line = log_line(
                ts,
                "checkout",
                level,
                &format!("rdkafka-checkout-{i}"),
                "rdkafka",
            );
            ("checkout".to_owned(), line.into_bytes())
        })
        .collect()
}

fn decisions_of(bodies: &[Value], service: &str) -> Vec<Value> {
    bodies
        .iter()
        .filter(|d| d["target"] == service)
        .cloned()
        .collect()
}

fn count_action(ds: &[Value], action: &str) -> usize {
    ds.iter().filter(|d| d["action"] == action).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_end_to_end_exactly_once_dead_letters_and_one_incident() {
    let started = Instant::now();
    // Fail now, not after the broker started, when the Python clients are missing.
    let _python = test_python();
    let dir = TestDir::new("e2e-kafka");
    let tansu = Tansu::start_with_tocsin_topics(dir.path(), 3).await;
    let webhook = WebhookReceiver::start().await;
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&tansu.addr, &webhook.url)).await;

    // Event time: half an hour ago, on a minute boundary.
    let base_ns = (now_ns() - 30 * 60 * 1_000_000_000).div_euclid(60_000_000_000) * 60_000_000_000;
    let base_ms = base_ns / 1_000_000;

    // A malformed message first. It is dead-lettered with its receive time
    // as `ts`; that must not count as event time, or the whole stream below
    // (half an hour old) would be behind the watermark and never evaluated.
    let producer = tansu.producer();
    let bad = produce_all(
        &producer,
        "tocsin.logs",
        [("bad".to_owned(), MALFORMED.to_vec())],
    )
    .await;
    let (bad_partition, bad_offset) = bad[0];

    // The malformed message: in the deadletter table...
    let dead = wait_for(
        "the malformed message in the deadletter table",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql("SELECT reason, \"table\", _topic, _partition, _offset FROM deadletter")
                .await?;
            if rows.is_empty() {
                Err("no rows".to_owned())
            } else {
                Ok::<_, String>(rows)
            }
        },
    )
    .await;
    assert_eq!(dead.len(), 1, "deadletter rows: {dead:?}");
    assert_eq!(dead[0]["reason"], "invalid_json", "{dead:?}");
    assert_eq!(dead[0]["table"], "logs", "{dead:?}");
    assert_eq!(dead[0]["_topic"], "tocsin.logs", "{dead:?}");
    assert_eq!(dead[0]["_partition"], bad_partition, "{dead:?}");
    assert_eq!(dead[0]["_offset"], bad_offset, "{dead:?}");

    // ...and on the dead-letter topic, raw, with its reason and coordinates.
    let dl = wait_for(
        "the malformed message on tocsin.deadletter",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let r = tansu.read_all("tocsin.deadletter")?;
            if r.is_empty() {
                Err("topic empty".to_owned())
            } else {
                Ok::<_, String>(r)
            }
        },
    )
    .await;
    assert_eq!(dl.len(), 1, "tocsin.deadletter holds {} messages", dl.len());
    assert_eq!(dl[0].payload, MALFORMED, "dead letter payload");
    assert_eq!(dl[0].headers.len(), 1, "one header: {:?}", dl[0].headers);
    let header = dl[0]
        .headers
        .get(tocsin_sinks::kafka::DEAD_LETTER_HEADER)
        .unwrap_or_else(|| panic!("no tocsin.deadletter header: {:?}", dl[0].headers));
    let header: serde_json::Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["reason"], "invalid_json", "{header}");
    assert_eq!(header["topic"], "tocsin.logs", "{header}");
    assert_eq!(header["partition"], bad_partition, "{header}");
    assert_eq!(header["offset"], bad_offset, "{header}");
    assert!(
        header["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{header}"
    );

    // The two Python clients run beside rdkafka. Their lines (other services)
    // are older than the checkout stream, so whichever arrives first, the
    // checkout stream is never behind the watermark.
    let brokers = tansu.addr.clone();
    let py_dir = dir.path().to_owned();
    let python = std::thread::spawn(move || {
        let confluent = python_produce(
            "confluent",
            &brokers,
            PyLines {
                topic: "tocsin.logs",
                count: PY_LINES,
                service: "payments",
                base_ts_ms: base_ms - 120_000,
                step_ms: 100,
            },
            &py_dir.join("confluent.log"),
        );
        let kafka_python = python_produce(
            "kafka-python",
            &brokers,
            PyLines {
                topic: "tocsin.logs",
                count: PY_LINES,
                service: "catalog",
                base_ts_ms: base_ms - 120_000,
                step_ms: 100,
            },
            &py_dir.join("kafka-python.log"),
        );
        (confluent, kafka_python)
    });

    let checkout = checkout_lines(base_ns);
    let n_checkout = checkout.len();
    let acked = produce_all(&producer, "tocsin.logs", checkout).await;
    assert_eq!(acked.len(), n_checkout);
    eprintln!(
        "rdkafka: {n_checkout} checkout lines acknowledged after {:?}",
        started.elapsed()
    );
    let (confluent, kafka_python) = python.join().expect("the Python producers panicked");
    assert_eq!(confluent, PY_LINES, "confluent-kafka delivered {confluent}");
    assert_eq!(
        kafka_python, PY_LINES,
        "kafka-python delivered {kafka_python}"
    );
    eprintln!("Python clients done after {:?}", started.elapsed());

    // Exactly once: every valid line, once, by lineage.
    let expected = (n_checkout + 2 * PY_LINES) as i64;
    assert_eq!(
        tansu.message_count("tocsin.logs").unwrap(),
        expected + 1,
        "the broker holds a different number of messages than were produced"
    );
    tocsin
        .wait_for_rows("logs", "", expected, Duration::from_secs(90))
        .await;
    for (client, n) in [
        ("rdkafka", n_checkout),
        ("confluent", PY_LINES),
        ("kafka-python", PY_LINES),
    ] {
        let v = tocsin
            .sql_ints(&format!(
                "SELECT count(*) AS n, count(DISTINCT trace_id) AS d FROM logs WHERE attributes['client'] = '{client}'"
            ))
            .await
            .unwrap();
        assert_eq!(
            v,
            vec![n as i64, n as i64],
            "rows from {client}: [count, distinct trace ids]"
        );
    }

    // The burst: one incident, opened then resolved, in the decisions table.
    let burst_ns = base_ns + HEALTHY_BEFORE * 1_000_000_000;
    let decisions = wait_for(
        "the checkout incident's open and resolve in the decisions table",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql("SELECT id, kind, action, target, dedup_key, processor FROM decisions ORDER BY ts, action")
                .await?;
            let open = rows.iter().filter(|r| r["action"] == "open").count();
            let resolve = rows.iter().filter(|r| r["action"] == "resolve").count();
            if open >= 1 && resolve >= 1 {
                return Ok::<_, String>(rows);
            }
            // Say where event time stands: a watermark far past the stream
            // means its rows were all taken as late.
            let (_, metrics) = tocsin.get("/metrics").await?;
            let watermark = metrics
                .lines()
                .find(|l| l.starts_with("tocsin_watermark_seconds"))
                .unwrap_or("tocsin_watermark_seconds (absent)");
            Err(format!(
                "decisions {rows:?}; {watermark}; the stream's event time is {} to {} (burst from {}); now {}",
                base_ns / 1_000_000_000,
                base_ns / 1_000_000_000 + HEALTHY_BEFORE + BURST + HEALTHY_AFTER,
                burst_ns / 1_000_000_000,
                now_ns() / 1_000_000_000,
            ))
        },
    )
    .await;
    assert_eq!(decisions.len(), 2, "decisions table: {decisions:#?}");
    assert_eq!(decisions[0]["action"], "open", "{decisions:#?}");
    assert_eq!(decisions[1]["action"], "resolve", "{decisions:#?}");
    for d in &decisions {
        assert_eq!(d["target"], "checkout", "{decisions:#?}");
        assert_eq!(d["kind"], "incident", "{decisions:#?}");
        assert_eq!(d["processor"], "error_rate", "{decisions:#?}");
    }
    let dedup_key = decisions[0]["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(decisions[1]["dedup_key"], dedup_key.as_str());
    eprintln!(
        "incident {dedup_key} opened and resolved after {:?}",
        started.elapsed()
    );

    // On the decisions topic, keyed by the dedup key.
    let on_topic = wait_for(
        "the open and the resolve on tocsin.decisions",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let recs = tansu.read_all("tocsin.decisions")?;
            if recs.len() >= 2 {
                Ok::<_, String>(recs)
            } else {
                Err(format!("{} messages", recs.len()))
            }
        },
    )
    .await;
    let topic_decisions: Vec<Value> = on_topic
        .iter()
        .map(|r| {
            assert_eq!(
                r.key.as_deref(),
                Some(dedup_key.as_bytes()),
                "decision message key"
            );
            serde_json::from_slice(&r.payload).expect("a decision is JSON")
        })
        .collect();
    let checkout_on_topic = decisions_of(&topic_decisions, "checkout");
    assert_eq!(
        topic_decisions.len(),
        2,
        "tocsin.decisions: {topic_decisions:#?}"
    );
    assert_eq!(
        count_action(&checkout_on_topic, "open"),
        1,
        "{topic_decisions:#?}"
    );
    assert_eq!(
        count_action(&checkout_on_topic, "resolve"),
        1,
        "{topic_decisions:#?}"
    );
    for d in &topic_decisions {
        assert_eq!(d["dedup_key"], dedup_key.as_str());
        assert_eq!(d["kind"], "incident");
    }

    // At the webhook, through the sink's own consumer group.
    wait_for(
        "the open and the resolve at the webhook",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let b = webhook.bodies();
            if b.len() >= 2 {
                Ok::<_, String>(())
            } else {
                Err(format!("{b:?}"))
            }
        },
    )
    .await;

    // Nothing more trickles in: no duplicate rows, decisions or posts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hooks = webhook.bodies();
    assert_eq!(hooks.len(), 2, "webhook received: {hooks:#?}");
    assert_eq!(
        count_action(&decisions_of(&hooks, "checkout"), "open"),
        1,
        "{hooks:#?}"
    );
    assert_eq!(
        count_action(&decisions_of(&hooks, "checkout"), "resolve"),
        1,
        "{hooks:#?}"
    );
    for h in &hooks {
        assert_eq!(h["dedup_key"], dedup_key.as_str(), "{hooks:#?}");
    }
    assert_eq!(
        tocsin.counts("logs", "").await.unwrap(),
        (expected, expected)
    );
    assert_eq!(tansu.read_all("tocsin.decisions").unwrap().len(), 2);
    assert_eq!(
        tocsin.sql("SELECT id FROM decisions").await.unwrap().len(),
        2
    );

    let (status, metrics) = tocsin.get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tocsin_dead_lettered_total")
                && l.contains("tocsin.logs")
                && l.contains("invalid_json")
                && l.trim_end().ends_with(" 1")),
        "/metrics has no tocsin_dead_lettered_total for tocsin.logs:\n{metrics}"
    );

    let status = tocsin.terminate();
    assert!(
        status.success(),
        "tocsin exited with {status} after SIGTERM"
    );
    eprintln!("e2e_kafka passed in {:?}", started.elapsed());
}
