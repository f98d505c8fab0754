//! Crashes: SIGKILL tocsin at random points while a stream of log lines
//! goes through Kafka, restart it on the same data directory each time, and
//! check that every event is in the lake exactly once, that the incidents
//! the stream holds were each decided exactly once, and that every decision
//! reached each sink exactly once.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tocsin_mockapis::MockServer;

use crate::common::*;
use crate::workload::{
    ERROR_RATE, Workload, incidents_once, lake_rows, receivers, wait_for_deliveries,
    wait_for_events, wait_for_incidents,
};
use crate::{ONE_AT_A_TIME, Scale, result};

fn config(brokers: &str, hook: &MockServer, pd: &MockServer) -> String {
    format!(
        r#"
[pipeline]
flush_interval = "1s"
batch_linger = "200ms"

[kafka]
brokers = "{brokers}"
group_id = "tocsin-crashes"

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[[kafka.topics]]
name = "tocsin.logs"
table = "logs"
format = "json"
{ERROR_RATE}
[sinks.console]
enabled = false
{sinks}"#,
        sinks = receivers(hook, pd, "", r#"retry_max = "1s""#),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_and_decision_exactly_once_across_sigkills() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let events = scale.pick(200_000, 2_000_000);
    let kills = scale.pick(4, 20);
    // Messages per second the producer sends: the stream lasts about as
    // long as the kills take.
    let rate = scale.pick(600, 1_200);
    let workload = Workload::new(events, 10);

    let dir = TestDir::new("reliability-crashes");
    let tansu = Tansu::start_with_tocsin_topics(dir.path(), 4).await;
    let hook = tocsin_mockapis::webhook::serve().await.unwrap();
    let pd = tocsin_mockapis::pagerduty::serve().await.unwrap();
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&tansu.addr, &hook, &pd)).await;

    let producer = tansu.producer();
    let send = tokio::spawn(async move {
        workload
            .produce(&producer, "tocsin.logs", 0..workload.messages(), rate)
            .await;
    });

    // Kill at random moments while the stream is going (and sometimes
    // while tocsin is still recovering from the previous kill).
    let mut rng = SmallRng::seed_from_u64(20261126);
    let started = Instant::now();
    for k in 0..kills {
        // Each instance first makes progress (more rows than it started
        // with), then dies at a random moment.
        let at_start = lake_rows(&tocsin).await.unwrap_or(0);
        wait_for(
            "the restarted instance to make progress",
            Duration::from_secs(120),
            Duration::from_millis(200),
            || async {
                let n = lake_rows(&tocsin).await?;
                if n > at_start || n == events as i64 {
                    Ok(n)
                } else {
                    Err(format!("{n} rows"))
                }
            },
        )
        .await;
        let up_for = Duration::from_millis(rng.random_range(100..3_000));
        tokio::time::sleep(up_for).await;
        tocsin.assert_running();
        tocsin.kill();
        eprintln!(
            "[crashes] kill {}/{kills} after {up_for:?} up ({:?} into the run)",
            k + 1,
            started.elapsed()
        );
        tocsin.start().await;
    }
    send.await.expect("the producer task");
    let produced_in = started.elapsed();

    wait_for_events(&mut tocsin, events, Duration::from_secs(600)).await;
    let drained_in = started.elapsed();

    // Decisions: each burst opened one incident and resolved it, once.
    let bursts = workload.bursts();
    let decisions = wait_for_incidents(&tocsin, bursts, Duration::from_secs(120)).await;
    incidents_once(&decisions);

    // The webhook gets every decision (its id is the Idempotency-Key);
    // PagerDuty one trigger and one resolve per dedup key.
    let d = wait_for_deliveries(&hook, &pd, &decisions, Duration::from_secs(180)).await;
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
    result(
        "crashes",
        scale,
        &format!(
            "{events} events in {} messages over 4 partitions, {kills} SIGKILLs; \
             produced in {produced_in:.1?}, all in the lake {drained_in:.1?} after the start; \
             lake rows {events} = distinct events {events} (0 lost, 0 duplicated); \
             {} incidents opened and resolved once each ({} decisions); \
             webhook {} calls for {} decisions ({hook_dups} repeated), \
             PagerDuty {} events for {} expected ({pd_dups} repeated)",
            workload.messages(),
            bursts,
            decisions.len(),
            d.hook_keys.len(),
            d.ids.len(),
            d.pd_all.len(),
            d.expected_pd.len(),
            hook_dups = d.hook_dups,
            pd_dups = d.pd_dups,
        ),
    );
    // A repeat is only possible for a delivery in flight at a kill.
    assert!(
        d.hook_dups + d.pd_dups <= 2 * kills,
        "{} webhook and {} PagerDuty repeats for {kills} kills",
        d.hook_dups,
        d.pd_dups
    );
}
