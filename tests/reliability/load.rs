//! Load and latency: log lines at a steady rate through Kafka while probe
//! alerts arrive a few times a second, each for a service of its own, so
//! each opens an incident. The latency of a probe is the time from handing
//! it to the Kafka producer to the decision's arrival at the webhook: the
//! whole path (broker, decode, processors, lake flush, decisions topic, sink
//! consumer, HTTP).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::producer::FutureRecord;
use tocsin_mockapis::MockServer;

use crate::common::*;
use crate::workload::SERVICES;
use crate::{ONE_AT_A_TIME, Scale, result};

/// Log lines per Kafka message, as a shipper batches them.
const PER_MESSAGE: usize = 10;
/// Probe alerts per second.
const PROBES_PER_SEC: u64 = 4;

fn config(brokers: &str, hook: &MockServer) -> String {
    format!(
        r#"
[pipeline]
batch_linger = "20ms"
allowed_lateness = "0s"

[kafka]
brokers = "{brokers}"
group_id = "tocsin-load"

# tansu answers an idle fetch only when the wait runs out, not when a
# message arrives, so the wait is added to an alert on a quiet topic and to
# the decision on its way to the sinks (see RELIABILITY.md).
[kafka.options]
"fetch.wait.max.ms" = "20"


[[kafka.topics]]
name = "tocsin.logs"
table = "logs"
format = "json"

[[kafka.topics]]
name = "tocsin.alerts"
table = "alerts"
format = "alertmanager"

[processors.incidents]
group_wait = "0s"

[sinks.console]
enabled = false

[[sinks.webhook]]
name = "hook"
url = "{hook}/tocsin"
"#,
        hook = hook.base_url(),
    )
}

fn probe(i: u64) -> String {
    let now = chrono::Utc::now().to_rfc3339();
    serde_json::json!({"version": "4", "status": "firing", "receiver": "tocsin", "alerts": [{
        "status": "firing",
        "labels": {"alertname": "LatencyProbe", "service": format!("probe-{i}"), "severity": "critical"},
        "annotations": {}, "startsAt": now, "endsAt": "0001-01-01T00:00:00Z"}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_to_decision_latency_at_a_steady_rate() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let rate = scale.pick(10_000, 50_000);
    let duration = Duration::from_secs(scale.pick(20, 60));

    let dir = TestDir::new("reliability-load");
    let tansu = Tansu::start_with_tocsin_topics(dir.path(), 4).await;
    let hook = tocsin_mockapis::webhook::serve().await.unwrap();
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&tansu.addr, &hook)).await;

    // The steady stream, paced in 10 ms steps.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tansu.producer();
    let lines = {
        let stop = stop.clone();
        let producer = producer.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut sent = 0usize;
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * rate as f64) as usize;
                let messages = (due.saturating_sub(sent)) / PER_MESSAGE;
                let batch: Vec<(String, Vec<u8>)> = (0..messages)
                    .map(|_| {
                        let service = SERVICES[seq as usize % SERVICES.len()];
                        let ts = now_ns();
                        let body: Vec<String> = (0..PER_MESSAGE)
                            .map(|_| {
                                seq += 1;
                                log_line(ts, service, "info", &format!("l{seq}"), "load")
                            })
                            .collect();
                        (service.to_owned(), body.join("\n").into_bytes())
                    })
                    .collect();
                sent += messages * PER_MESSAGE;
                produce_all(&producer, "tocsin.logs", batch).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (sent, started.elapsed())
        })
    };

    // Warm up, then probe.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut sent_at: BTreeMap<String, Instant> = BTreeMap::new();
    let probes = duration.as_secs() * PROBES_PER_SEC;
    let mut every = tokio::time::interval(Duration::from_millis(1000 / PROBES_PER_SEC));
    for i in 0..probes {
        every.tick().await;
        let body = probe(i);
        let key = format!("probe-{i}");
        sent_at.insert(key.clone(), Instant::now());
        let record = FutureRecord::to("tocsin.alerts")
            .key(key.as_bytes())
            .payload(body.as_bytes());
        if let Err((e, _)) = producer.send_result(record) {
            panic!("producing probe {i}: {e}");
        }
    }

    // Every probe's incident at the webhook.
    let arrivals = wait_for(
        "every probe's decision at the webhook",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let got: BTreeMap<String, Instant> = hook
                .state
                .received()
                .into_iter()
                .filter(|r| r.body["action"] == "open")
                .filter_map(|r| Some((r.body["target"].as_str()?.to_owned(), r.at)))
                .collect();
            if sent_at.keys().all(|k| got.contains_key(k)) {
                Ok(got)
            } else {
                Err(format!("{} of {} probes decided", got.len(), sent_at.len()))
            }
        },
    )
    .await;
    // The stream goes on until every probe is decided: without it the
    // log partitions would go idle and the last probes wait for that.
    stop.store(true, Ordering::Relaxed);
    let (sent, took) = lines.await.expect("the line producer");
    let achieved = sent as f64 / took.as_secs_f64();
    let mut h = Histogram::<u64>::new(3).expect("a histogram");
    let mut in_order = Vec::new();
    for (key, at) in &sent_at {
        let us = arrivals[key].saturating_duration_since(*at).as_micros() as u64;
        h.record(us).expect("a latency in range");
        in_order.push((*at, us / 1000));
    }
    in_order.sort();
    let ms_in_order: Vec<u64> = in_order.iter().map(|(_, ms)| *ms).collect();
    eprintln!("[load] latency of each probe in ms, in the order sent: {ms_in_order:?}");
    let pid = tocsin.proc.as_ref().map_or(0, |p| p.pid());
    let peak = crate::probe::peak_rss_bytes(pid).unwrap_or(0);
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    result(
        "load",
        scale,
        &format!(
            "{achieved:.0} log lines/s for {took:.0?} ({PER_MESSAGE} per message) and {probes} probe \
             alerts: event-to-decision at the webhook p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, \
             max {:.0} ms; peak RSS {:.0} MB",
            ms(0.5),
            ms(0.9),
            ms(0.99),
            h.max() as f64 / 1000.0,
            crate::probe::mb(peak),
        ),
    );
    assert!(
        achieved >= rate as f64 * 0.95,
        "the producer reached only {achieved:.0} lines/s of {rate}"
    );
}
