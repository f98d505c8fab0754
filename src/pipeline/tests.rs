//! The pipeline in-process: batching, flushing, crash recovery.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tocsin_ingest::{LakeLayout, Table, decoder_for};
use tocsin_processors::DecisionAction;
use tocsin_processors::error_rate::{ErrorRateConfig, ErrorRateProcessor};
use tocsin_queries::HotStore;
use tocsin_sinks::LakeWriter;
use tocsin_sinks::lake::list_files;
use tokio::sync::mpsc;

use super::*;
use crate::checkpoint::{CheckpointStore, DERIVED_SOURCE};
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use tocsin_sinks::outbox::DurableDecisions;

const SOURCE: &str = "http.logs";
const T0: i64 = 1_795_681_800_000_000_000;
const S: i64 = 1_000_000_000;

fn pipeline(dir: &Path, feed: Option<mpsc::Sender<DurableDecisions>>) -> (Pipeline, Arc<HotStore>) {
    let error_rate = ErrorRateProcessor::new(ErrorRateConfig {
        window: Duration::from_secs(20),
        step: Duration::from_secs(5),
        ..Default::default()
    });
    pipeline_with(dir, feed, vec![Box::new(error_rate)])
}

fn pipeline_with(
    dir: &Path,
    feed: Option<mpsc::Sender<DurableDecisions>>,
    processors: Vec<Box<dyn Processor>>,
) -> (Pipeline, Arc<HotStore>) {
    let cfg = PipelineConfig {
        batch_max_rows: 100,
        flush_interval: Duration::from_secs(3600),
        allowed_lateness: Duration::from_secs(1),
        ..PipelineConfig::default()
    };
    let hot = Arc::new(HotStore::new());
    let mut p = Pipeline::recover(PipelineParts {
        task: None,
        cfg,
        lake: LakeWriter::new(LakeLayout::new(dir.join("lake"))).unwrap(),
        hot: hot.clone(),
        checkpoints: CheckpointStore::open(&dir.join("state")).unwrap(),
        processors,
        metrics: Arc::new(Metrics::new(Vec::new(), None)),
        outbox: None,
        sink_feeds: feed.into_iter().collect(),
    })
    .unwrap();
    p.add_route(
        SOURCE,
        Route {
            table: Table::Logs,
            decoder: decoder_for(Table::Logs, "json", p.limits()).unwrap(),
            from_kafka: false,
        },
    );
    (p, hot)
}

/// Line `i`: 10 lines per second of event time; errors when `error`.
fn line(i: i64, error: bool) -> Vec<u8> {
    let level = if error { "error" } else { "info" };
    format!(
        r#"{{"ts":{},"service":"checkout","level":"{level}","message":"line {i}"}}"#,
        T0 + i * S / 10
    )
    .into_bytes()
}

fn ingest(p: &mut Pipeline, offset: i64, payload: &[u8]) -> Outcome {
    p.ingest(InMessage {
        topic: SOURCE,
        partition: 0,
        offset,
        key: None,
        payload,
        received_ns: T0,
    })
    .unwrap()
}

fn lake_files(dir: &Path, table: Table) -> Vec<String> {
    let mut names: Vec<String> = list_files(&dir.join("lake").join(table.name()))
        .unwrap()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn seals_by_size_and_flushes_one_segment_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, hot) = pipeline(dir.path(), None);
    for i in 0..250 {
        assert_eq!(ingest(&mut p, i, &line(i, false)), Outcome::Rows(1));
    }
    assert!(matches!(
        ingest(&mut p, 250, b"{\"message\": "),
        Outcome::DeadLettered(_)
    ));
    p.publish_hot().await;
    // Two full batches of 100 are sealed and queryable; 50 rows still open.
    assert_eq!(hot.read().await.batches(Table::Logs).len(), 2);
    assert_eq!(p.pending_rows(), 250);

    let report = p.flush().await.unwrap();
    assert_eq!(report.rows, 251);
    assert!(
        report.commits.is_empty(),
        "embedded sources are not committed to Kafka"
    );
    assert_eq!(hot.read().await.rows(), 0);
    assert_eq!(
        lake_files(dir.path(), Table::Logs),
        vec![format!("{SOURCE}+0+{:020}+{:020}.parquet", 0, 250)]
    );
    assert_eq!(lake_files(dir.path(), Table::DeadLetter).len(), 1);
    let cp = p.checkpoints.load().unwrap().unwrap();
    let pos = cp.sources.iter().find(|s| s.topic == SOURCE).unwrap();
    assert_eq!(pos.next_offset, 251);
    assert_eq!(p.next_embedded_offset(SOURCE), 251);
}

#[tokio::test]
async fn a_crash_after_writing_but_before_the_checkpoint_neither_loses_nor_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut p, _) = pipeline(dir.path(), None);
        for i in 0..100 {
            ingest(&mut p, i, &line(i, false));
        }
        p.flush().await.unwrap();
    }
    // Simulate a crash in the next flush: its file reached the lake, the
    // checkpoint still says offset 100.
    let lake = LakeWriter::new(LakeLayout::new(dir.path().join("lake"))).unwrap();
    let mut b = TableBuilder::for_table(Table::Logs).unwrap();
    let d = decoder_for(Table::Logs, "json", DecodeLimits::default()).unwrap();
    for i in 100..150 {
        let l = Lineage {
            topic: SOURCE,
            partition: 0,
            offset: i,
            received_ns: T0,
        };
        decode_message(
            d.as_ref(),
            &line(i, false),
            &l,
            &DecodeLimits::default(),
            &mut b,
        )
        .unwrap();
    }
    let seg = tocsin_ingest::SegmentId {
        topic: SOURCE.into(),
        partition: 0,
        first_offset: 100,
        last_offset: 149,
    };
    let staged = lake
        .stage(Table::Logs, &seg, &[b.finish().unwrap()])
        .unwrap();
    lake.publish(&staged).unwrap();
    assert_eq!(lake_files(dir.path(), Table::Logs).len(), 2);

    // Restart: the uncheckpointed file goes; the source replays from 0 and
    // everything below the checkpoint is skipped.
    let (mut p, _) = pipeline(dir.path(), None);
    assert_eq!(lake_files(dir.path(), Table::Logs).len(), 1);
    for i in 0..180 {
        let out = ingest(&mut p, i, &line(i, false));
        assert_eq!(out == Outcome::Skipped, i < 100, "offset {i}: {out:?}");
    }
    p.flush().await.unwrap();
    let files = lake_files(dir.path(), Table::Logs);
    assert_eq!(
        files,
        vec![
            format!("{SOURCE}+0+{:020}+{:020}.parquet", 0, 99),
            format!("{SOURCE}+0+{:020}+{:020}.parquet", 100, 179),
        ]
    );
}

#[tokio::test]
async fn decisions_reach_the_lake_and_the_sinks_only_after_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let (mut p, _) = pipeline(dir.path(), Some(tx));
    // 60 s healthy, 30 s at 50% errors, 60 s healthy.
    for i in 0..1500 {
        let burst = (600..900).contains(&i) && i % 2 == 0;
        ingest(&mut p, i, &line(i, burst));
    }
    p.seal_lingering().unwrap();
    assert!(
        rx.try_recv().is_err(),
        "nothing is delivered before it is durable"
    );
    p.flush().await.unwrap();
    let mut got = Vec::new();
    while let Ok(epoch) = rx.try_recv() {
        got.extend(epoch.decisions.iter().cloned());
    }
    let actions: Vec<DecisionAction> = got.iter().map(|d| d.action).collect();
    assert_eq!(actions, vec![DecisionAction::Open, DecisionAction::Resolve]);
    assert_eq!(lake_files(dir.path(), Table::Decisions).len(), 1);

    // The processor state is checkpointed: a restart does not reopen it.
    drop(p);
    let (tx, mut rx) = mpsc::channel(16);
    let (mut p, _) = pipeline(dir.path(), Some(tx));
    for i in 1500..1600 {
        ingest(&mut p, i, &line(i, false));
    }
    p.flush().await.unwrap();
    while let Ok(epoch) = rx.try_recv() {
        assert!(epoch.decisions.is_empty(), "{:?}", epoch.decisions);
    }
}

#[tokio::test]
async fn dead_letters_do_not_move_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, _) = pipeline(dir.path(), None);
    // A malformed message received an hour after the backlog's event times.
    let out = p
        .ingest(InMessage {
            topic: SOURCE,
            partition: 0,
            offset: 0,
            key: None,
            payload: b"{\"message\": ",
            received_ns: T0 + 3600 * S,
        })
        .unwrap();
    assert!(matches!(out, Outcome::DeadLettered(_)));
    for i in 1..150 {
        ingest(&mut p, i, &line(i, false));
    }
    p.flush().await.unwrap();
    let max = p.watermark.max_event_ns().unwrap();
    assert!(max < T0 + 20 * S, "watermark moved to {max}");
}

/// Fills `pattern_id`, raises an alert per batch with an error line and
/// reports one pattern row per flush: the pipeline's side of enrichment and
/// derived rows, without any real detector.
struct Tagger;

impl Processor for Tagger {
    fn name(&self) -> &'static str {
        "tagger"
    }
    fn inputs(&self) -> &'static [Table] {
        &[Table::Logs]
    }
    fn enriches(&self) -> &'static [Table] {
        &[Table::Logs]
    }
    fn enrich(
        &mut self,
        _table: Table,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> Result<RecordBatch, tocsin_processors::ProcessorError> {
        let idx = batch.schema().index_of("pattern_id").unwrap();
        let mut cols = batch.columns().to_vec();
        cols[idx] = Arc::new(arrow::array::StringArray::from(vec![
            "tag";
            batch.num_rows()
        ]));
        Ok(RecordBatch::try_new(batch.schema(), cols).unwrap())
    }
    fn process(
        &mut self,
        _table: Table,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<(), tocsin_processors::ProcessorError> {
        let level = batch.column_by_name("level").unwrap().as_string::<i32>();
        if level.iter().any(|l| l == Some("error")) {
            out.alerts.push(tocsin_processors::RaisedAlert {
                ts: max_event_time(batch).unwrap(),
                alertname: "ErrorSeen".into(),
                status: tocsin_processors::AlertStatus::Firing,
                severity: "warning".into(),
                service: Some("checkout".into()),
                labels: Default::default(),
                annotations: Default::default(),
                starts_at: T0,
                ends_at: None,
                source: "tocsin.test",
            });
        }
        Ok(())
    }
    fn on_watermark(&mut self, _watermark_ns: i64, _out: &mut Output) {}
    fn on_flush(&mut self, out: &mut Output) {
        out.log_patterns.push(tocsin_processors::PatternUpdate {
            id: "tag".into(),
            service: "checkout".into(),
            template: "line <*>".into(),
            first_seen: T0,
            last_seen: T0,
            count: 1,
            new_lines: 1,
            example: "line 1".into(),
        });
    }
    fn snapshot(
        &mut self,
        out: &mut dyn std::io::Write,
    ) -> Result<(), tocsin_processors::ProcessorError> {
        out.write_all(b"null")
            .map_err(|e| tocsin_processors::ProcessorError::Snapshot {
                processor: "tagger".into(),
                source: serde_json::Error::io(e),
            })
    }
    fn restore(&mut self, _: &[u8]) -> Result<(), tocsin_processors::ProcessorError> {
        Ok(())
    }
}

/// Counts the alert rows it is fed.
#[derive(Default)]
struct AlertCounter(u64);

impl Processor for AlertCounter {
    fn name(&self) -> &'static str {
        "alert_counter"
    }
    fn inputs(&self) -> &'static [Table] {
        &[Table::Alerts]
    }
    fn process(
        &mut self,
        _table: Table,
        batch: &RecordBatch,
        _out: &mut Output,
    ) -> Result<(), tocsin_processors::ProcessorError> {
        self.0 += batch.num_rows() as u64;
        Ok(())
    }
    fn on_watermark(&mut self, _watermark_ns: i64, _out: &mut Output) {}
    fn snapshot(
        &mut self,
        out: &mut dyn std::io::Write,
    ) -> Result<(), tocsin_processors::ProcessorError> {
        write!(out, "{}", self.0).map_err(|e| tocsin_processors::ProcessorError::Snapshot {
            processor: "alert_counter".into(),
            source: serde_json::Error::io(e),
        })
    }
    fn restore(&mut self, _: &[u8]) -> Result<(), tocsin_processors::ProcessorError> {
        Ok(())
    }
}

#[tokio::test]
async fn enrichment_and_derived_rows_reach_hot_store_lake_and_alert_processors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, hot) = pipeline_with(
        dir.path(),
        None,
        vec![Box::new(Tagger), Box::new(AlertCounter::default())],
    );
    for i in 0..150 {
        ingest(&mut p, i, &line(i, i == 120));
    }
    p.seal_lingering().unwrap();
    p.seal_all().unwrap();
    p.publish_hot().await;
    {
        let hot = hot.read().await;
        for b in hot.batches(Table::Logs) {
            let ids = b.column_by_name("pattern_id").unwrap().as_string::<i32>();
            assert!(ids.iter().all(|v| v == Some("tag")));
        }
        let alerts: usize = hot
            .batches(Table::Alerts)
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(alerts, 1, "one batch held the error line");
    }
    p.flush().await.unwrap();
    assert_eq!(
        lake_files(dir.path(), Table::Alerts),
        vec![format!("{DERIVED_SOURCE}+0+{:020}+{:020}.parquet", 1, 1)]
    );
    assert_eq!(lake_files(dir.path(), Table::LogPatterns).len(), 1);
    let cp = p.checkpoints.load().unwrap().unwrap();
    let sf = &cp.state_files[0];
    let state = p
        .checkpoints
        .read_range(&sf.file, "alert_counter", &sf.states["alert_counter"])
        .unwrap();
    assert_eq!(state, b"1");
}
