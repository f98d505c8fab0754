//! Crash recovery: SIGKILL tocsin three times while ~200k lines stream through
//! Kafka, restart it on the same data directory each time, and check that
//! every message is in the lake exactly once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const LINES: usize = 200_000;
const SERVICES: [&str; 5] = ["frontend", "checkout", "payments", "catalog", "auth"];
/// The producer sends in chunks of this many, pausing between chunks, so
/// the stream lasts long enough to crash tocsin in the middle of it.
const CHUNK: usize = 10_000;
const PAUSE: Duration = Duration::from_millis(700);

fn config(brokers: &str) -> String {
    format!(
        r#"
[pipeline]
flush_interval = "1s"
batch_linger = "200ms"

[kafka]
brokers = "{brokers}"
group_id = "tocsin-restart"

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[[kafka.topics]]
name = "tocsin.logs"
table = "logs"
format = "json"

[sinks.console]
enabled = false
"#
    )
}

/// Polls the lake until it holds at least `at_least` rows, checking on the
/// way that no row is ever visible twice.
async fn wait_until_rows(tocsin: &mut Tocsin, at_least: i64, timeout: Duration) -> i64 {
    let started = Instant::now();
    loop {
        tocsin.assert_running();
        if let Ok((n, d)) = tocsin.counts("logs", "").await {
            assert_eq!(
                n, d,
                "a row is visible twice: count(*) = {n}, distinct offsets = {d}"
            );
            if n >= at_least {
                return n;
            }
        }
        assert!(
            started.elapsed() < timeout,
            "fewer than {at_least} rows after {timeout:?}; log {}",
            tocsin.log().display()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// What the current run's recovery did, for the test's output: messages it
/// skipped as already durable, and whether it removed uncommitted files.
async fn recovery_note(tocsin: &Tocsin) -> String {
    let skipped: String = match tocsin.get("/metrics").await {
        Ok((_, text)) => text
            .lines()
            .filter(|l| l.starts_with("tocsin_messages_skipped_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .fold(0u64, |a, v| a + v as u64)
            .to_string(),
        Err(e) => format!("? ({e})"),
    };
    let log = std::fs::read_to_string(tocsin.log()).unwrap_or_default();
    let removed = log
        .lines()
        .filter(|l| l.contains("removed lake files"))
        .count();
    let resumed = log.lines().any(|l| l.contains("resumed from checkpoint"));
    format!(
        "resumed from checkpoint: {resumed}, skipped {skipped} already durable messages, removed-files notices: {removed}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let dir = TestDir::new("e2e-restart");
    let tansu = Arc::new(Tansu::start(dir.path(), &[("tocsin.logs", 3)]).await);
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&tansu.addr)).await;

    let base_ns = now_ns() - 20 * 60 * 1_000_000_000;
    let sent = Arc::new(AtomicUsize::new(0));
    let producer_task = {
        let tansu = tansu.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let producer = tansu.producer();
            let mut acked = 0;
            for chunk_start in (0..LINES).step_by(CHUNK) {
                let msgs = (chunk_start..(chunk_start + CHUNK).min(LINES)).map(|i| {
                    let svc = SERVICES[i % SERVICES.len()];
                    let ts = base_ns + i as i64 * 1_000_000;
                    let line = log_line(ts, svc, "info", &format!("restart-{i}"), "rdkafka");
                    (svc.to_owned(), line.into_bytes())
                });
                acked += produce_all(&producer, "tocsin.logs", msgs).await.len();
                sent.store(acked, Ordering::Relaxed);
                tokio::time::sleep(PAUSE).await;
            }
            acked
        })
    };

    // Three crashes while the stream flows, each after more rows landed.
    for (round, at_least) in [(1, 30_000), (2, 80_000), (3, 130_000)] {
        let n = wait_until_rows(&mut tocsin, at_least, Duration::from_secs(120)).await;
        // Land somewhere inside a flush cycle rather than right after a poll.
        tokio::time::sleep(Duration::from_millis(150 + 200 * round)).await;
        let note = recovery_note(&tocsin).await;
        tocsin.kill();
        eprintln!(
            "SIGKILL {round}: {n}+ rows queryable, {} produced, after {:?} (this run: {note})",
            sent.load(Ordering::Relaxed),
            started.elapsed()
        );
        tocsin.start().await;
    }

    let acked = producer_task.await.expect("the producer task panicked");
    assert_eq!(acked, LINES);
    eprintln!("producer done after {:?}", started.elapsed());
    let in_topic = tansu.message_count("tocsin.logs").unwrap();
    assert!(
        in_topic >= LINES as i64,
        "the topic holds {in_topic} < {LINES} messages"
    );
    tocsin
        .wait_for_rows("logs", "", in_topic, Duration::from_secs(120))
        .await;
    let v = tocsin
        .sql_ints("SELECT count(DISTINCT trace_id) AS d FROM logs")
        .await
        .unwrap();
    assert_eq!(v, vec![LINES as i64], "distinct trace ids");

    // On disk: segment files of one partition never overlap, and nothing
    // waits in the hot store once the last flush happened.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let segments = lake_segments(&tocsin.data_dir, "logs");
    assert!(!segments.is_empty(), "no lake files");
    assert_segments_disjoint(&segments);
    eprintln!("final run: {}", recovery_note(&tocsin).await);
    let status = tocsin.terminate();
    assert!(
        status.success(),
        "tocsin exited with {status} after SIGTERM"
    );

    // A last start over the finished lake reads nothing twice.
    tocsin.start().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        tocsin.counts("logs", "").await.unwrap(),
        (in_topic, in_topic)
    );
    let status = tocsin.terminate();
    assert!(
        status.success(),
        "tocsin exited with {status} after SIGTERM"
    );
    eprintln!(
        "e2e_restart passed in {:?} ({} segment files)",
        started.elapsed(),
        segments.len()
    );
}
