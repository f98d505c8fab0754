//! Tasks in-process: a task moves to another "instance" (another task set
//! over the same lake) with its state, and a rebalance keeps or drops
//! tasks as the assignment says.

use std::path::Path;
use std::sync::Arc;

use arrow::array::AsArray;
use tocsin_ingest::LakeLayout;
use tocsin_ingest::kafka::Rebalanced;
use tocsin_queries::{HotStore, QueryConfig, QueryEngine};

use super::*;
use crate::config::Config;
use crate::pipeline::InMessage;

const SOURCE: &str = "http.logs";
const T0: i64 = 1_795_681_800_000_000_000;

/// A task set of one instance: its own data directory, the shared lake.
fn instance(dir: &Path, name: &str) -> (TaskSet, Arc<HotStore>) {
    let text = format!(
        r#"data_dir = {data:?}
lake_dir = {lake:?}

[pipeline]
batch_max_rows = 10
flush_interval = "1h"
allowed_lateness = "1s"

[processors.error_rate]
window = "60s"
step = "10s"
open_threshold = 0.2
resolve_threshold = 0.05
min_events = 20
"#,
        data = dir.join(name).display().to_string(),
        lake = dir.join("lake").display().to_string(),
    );
    let cfg = Arc::new(Config::from_toml(&text, "t.toml", Vec::new()).unwrap());
    let hot = Arc::new(HotStore::new());
    let factory = PipelineFactory {
        layout: LakeLayout::new(cfg.lake_dir()),
        metrics: Arc::new(Metrics::new(Vec::new(), None)),
        hot: hot.clone(),
        outbox: None,
        cfg,
    };
    (TaskSet::per_partition(factory), hot)
}

fn assigned(parts: &[i32]) -> Rebalanced {
    Rebalanced::Assigned(parts.iter().map(|&p| ("t".to_owned(), p)).collect())
}

fn revoked(parts: &[i32]) -> Rebalanced {
    Rebalanced::Revoked(parts.iter().map(|&p| ("t".to_owned(), p)).collect())
}

/// Second `i` of checkout's log: ten lines, half of them errors in a burst.
fn feed(tasks: &mut TaskSet, partition: i32, seconds: std::ops::Range<i64>, burst: bool) {
    let p = tasks.for_partition(partition).expect("an owned task");
    for s in seconds {
        for j in 0..10 {
            let level = if burst && j % 2 == 0 { "error" } else { "info" };
            let line = format!(
                r#"{{"ts":{},"service":"checkout","level":"{level}","message":"m"}}"#,
                T0 + s * 1_000_000_000 + j * 100_000_000
            );
            let offset = s * 10 + j;
            p.ingest(InMessage {
                topic: SOURCE,
                partition,
                offset,
                key: None,
                payload: line.as_bytes(),
                received_ns: T0,
            })
            .unwrap();
        }
    }
}

/// Runs `sql` over the lake alone (no instance's hot batches).
async fn query_lake(lake: &Path, sql: &str) -> Vec<arrow::array::RecordBatch> {
    let engine = QueryEngine::try_new(
        &LakeLayout::new(lake),
        Arc::new(HotStore::new()),
        &QueryConfig::default(),
    )
    .unwrap();
    engine.query(sql).await.unwrap().batches
}

async fn incident_actions(lake: &Path) -> Vec<(String, String)> {
    let batches = query_lake(
        lake,"SELECT dedup_key, action FROM decisions WHERE kind = 'incident' AND action <> 'update' ORDER BY ts, action DESC",
    )
    .await;
    let mut rows = Vec::new();
    for b in &batches {
        let (k, a) = (b.column(0), b.column(1));
        for i in 0..b.num_rows() {
            let k = arrow::util::display::array_value_to_string(k, i).unwrap();
            let a = arrow::util::display::array_value_to_string(a, i).unwrap();
            rows.push((k, a));
        }
    }
    rows
}

async fn logs_per_partition(lake: &Path) -> Vec<(i32, i64)> {
    let batches = query_lake(
        lake,
        "SELECT _partition, count(*) AS n, count(DISTINCT _offset) AS d FROM logs GROUP BY 1 ORDER BY 1",
    )
    .await;
    let mut rows = Vec::new();
    for b in &batches {
        let p = b.column(0).as_primitive::<arrow::datatypes::Int32Type>();
        let n = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        let d = b.column(2).as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            assert_eq!(
                n.value(i),
                d.value(i),
                "a row twice in partition {}",
                p.value(i)
            );
            rows.push((p.value(i), n.value(i)));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_moves_to_another_instance_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (mut a, _) = instance(dir.path(), "a");
    a.rebalanced(vec![assigned(&[0, 1])]).await.unwrap();
    assert_eq!(a.owned(), vec![0, 1]);

    // Partition 1 has a burst; the incident opens and is flushed.
    feed(&mut a, 0, 0..200, false);
    feed(&mut a, 1, 0..60, false);
    feed(&mut a, 1, 60..120, true);
    let (_, ok) = a.flush(true).await;
    assert!(ok);
    let opened = incident_actions(&lake).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0].1, "open");
    // More of partition 1 is read but never flushed: the instance dies.
    feed(&mut a, 1, 120..150, false);
    drop(a);

    // Another instance is assigned partition 1: it resumes at the offset
    // the checkpoint covers, with the open incident in its state, so the
    // burst's end resolves it and nothing opens it again.
    let (mut b, hot_b) = instance(dir.path(), "b");
    b.rebalanced(vec![assigned(&[1])]).await.unwrap();
    let task = b.for_partition(1).unwrap();
    assert_eq!(task.durable_epoch(), 1);
    // What the dead instance had read after its flush is read again.
    assert_eq!(
        task.ingest(InMessage {
            topic: SOURCE,
            partition: 1,
            offset: 1199,
            key: None,
            payload: b"{}",
            received_ns: T0,
        })
        .unwrap(),
        crate::pipeline::Outcome::Skipped,
        "offsets the checkpoint covers are skipped"
    );
    feed(&mut b, 1, 120..400, false);
    let (_, ok) = b.flush(true).await;
    assert!(ok);
    assert!(hot_b.read().await.rows() == 0);
    let actions = incident_actions(&lake).await;
    assert_eq!(
        actions.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>(),
        ["open", "resolve"],
        "{actions:?}"
    );
    assert_eq!(actions[0].0, actions[1].0, "one incident, one dedup key");
    // Every line of partition 1 once: 1,200 from the first instance's
    // flush, 2,800 from the second's; partition 0's 2,000 once.
    assert_eq!(logs_per_partition(&lake).await, vec![(0, 2000), (1, 4000)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_keeps_returned_tasks_and_drops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, hot) = instance(dir.path(), "a");
    a.rebalanced(vec![assigned(&[0, 1])]).await.unwrap();
    feed(&mut a, 0, 0..5, false);
    feed(&mut a, 1, 0..5, false);
    // Batches of 10 rows are sealed and queryable, none flushed.
    a.publish_hot().await;
    assert_eq!(hot.read().await.rows(), 100);

    // Between revoke and assignment neither task is fed or flushed.
    a.rebalanced(vec![revoked(&[0, 1])]).await.unwrap();
    assert!(a.for_partition(0).is_none() && a.for_partition(1).is_none());
    assert!(a.owned().is_empty());
    let (commits, ok) = a.flush(true).await;
    assert!(ok && commits.is_empty());

    // Partition 0 comes back with its unflushed rows; 1 goes elsewhere.
    a.rebalanced(vec![assigned(&[0, 2])]).await.unwrap();
    assert_eq!(a.owned(), vec![0, 2]);
    assert_eq!(a.for_partition(0).unwrap().pending_rows(), 50);
    assert!(a.for_partition(1).is_none());
    // Task 1's hot rows went with it; task 0's stay queryable.
    assert_eq!(hot.read().await.rows(), 50);
}
