//! Sink outage: the receivers answer 500, then 429, then not at all, while
//! incidents open and resolve. Afterwards every decision is delivered, once,
//! and in order per dedup key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tocsin_mockapis::{Fault, MockServer};

use crate::common::*;
use crate::workload::{
    ERROR_RATE, SERVICES, Workload, decision_ids, pd_events, receivers, wait_for_incidents,
};
use crate::{ONE_AT_A_TIME, Scale, result};

fn config(hook: &MockServer, pd: &MockServer) -> String {
    let sinks = receivers(
        hook,
        pd,
        r#"timeout = "2s""#,
        "retry_max = \"2s\"\nbreaker_open_for = \"2s\"",
    );
    format!("{QUIET}\n{ERROR_RATE}\n{sinks}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_once_and_in_order_after_500s_429s_and_timeouts() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let phase = Duration::from_secs(scale.pick(8, 100));
    let workload = Workload::new(scale.pick(140_000, 240_000), 250);

    let hook = tocsin_mockapis::webhook::serve().await.unwrap();
    let pd = tocsin_mockapis::pagerduty::serve().await.unwrap();
    let dir = TestDir::new("reliability-sink-outage");
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&hook, &pd)).await;

    // A third of the stream in each phase of the outage.
    let faults = [
        Fault::Status(500),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        Fault::Hang,
    ];
    // A third of the stream (in whole groups of services) per phase.
    let thirds = workload.messages().div_ceil(3 * SERVICES.len()) * SERVICES.len();
    let started = Instant::now();
    for (i, fault) in faults.into_iter().enumerate() {
        let phase_started = Instant::now();
        hook.state.set_fault(fault);
        pd.state.set_fault(fault);
        // One request holds the same stretch of event time of every
        // service: the receiver is one source, so event time must advance
        // evenly within it.
        let messages: Vec<usize> =
            (i * thirds..((i + 1) * thirds).min(workload.messages())).collect();
        for group in messages.chunks(SERVICES.len()) {
            let body: Vec<String> = group
                .iter()
                .map(|&m| String::from_utf8(workload.message(m).1).unwrap())
                .collect();
            let (status, report) = tocsin
                .post("/v1/ingest/logs", &body.join("\n"))
                .await
                .unwrap();
            assert_eq!(status, 200, "{report}");
        }
        if let Some(rest) = phase.checked_sub(phase_started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        assert!(
            hook.state.received().is_empty(),
            "delivered during the outage"
        );
        assert!(
            pd.state.received().is_empty(),
            "delivered during the outage"
        );
    }
    let outage = started.elapsed();
    hook.state.set_fault(Fault::None);
    pd.state.set_fault(Fault::None);
    let recovered = Instant::now();

    // The lake's decisions, in the order they were made.
    let bursts = workload.bursts();
    let decisions = wait_for_incidents(&tocsin, bursts, Duration::from_secs(60)).await;
    let ids = decision_ids(&decisions);
    let pd_expected = 2 * bursts;
    wait_for(
        "every decision at both receivers",
        Duration::from_secs(300),
        Duration::from_millis(500),
        || async {
            let got: BTreeSet<String> = hook
                .state
                .received()
                .into_iter()
                .filter_map(|r| r.key)
                .collect();
            let pd_got = pd.state.received().len();
            if got.is_superset(&ids) && pd_got >= pd_expected {
                Ok(())
            } else {
                Err(format!(
                    "webhook {}/{}, pagerduty {pd_got}/{pd_expected}",
                    got.intersection(&ids).count(),
                    ids.len()
                ))
            }
        },
    )
    .await;
    let caught_up = recovered.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Once: no id twice at the webhook, no (key, action) twice at PagerDuty.
    let hook_keys: Vec<String> = hook
        .state
        .received()
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    let unique: BTreeSet<&String> = hook_keys.iter().collect();
    assert_eq!(
        unique.len(),
        hook_keys.len(),
        "a decision reached the webhook twice"
    );
    assert_eq!(
        unique.len(),
        ids.len(),
        "the webhook got decisions that are not in the lake"
    );
    let pd_events = pd_events(&pd);
    let pd_unique: BTreeSet<&(String, String)> = pd_events.iter().collect();
    assert_eq!(
        pd_unique.len(),
        pd_events.len(),
        "an event reached PagerDuty twice"
    );
    assert_eq!(pd_events.len(), pd_expected);

    // In order per key: each receiver saw a key's decisions in the order
    // the lake has them.
    let mut lake_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut key_of: BTreeMap<String, String> = BTreeMap::new();
    for r in &decisions {
        let key = r["dedup_key"].as_str().unwrap().to_owned();
        let id = r["id"].as_str().unwrap().to_owned();
        lake_order.entry(key.clone()).or_default().push(id.clone());
        key_of.insert(id, key);
    }
    let mut hook_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in &hook_keys {
        hook_order
            .entry(key_of[id].clone())
            .or_default()
            .push(id.clone());
    }
    assert_eq!(hook_order, lake_order, "webhook order per dedup key");
    let mut pd_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, action) in &pd_events {
        pd_order
            .entry(key.clone())
            .or_default()
            .push(action.clone());
    }
    assert!(
        pd_order.values().all(|a| a == &["trigger", "resolve"]),
        "PagerDuty order per dedup key: {pd_order:?}"
    );
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
    result(
        "sink outage",
        scale,
        &format!(
            "receivers down {outage:.1?} (500, then 429 Retry-After 1 s, then hanging, \
             {phase:?} each) while {bursts} incidents opened and resolved; all {} decisions \
             at the webhook and {pd_expected} PagerDuty events {caught_up:.1?} after the \
             receivers recovered; 0 repeated, order per dedup key as in the lake",
            ids.len()
        ),
    );
}
