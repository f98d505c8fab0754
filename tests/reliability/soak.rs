//! Soak: metrics for many active series at a steady rate for a long time,
//! through Kafka, with the anomaly detectors keeping state per series. After
//! a warm-up, resident memory must stay flat (under 10 % growth) and under
//! 1 GB, and open file descriptors must not grow.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::probe::{mb, open_fds, rss_bytes};
use crate::{ONE_AT_A_TIME, Scale, result};

/// Influx lines per Kafka message (Telegraf's default batch is 1000).
const PER_MESSAGE: usize = 1000;

fn config(brokers: &str) -> String {
    format!(
        r#"{QUIET}
[kafka]
brokers = "{brokers}"
group_id = "tocsin-soak"

[[kafka.topics]]
name = "tocsin.metrics"
table = "metrics"
format = "influx"
"#
    )
}

/// One sample of every series at `ts_ns`, as Influx lines in messages.
fn round(series: usize, ts_ns: i64, k: u64) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut body = String::new();
    for i in 0..series {
        let service = i % 8;
        // A daily-ish wave plus a little deterministic jitter per series.
        let phase = (k as f64 / 30.0 + i as f64 * 0.001).sin();
        let value = 50.0 + 20.0 * phase + ((i as u64 * 31 + k * 17) % 7) as f64;
        body.push_str(&format!(
            "soak_requests,service=svc{service},instance=i{i} value={value} {ts_ns}\n"
        ));
        if (i + 1) % PER_MESSAGE == 0 || i + 1 == series {
            body.pop();
            out.push((
                format!("svc{service}"),
                std::mem::take(&mut body).into_bytes(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_descriptors_stay_flat_under_many_series() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let series = scale.pick(10_000, 100_000);
    let duration = Duration::from_secs(scale.pick(75, 1_800));
    let interval = Duration::from_secs(scale.pick(5, 10));
    let warm_up = duration / 3;

    let dir = TestDir::new("reliability-soak");
    let tansu = Tansu::start_with_tocsin_topics(dir.path(), 1).await;
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&tansu.addr)).await;
    let pid = tocsin.proc.as_ref().map_or(0, |p| p.pid());
    let producer = tansu.producer();

    let started = Instant::now();
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    let mut k = 0u64;
    let mut sent = 0usize;
    while started.elapsed() < duration {
        let round_started = Instant::now();
        produce_all(&producer, "tocsin.metrics", round(series, now_ns(), k)).await;
        sent += series;
        k += 1;
        tocsin.assert_running();
        let rss = rss_bytes(pid).expect("tocsin's RSS");
        let fds = open_fds(pid).expect("tocsin's descriptors");
        samples.push((started.elapsed(), rss, fds));
        if let Some(rest) = interval.checked_sub(round_started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    // Everything sent was taken in (the run kept up with the rate).
    let want = sent as i64;
    wait_for(
        "every sample in the lake",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let n = tocsin.sql_ints("SELECT count(*) FROM metrics").await?;
            if n == [want] {
                Ok(())
            } else {
                Err(format!("{n:?} of {want}"))
            }
        },
    )
    .await;
    let series_seen = tocsin
        .sql_ints("SELECT count(DISTINCT labels['instance']) FROM metrics")
        .await
        .unwrap();
    assert_eq!(series_seen, vec![series as i64]);
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");

    let after: Vec<&(Duration, u64, usize)> =
        samples.iter().filter(|(t, _, _)| *t >= warm_up).collect();
    assert!(
        after.len() >= 3,
        "too few samples after the warm-up: {samples:?}"
    );
    // RSS swings with the flush cycle (the checkpoint is built and freed
    // at every flush), so one sample depends on where in the cycle it fell:
    // growth compares the peak of the first third after the warm-up with
    // the peak of the last third.
    let third = (after.len() / 3).max(1);
    let peak = |w: &[&(Duration, u64, usize)]| w.iter().map(|s| s.1).max().unwrap_or(0);
    let base_rss = peak(&after[..third]);
    let last_rss = peak(&after[after.len() - third..]);
    let (_, _, base_fds) = *after[0];
    let (_, _, last_fds) = **after.last().unwrap();
    let max_rss = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let max_fds_after = after.iter().map(|s| s.2).max().unwrap_or(0);
    let growth = last_rss as f64 / base_rss as f64 - 1.0;
    result(
        "soak",
        scale,
        &format!(
            "{series} series every {interval:?} for {duration:?} ({sent} samples, {:.0}/s): peak RSS \
             {:.0} MB in the first third after the {warm_up:?} warm-up, {:.0} MB in the last third \
             ({:+.1} %), max {:.0} MB; \
             open descriptors {base_fds} after the warm-up, {last_fds} at the end, max {max_fds_after}",
            sent as f64 / duration.as_secs_f64(),
            mb(base_rss),
            mb(last_rss),
            growth * 100.0,
            mb(max_rss),
        ),
    );
    assert!(
        growth < 0.10,
        "RSS grew {:.1} % after the warm-up: {samples:?}",
        growth * 100.0
    );
    assert!(max_rss <= 1 << 30, "RSS reached {:.0} MB", mb(max_rss));
    assert!(
        last_fds <= base_fds + 8,
        "open descriptors grew from {base_fds} to {last_fds}: {samples:?}"
    );
}
