//! End-to-end throughput: a pre-filled topic into the lake, side by side with
//! a bare rdkafka consumer reading the same topic in the same run.
//!
//! ```sh
//! TOCSIN_BENCH_MESSAGES=1000000 cargo bench --profile dev --bench e2e
//! ```
//!
//! Starts a tansu broker (sqlite storage) on loopback, produces N log lines
//! in tocsin's envelope to `bench.logs`, then
//! 1. reads them all with a bare rdkafka `StreamConsumer` that discards them
//!    (the broker's read rate on this machine: the baseline);
//! 2. starts `tocsin run` on the same topic and waits until every row is in
//!    the lake (`tocsin_lake_rows_total{table="logs"}`), sampling the
//!    process's peak RSS (VmHWM).
//!
//! Prints both rates and their ratio. Needs tansu (see `scripts/test.sh`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Tansu, TestDir, Tocsin, produce_all};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

const TOPIC: &str = "bench.logs";

fn lines(n: usize, base_ns: i64) -> Vec<(String, Vec<u8>)> {
    const SERVICES: [&str; 5] = ["frontend", "checkout", "payments", "catalog", "auth"];
    (0..n)
        .map(|i| {
            let service = SERVICES[i % SERVICES.len()];
            let level = if i % 50 == 0 { "error" } else { "info" };
            let line = format!(
                r#"{{"ts":{},"service":"{service}","host":"{service}-{}","env":"prod","version":"1.4.2","level":"{level}","message":"GET /api/items/{} 200 in {}ms","trace_id":"{:016x}","attributes":{{"route":"/api/items","simulated":"true"}}}}"#,
                base_ns + i as i64 * 1_000_000,
                i % 3,
                i,
                i % 900,
                i as u64 * 0x9e37_79b9
            );
            (service.to_owned(), line.into_bytes())
        })
        .collect()
}

async fn bare_consumer(tansu: &Tansu, n: usize) -> Duration {
    let consumer: StreamConsumer = tansu
        .client()
        .set("group.id", "bench-bare-consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("bare consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let started = Instant::now();
    let mut seen = 0usize;
    let mut bytes = 0usize;
    while seen < n {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .expect("the bare consumer stalled for 60 s")
            .expect("receive");
        bytes += m.payload().map_or(0, <[u8]>::len);
        seen += 1;
    }
    let elapsed = started.elapsed();
    std::hint::black_box(bytes);
    elapsed
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn lake_rows(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("tocsin_lake_rows_total{table=\"logs\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("TOCSIN_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = TestDir::new("e2e-bench");
    let tansu = Tansu::start(
        dir.path(),
        &[
            (TOPIC, 1),
            ("tocsin.decisions", 1),
            ("tocsin.deadletter", 1),
        ],
    )
    .await;

    let msgs = lines(n, common::now_ns() - 3_600_000_000_000);
    let bytes: usize = msgs.iter().map(|(_, p)| p.len()).sum();
    let producer = tansu.producer();
    let started = Instant::now();
    produce_all(&producer, TOPIC, msgs).await;
    let produce = started.elapsed();
    eprintln!("[bench] produced {n} messages ({bytes} bytes) in {produce:?}");

    let bare = bare_consumer(&tansu, n).await;
    let bare_rate = n as f64 / bare.as_secs_f64();
    eprintln!("[bench] bare rdkafka consumer: {n} messages in {bare:?} = {bare_rate:.0} msg/s");

    std::fs::create_dir_all(dir.path().join("tocsin")).expect("tocsin dir");
    let mut tocsin = Tocsin::configure(
        &dir.path().join("tocsin"),
        &format!(
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"bench-tocsin\"\n\n[[kafka.topics]]\nname = \"{TOPIC}\"\ntable = \"logs\"\n\n[pipeline]\nflush_interval = \"2s\"\n",
            tansu.addr
        ),
    );
    let started = Instant::now();
    tocsin.start().await;
    let pid = tocsin.proc.as_ref().map(|p| p.pid()).expect("running");
    let mut peak = 0;
    loop {
        let (_, metrics) = tocsin.get("/metrics").await.expect("metrics");
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        if lake_rows(&metrics) >= n as u64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "tocsin did not finish within 30 min"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pipeline = started.elapsed();
    let rate = n as f64 / pipeline.as_secs_f64();
    let rows = tocsin
        .sql_ints("SELECT count(*) FROM logs")
        .await
        .expect("count");
    assert_eq!(
        rows,
        vec![n as i64],
        "every message exactly once in the lake"
    );
    println!("messages: {n} ({:.0} bytes each)", bytes as f64 / n as f64);
    println!("bare rdkafka consumer: {bare:?}, {bare_rate:.0} msg/s");
    println!(
        "tocsin to lake (incl. start-up): {pipeline:?}, {rate:.0} msg/s = {:.2} x bare",
        rate / bare_rate
    );
    println!("tocsin peak RSS: {} MiB", peak / 1024);
}
