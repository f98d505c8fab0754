//! Flood of bad input: the same backlog of log lines is read three times at
//! full speed from three topics: clean, with every tenth message malformed,
//! and clean again. Every bad
//! message must reach the dead-letter table and topic with its reason, every
//! good line the lake, and throughput may drop by at most 10 %. Peak memory
//! while reading a backlog that waits in the broker shows backpressure: the
//! consumer reads as fast as it processes, it does not buffer the topic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::probe::{cpu_seconds, mb, metric_sum, peak_rss_bytes};
use crate::workload::{Workload, wait_for_events};
use crate::{ONE_AT_A_TIME, Scale, result};

/// The malformed messages, in turn, with the reason each must get: samples
/// of the malformed-input corpus.
const BAD: [(&[u8], &str); 4] = [
    (
        include_bytes!("../../ingest/tests/malformed/logs.json/truncated.json"),
        "invalid_json",
    ),
    (
        include_bytes!("../../ingest/tests/malformed/logs.json/attributes-not-object.json"),
        "invalid_type",
    ),
    (
        include_bytes!("../../ingest/tests/malformed/logs.json/ts-unparseable.json"),
        "invalid_timestamp",
    ),
    (
        include_bytes!("../../ingest/tests/malformed/logs.json/binary-garbage.bin"),
        "invalid_json",
    ),
];

fn config(brokers: &str, topic: &str) -> String {
    format!(
        r#"{QUIET}
[kafka]
brokers = "{brokers}"
group_id = "tocsin-flood-{topic}"

[[kafka.topics]]
name = "{topic}"
table = "logs"
format = "json"
"#
    )
}

/// What one run over a topic measured.
struct Drain {
    /// Messages per second from the first message to the last.
    rate: f64,
    /// tocsin's own CPU time (user + system) per 1,000 messages, in ms: the
    /// broker shares the machine, so this tells tocsin's cost from its.
    cpu_ms_per_1k: f64,
    /// The broker's CPU time per 1,000 messages, in ms.
    broker_cpu_ms_per_1k: f64,
    /// Peak RSS.
    peak: u64,
}

/// One run over `topic`.
async fn drain(dir: &std::path::Path, tansu: &Tansu, topic: &str, messages: usize) -> Drain {
    let mut tocsin = Tocsin::start_with(dir, &config(&tansu.addr, topic)).await;
    let consumed = async |t: &Tocsin| -> f64 {
        match t.get("/metrics").await {
            Ok((_, text)) => metric_sum(&text, "tocsin_messages_consumed_total"),
            Err(_) => 0.0,
        }
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while consumed(&tocsin).await == 0.0 {
        assert!(Instant::now() < deadline, "nothing consumed from {topic}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = Instant::now();
    let pid = tocsin.proc.as_ref().map_or(0, |p| p.pid());
    let cpu_first = cpu_seconds(pid).unwrap_or(0.0);
    let broker_pid = tansu.proc.pid();
    let broker_cpu_first = cpu_seconds(broker_pid).unwrap_or(0.0);
    loop {
        tocsin.assert_running();
        let n = consumed(&tocsin).await;
        if n >= messages as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {messages} consumed from {topic}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = messages as f64 / first.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu_first;
    let broker_cpu = cpu_seconds(broker_pid).unwrap_or(0.0) - broker_cpu_first;
    let peak = peak_rss_bytes(pid).unwrap_or(0);
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
    Drain {
        rate,
        cpu_ms_per_1k: cpu * 1e6 / messages as f64,
        broker_cpu_ms_per_1k: broker_cpu * 1e6 / messages as f64,
        peak,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tenth_all_dead_lettered_and_throughput_holds() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let workload = Workload::new(scale.pick(200_000, 1_600_000), 1);
    let n = workload.messages();

    let dir = TestDir::new("reliability-flood");
    let tansu = Tansu::start(
        dir.path(),
        &[
            ("flood.clean", 4),
            ("flood.dirty", 4),
            ("flood.clean.again", 4),
            ("tocsin.deadletter", 1),
            ("tocsin.decisions", 1),
        ],
    )
    .await;
    let producer = tansu.producer();
    let started = Instant::now();
    produce_all(
        &producer,
        "flood.clean",
        (0..n).map(|m| workload.message(m)),
    )
    .await;
    produce_all(
        &producer,
        "flood.clean.again",
        (0..n).map(|m| workload.message(m)),
    )
    .await;
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    produce_all(
        &producer,
        "flood.dirty",
        (0..n).map(|m| {
            if m % 10 == 9 {
                let (bad, reason) = BAD[(m / 10) % BAD.len()];
                *expected.entry(reason).or_default() += 1;
                ("bad".to_owned(), bad.to_vec())
            } else {
                workload.message(m)
            }
        }),
    )
    .await;
    let bad: usize = expected.values().sum();
    eprintln!(
        "[flood] produced 2 x {n} messages in {:?}",
        started.elapsed()
    );

    let clean_dir = dir.path().join("clean");
    let dirty_dir = dir.path().join("dirty");
    std::fs::create_dir_all(&clean_dir).unwrap();
    std::fs::create_dir_all(&dirty_dir).unwrap();
    let clean = drain(&clean_dir, &tansu, "flood.clean", n).await;
    let dirty = drain(&dirty_dir, &tansu, "flood.dirty", n).await;
    // Clean again after the malformed run: two identical clean runs differ
    // by up to a tenth here (the broker's database grows as the test goes),
    // so the malformed run is judged against the mean of the runs on
    // either side of it.
    let again_dir = dir.path().join("clean-again");
    std::fs::create_dir_all(&again_dir).unwrap();
    let again = drain(&again_dir, &tansu, "flood.clean.again", n).await;

    // Every good line in the lake once; every bad message dead-lettered
    // with its reason, in the table and on the topic.
    let mut tocsin = Tocsin::start_with(&dirty_dir, &config(&tansu.addr, "flood.dirty")).await;
    wait_for_events(&mut tocsin, n - bad, Duration::from_secs(120)).await;
    let rows = tocsin
        .sql("SELECT reason, count(*) AS n FROM deadletter GROUP BY reason")
        .await
        .unwrap();
    let got: BTreeMap<String, usize> = rows
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_owned(),
                r["n"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let want: BTreeMap<String, usize> = expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want, "dead letters by reason");
    let on_topic = tansu.message_count("tocsin.deadletter").unwrap();
    assert_eq!(on_topic, bad as i64, "messages on tocsin.deadletter");
    let (_, metrics) = tocsin.get("/metrics").await.unwrap();
    assert_eq!(
        metric_sum(&metrics, "tocsin_dead_lettered_total") as usize,
        0,
        "nothing new after the restart"
    );
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");

    let baseline = (clean.rate + again.rate) / 2.0;
    let drop = 1.0 - dirty.rate / baseline;
    result(
        "flood",
        scale,
        &format!(
            "{n} messages read from a full topic: clean {:.0} msg/s, with 10 % malformed \
             {:.0} msg/s, clean again {:.0} msg/s ({:+.1} % against the clean mean); tocsin's CPU \
             {:.1} ms per 1,000 messages clean, {:.1} ms malformed, the broker's {:.1} ms clean, {:.1} ms \
             malformed; {bad} dead letters, by reason {want:?}, all in the deadletter table and on \
             tocsin.deadletter; peak RSS {:.0} MB clean, {:.0} MB malformed",
            clean.rate,
            dirty.rate,
            again.rate,
            -drop * 100.0,
            clean.cpu_ms_per_1k,
            dirty.cpu_ms_per_1k,
            clean.broker_cpu_ms_per_1k,
            dirty.broker_cpu_ms_per_1k,
            mb(clean.peak),
            mb(dirty.peak),
        ),
    );
    // The throughput target is judged on the long form (a few seconds of
    // reading in the quick form is too noisy on a shared CI machine).
    if scale == Scale::Full {
        assert!(
            drop <= 0.10,
            "throughput dropped {:.1} % with 10 % malformed input",
            drop * 100.0
        );
    }
}
