//! Broker outage: the broker stops while events stream in, stays down, and
//! starts again with its data. tocsin reports not ready meanwhile, and once
//! the broker is back the lag drains and every event is in the lake once.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::probe::metric_sum;
use crate::workload::{Workload, wait_for_events};
use crate::{ONE_AT_A_TIME, Scale, result};

fn config(brokers: &str) -> String {
    format!(
        r#"{QUIET}
[kafka]
brokers = "{brokers}"
group_id = "tocsin-outage"

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
"statistics.interval.ms" = "1000"

[[kafka.topics]]
name = "tocsin.logs"
table = "logs"
format = "json"
"#
    )
}

/// Polls `/readyz` until its status is `want`; how long that took.
async fn until_ready_is(tocsin: &mut Tocsin, want: u16, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        tocsin.assert_running();
        if let Ok((status, _)) = tocsin.get("/readyz").await
            && status == want
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "/readyz did not answer {want} within {timeout:?}; log {}",
            tocsin.log().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_loss_across_a_broker_outage_and_not_ready_meanwhile() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let outage = Duration::from_secs(scale.pick(15, 60));
    let workload = Workload::new(scale.pick(80_000, 400_000), 10);

    let dir = TestDir::new("reliability-broker-outage");
    let mut tansu = Tansu::start_with_tocsin_topics(dir.path(), 4).await;
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&tansu.addr)).await;

    // The first half goes in while the broker is up.
    let half = workload.messages() / 2;
    let producer = tansu.producer();
    workload
        .produce(&producer, "tocsin.logs", 0..half, 2_000)
        .await;
    wait_for_events(
        &mut tocsin,
        half * workload.per_message,
        Duration::from_secs(120),
    )
    .await;

    tansu.stop();
    let stopped = Instant::now();
    let detected = until_ready_is(&mut tocsin, 503, outage).await;
    // Keep the broker down for the whole outage; tocsin must stay up and
    // keep answering queries from its lake.
    while stopped.elapsed() < outage {
        tocsin.assert_running();
        let (status, _) = tocsin.get("/readyz").await.unwrap();
        assert_eq!(status, 503, "ready while the broker is down");
        assert!(tocsin.sql_ints("SELECT count(*) FROM logs").await.is_ok());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tansu.restart().await;
    let back = until_ready_is(&mut tocsin, 200, Duration::from_secs(120)).await;

    // The second half after the restart, with the same producer: what it
    // could not send during the outage it sends now.
    let resumed = Instant::now();
    workload
        .produce(&producer, "tocsin.logs", half..workload.messages(), 2_000)
        .await;
    wait_for_events(&mut tocsin, workload.events, Duration::from_secs(300)).await;
    let lag = wait_for(
        "the consumer lag to drain",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let (_, text) = tocsin.get("/metrics").await?;
            let lag = metric_sum(&text, "tocsin_consumer_lag");
            if lag == 0.0 {
                Ok(lag)
            } else {
                Err(format!("lag {lag}"))
            }
        },
    )
    .await;
    let drained_in = resumed.elapsed();
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
    result(
        "broker outage",
        scale,
        &format!(
            "{} events, broker down {outage:?}: /readyz 503 {detected:.1?} after the stop, \
             200 again {back:.1?} after the restart; the second half was produced and \
             drained {drained_in:.1?} after that (lag {lag}); lake rows = distinct events = {} \
             (0 lost, 0 duplicated)",
            workload.events, workload.events
        ),
    );
}
