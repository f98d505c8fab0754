//! Rebalance: two instances in one consumer group with `[kafka] scale_out`
//! share the partitions of `tocsin.logs` and one lake. While an incident of
//! a partition the second instance owns is open, it is SIGKILLed. Once the
//! broker has expired it, a replacement instance joins; the group's
//! rebalance gives the killed instance's partitions to the survivor or the
//! replacement, which resume them from their checkpoints, resolve that
//! incident without opening it again, and every event ends up in the lake
//! once.
//!
//! Why a replacement: tansu 0.6 expires a dead member but keeps the group's
//! generation and assignments, so the survivor's rejoin is answered with
//! its old partitions (the assignment its leader computed is dropped); a
//! new member joining makes it rebalance for real. A Kafka broker would
//! rebalance on the expiry itself, which tocsin handles the same way (the
//! in-process tests in `src/tasks/tests.rs` move a task to a survivor).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::workload::{
    ERROR_RATE, Workload, incidents_once, receivers, wait_for_deliveries, wait_for_events,
    wait_for_incidents,
};
use crate::{ONE_AT_A_TIME, Scale, result};

const PARTITIONS: i32 = 4;

fn config(brokers: &str, sinks: &str) -> String {
    format!(
        r#"
[pipeline]
flush_interval = "1s"
batch_linger = "200ms"

[kafka]
brokers = "{brokers}"
group_id = "tocsin-rebalance"
scale_out = true

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[[kafka.topics]]
name = "tocsin.logs"
table = "logs"
format = "json"

[log]
format = "json"
{ERROR_RATE}
[sinks.console]
enabled = false
{sinks}"#
    )
}

/// `(task, epoch)` of every "task taken over" line of an instance's log,
/// and the tasks it handed over, in order.
fn task_events(log: &Path) -> Vec<(String, i64, i64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let f = &v["fields"];
            let what = f["message"].as_str()?;
            let kind = if what.starts_with("task taken over") {
                "taken"
            } else if what.starts_with("task handed over") {
                "handed"
            } else {
                return None;
            };
            Some((
                kind.to_owned(),
                f["task"].as_i64()?,
                f["epoch"].as_i64().unwrap_or(-1),
            ))
        })
        .collect()
}

/// "partitions revoked" lines in an instance's log.
fn count_revokes(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"partitions revoked\""))
        .count()
}

/// The tasks an instance owns according to its log.
fn owned(log: &Path) -> BTreeSet<i64> {
    let mut tasks = BTreeSet::new();
    for (kind, task, _) in task_events(log) {
        if kind == "taken" {
            tasks.insert(task);
        } else {
            tasks.remove(&task);
        }
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_partitions_move_with_their_state() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let scale = Scale::from_env();
    let events = scale.pick(120_000, 600_000);
    // Slow enough that an incident stays open for seconds of wall time.
    let rate = scale.pick(150, 300);
    let workload = Workload::new(events, 10);

    let dir = TestDir::new("reliability-rebalance");
    let tansu = Tansu::start_with_tocsin_topics(dir.path(), PARTITIONS).await;
    let hook = tocsin_mockapis::webhook::serve().await.unwrap();
    let pd = tocsin_mockapis::pagerduty::serve().await.unwrap();
    let body = config(
        &tansu.addr,
        &receivers(&hook, &pd, "", r#"retry_max = "1s""#),
    );
    let lake = dir.path().join("lake");
    let top = format!("lake_dir = {:?}", lake.display().to_string());
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let mut a = Tocsin::configure_with_top(&dir_a, &top, &body);
    let mut b = Tocsin::configure_with_top(&dir_b, &top, &body);
    a.start().await;
    b.start().await;

    // The group settles with both instances owning tasks.
    let split = wait_for(
        "both instances to own partitions",
        Duration::from_secs(90),
        Duration::from_millis(300),
        || async {
            let (oa, ob) = (owned(&a.log()), owned(&b.log()));
            if !oa.is_empty() && !ob.is_empty() && oa.len() + ob.len() == PARTITIONS as usize {
                Ok((oa, ob))
            } else {
                Err(format!("a owns {oa:?}, b owns {ob:?}"))
            }
        },
    )
    .await;
    eprintln!("[rebalance] a owns {:?}, b owns {:?}", split.0, split.1);
    let b_tasks = split.1.clone();

    let producer = tansu.producer();
    let started = Instant::now();
    let send = tokio::spawn(async move {
        workload
            .produce(&producer, "tocsin.logs", 0..workload.messages(), rate)
            .await;
    });

    // Kill b while one of its partitions has an incident open (opened and
    // flushed, not yet resolved).
    let open_on_b = wait_for(
        "an open incident on a partition of the second instance",
        Duration::from_secs(300),
        Duration::from_millis(150),
        || async {
            let rows = a
                .sql(
                    "SELECT d.dedup_key, d.target, d.action, p.part FROM decisions d \
                     JOIN (SELECT service, min(_partition) AS part FROM logs GROUP BY service) p \
                     ON d.target = p.service WHERE d.kind = 'incident' AND d.action <> 'update'",
                )
                .await?;
            let mut state: BTreeMap<String, (String, i64, bool)> = BTreeMap::new();
            for r in &rows {
                let key = r["dedup_key"].as_str().unwrap_or_default().to_owned();
                let e = state.entry(key).or_insert((
                    r["target"].as_str().unwrap_or_default().to_owned(),
                    r["part"].as_i64().unwrap_or(-1),
                    false,
                ));
                if r["action"] == "resolve" {
                    e.2 = true;
                }
            }
            state
                .into_iter()
                .find(|(_, (_, part, resolved))| !resolved && b_tasks.contains(part))
                .map(|(key, (service, part, _))| (key, service, part))
                .ok_or_else(|| {
                    format!(
                        "{} incident decisions, none open on b's partitions",
                        rows.len()
                    )
                })
        },
    )
    .await;
    let revokes_before = count_revokes(&a.log());
    b.kill();
    let killed_at = started.elapsed();
    eprintln!(
        "[rebalance] killed b {killed_at:.1?} into the stream, with incident {} of {} (partition {}) open",
        open_on_b.0, open_on_b.1, open_on_b.2
    );
    // The broker expires b after the session timeout and has a rejoin.
    wait_for(
        "the broker to expire the killed instance",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let n = count_revokes(&a.log());
            if n > revokes_before {
                Ok(())
            } else {
                Err(format!("{n} revocations"))
            }
        },
    )
    .await;
    let expired_in = started.elapsed() - killed_at;
    let dir_c = dir.path().join("c");
    std::fs::create_dir_all(&dir_c).unwrap();
    let mut c = Tocsin::configure_with_top(&dir_c, &top, &body);
    c.start().await;

    // b's partitions are resumed from b's checkpoints by whoever the
    // group gives them to.
    let owners = wait_for(
        "b's partitions to be owned again",
        Duration::from_secs(90),
        Duration::from_millis(300),
        || async {
            let (oa, oc) = (owned(&a.log()), owned(&c.log()));
            if oa.len() + oc.len() == PARTITIONS as usize && oa.is_disjoint(&oc) {
                Ok((oa, oc))
            } else {
                Err(format!("a owns {oa:?}, c owns {oc:?}"))
            }
        },
    )
    .await;
    let taken_in = started.elapsed() - killed_at;
    let mut resumed: BTreeMap<i64, (&str, i64)> = BTreeMap::new();
    for &t in &b_tasks {
        let (name, log) = if owners.0.contains(&t) {
            ("a", a.log())
        } else {
            ("c", c.log())
        };
        let epoch = task_events(&log)
            .into_iter()
            .filter(|(k, task, _)| k == "taken" && *task == t)
            .map(|(_, _, e)| e)
            .next_back()
            .unwrap_or(-1);
        resumed.insert(t, (name, epoch));
    }
    eprintln!(
        "[rebalance] b expired {expired_in:.1?} after the kill; a owns {:?}, c owns {:?} {taken_in:.1?} after it; b's tasks resumed (by, at epoch) {resumed:?}",
        owners.0, owners.1
    );
    assert!(
        resumed.values().all(|&(_, e)| e > 0),
        "each of b's tasks resumed from a checkpoint b wrote: {resumed:?}"
    );

    send.await.expect("the producer task");
    wait_for_events(&mut a, events, Duration::from_secs(300)).await;
    let drained_in = started.elapsed();

    // Each burst opened and resolved exactly once, the one open at the kill
    // included: its state moved with its partition.
    let bursts = workload.bursts();
    let decisions = wait_for_incidents(&a, bursts, Duration::from_secs(120)).await;
    let per_key = incidents_once(&decisions);
    assert!(
        per_key.contains(&(open_on_b.0.clone(), "resolve".to_owned())),
        "the incident open at the kill was resolved"
    );

    // Sinks: every decision reaches the webhook (by id) and PagerDuty (by
    // dedup key and action); a repeat is possible only for a delivery in
    // flight at the kill, and is reported.
    let d = wait_for_deliveries(&hook, &pd, &decisions, Duration::from_secs(120)).await;
    for t in [&mut a, &mut c] {
        let status = t.terminate();
        assert!(status.success(), "tocsin exited with {status}");
    }
    result(
        "rebalance",
        scale,
        &format!(
            "{events} events over {PARTITIONS} partitions, two instances; b (tasks {b_tasks:?}) SIGKILLed \
             {killed_at:.1?} in with incident {} open; expired by the broker {expired_in:.1?} later, then c joined; \
             all partitions owned again {taken_in:.1?} after the kill (a {:?}, c {:?}); b's tasks resumed (by, at \
             checkpoint epoch) {resumed:?}; all in the lake {drained_in:.1?} after the start; \
             lake rows {events} = distinct events (0 lost, 0 duplicated); {bursts} incidents opened and resolved \
             once each ({} decisions, none twice); webhook {} calls for {} decisions ({hook_dups} repeated), \
             PagerDuty {} events for {} expected ({pd_dups} repeated)",
            open_on_b.0,
            owners.0,
            owners.1,
            decisions.len(),
            d.hook_keys.len(),
            d.ids.len(),
            d.pd_all.len(),
            d.expected_pd.len(),
            hook_dups = d.hook_dups,
            pd_dups = d.pd_dups,
        ),
    );
    assert!(
        d.hook_dups + d.pd_dups <= 2,
        "{} webhook and {} PagerDuty repeats for one kill",
        d.hook_dups,
        d.pd_dups
    );
}
