use super::*;
use crate::lake::LakeWriter;
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampNanosecondType;
use tocsin_ingest::TableBuilder;
use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder};

const T0: i64 = 1_795_681_800_000_000_000; // 2026-11-26T08:30:00Z
const HOUR: i64 = 3_600_000_000_000;

/// `n` log rows from offsets `first..first+n` of `tocsin.logs`/0, in one hour.
fn logs(first: i64, n: i64, service: &str) -> RecordBatch {
    let mut b = LogsBuilder::new();
    for o in first..first + n {
        let row = LogRow {
            ts: T0 + o * 1_000_000,
            service: Some(service),
            host: None,
            env: None,
            version: None,
            level: "info",
            message: "m",
            trace_id: None,
        };
        b.push(
            &row,
            &Lineage {
                topic: "tocsin.logs",
                partition: 0,
                offset: o,
                received_ns: 0,
            },
        );
    }
    TableBuilder::Logs(b).finish().unwrap()
}

fn seg(first: i64, last: i64) -> SegmentId {
    SegmentId {
        topic: "tocsin.logs".into(),
        partition: 0,
        first_offset: first,
        last_offset: last,
    }
}

/// A lake with segments of 10 rows at offsets 0.., `segments` of them.
fn lake(segments: i64) -> (tempfile::TempDir, LakeWriter, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let writer = LakeWriter::new(LakeLayout::new(tmp.path())).unwrap();
    for s in 0..segments {
        let staged = writer
            .stage(
                Table::Logs,
                &seg(s * 10, s * 10 + 9),
                &[logs(s * 10, 10, ["a", "b"][s as usize % 2])],
            )
            .unwrap();
        writer.publish(&staged).unwrap();
    }
    let dir = partition_dirs(&writer.layout().table_dir(Table::Logs))
        .unwrap()
        .remove(0);
    (tmp, writer, dir)
}

fn committed(resume: i64) -> BTreeMap<(String, i32), i64> {
    BTreeMap::from([(("tocsin.logs".to_owned(), 0), resume)])
}

/// Every (offset, ts) in the directory, sorted, and the file names.
fn contents(dir: &Path) -> (Vec<(i64, i64)>, Vec<String>) {
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for f in lake_files(dir).unwrap() {
        names.push(f.id.file_name());
        let b = read_all(Table::Logs, &f.path).unwrap();
        let off = b
            .column_by_name("_offset")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>();
        for i in 0..b.num_rows() {
            rows.push((off.value(i), ts.value(i)));
        }
    }
    rows.sort_unstable();
    names.sort();
    (rows, names)
}

#[test]
fn committed_files_of_a_source_merge_into_one_sorted_file() {
    let (_tmp, _w, dir) = lake(6);
    let (before, names) = contents(&dir);
    assert_eq!(names.len(), 6);
    let r = compact_partition(
        Table::Logs,
        &dir,
        &committed(60),
        &CompactionConfig::default(),
    )
    .unwrap();
    assert_eq!((r.files_in, r.files_out, r.rows, r.subsumed), (6, 1, 60, 0));
    let (after, names) = contents(&dir);
    assert_eq!(after, before, "the same rows, none lost or doubled");
    assert_eq!(names, vec![seg(0, 59).file_name()]);
    // Sorted by (service, ts) as every lake file is.
    let merged = read_all(Table::Logs, &dir.join(seg(0, 59).file_name())).unwrap();
    let svc = merged.column_by_name("service").unwrap().as_string::<i32>();
    let services: Vec<&str> = (0..svc.len()).map(|i| svc.value(i)).collect();
    assert!(services.windows(2).all(|w| w[0] <= w[1]), "{services:?}");
    // No temp file is left behind.
    assert!(fs::read_dir(&dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(TMP_SUFFIX)
    }));
}

#[test]
fn uncommitted_and_unknown_sources_are_left_alone() {
    let (_tmp, _w, dir) = lake(4);
    // Offsets from 25 on are past the checkpoint: segments 20..29 and 30..39 stay.
    let r = compact_partition(
        Table::Logs,
        &dir,
        &committed(25),
        &CompactionConfig::default(),
    )
    .unwrap();
    assert_eq!((r.files_in, r.files_out), (2, 1));
    let (_, names) = contents(&dir);
    assert_eq!(
        names,
        vec![
            seg(0, 19).file_name(),
            seg(20, 29).file_name(),
            seg(30, 39).file_name()
        ]
    );
    let r = compact_partition(
        Table::Logs,
        &dir,
        &BTreeMap::new(),
        &CompactionConfig::default(),
    )
    .unwrap();
    assert_eq!(
        r,
        CompactionReport::default(),
        "a source with no checkpoint is not touched"
    );
}

#[test]
fn a_second_pass_changes_nothing() {
    let (_tmp, _w, dir) = lake(5);
    let cfg = CompactionConfig::default();
    compact_partition(Table::Logs, &dir, &committed(50), &cfg).unwrap();
    let once = contents(&dir);
    let r = compact_partition(Table::Logs, &dir, &committed(50), &cfg).unwrap();
    assert_eq!(r, CompactionReport::default());
    assert_eq!(contents(&dir), once);
}

#[test]
fn a_pass_stopped_after_its_commit_point_is_finished_by_the_next() {
    let (_tmp, _w, dir) = lake(4);
    let (before, _) = contents(&dir);
    // Keep copies of the inputs, compact, then put them back: the state a
    // crash between the rename and the deletions leaves.
    let saved: Vec<(PathBuf, Vec<u8>)> = lake_files(&dir)
        .unwrap()
        .into_iter()
        .map(|f| (f.path.clone(), fs::read(&f.path).unwrap()))
        .collect();
    compact_partition(
        Table::Logs,
        &dir,
        &committed(40),
        &CompactionConfig::default(),
    )
    .unwrap();
    for (p, bytes) in &saved {
        fs::write(p, bytes).unwrap();
    }
    // And a temp file from a pass that died while writing.
    fs::write(
        dir.join(format!(".{}{TMP_SUFFIX}", seg(0, 99).file_name())),
        b"partial",
    )
    .unwrap();
    let r = compact_partition(
        Table::Logs,
        &dir,
        &committed(40),
        &CompactionConfig::default(),
    )
    .unwrap();
    assert_eq!(r.subsumed, 4);
    assert_eq!(r.files_in, 0);
    let (after, names) = contents(&dir);
    assert_eq!(after, before);
    assert_eq!(names, vec![seg(0, 39).file_name()]);
    // The temp file is the start-up cleanup's (remove_temp_files's) job.
    let w = LakeWriter::new(LakeLayout::new(
        dir.parent().unwrap().parent().unwrap().parent().unwrap(),
    ))
    .unwrap();
    w.remove_temp_files().unwrap();
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn merged_files_stay_under_the_row_limit() {
    let (_tmp, _w, dir) = lake(7);
    let cfg = CompactionConfig {
        max_file_rows: 25,
        ..CompactionConfig::default()
    };
    let r = compact_partition(Table::Logs, &dir, &committed(70), &cfg).unwrap();
    assert_eq!((r.files_in, r.files_out, r.rows), (6, 3, 60));
    let (rows, names) = contents(&dir);
    assert_eq!(rows.len(), 70);
    assert_eq!(
        names,
        vec![
            seg(0, 19).file_name(),
            seg(20, 39).file_name(),
            seg(40, 59).file_name(),
            seg(60, 69).file_name()
        ]
    );
}

#[test]
fn only_hours_that_ended_long_enough_ago_are_compacted() {
    let (tmp, _w, dir) = lake(3);
    let layout = LakeLayout::new(tmp.path());
    let end = partition_end_ns(&dir).unwrap();
    assert_eq!(end, (T0 / HOUR + 1) * HOUR);
    let cfg = CompactionConfig::default();
    let early = compact_lake(&layout, &committed(30), &cfg, end + HOUR / 2).unwrap();
    assert_eq!(early.files_in, 0);
    let late = compact_lake(&layout, &committed(30), &cfg, end + HOUR).unwrap();
    assert_eq!((late.files_in, late.files_out), (3, 1));
}
