//! Compaction: the many small files a streaming writer leaves in an hour
//! partition are merged into few large ones, so scans open fewer files and
//! row-group statistics cover more rows.
//!
//! Files of one source partition (`topic`, `partition`) whose offsets are
//! all committed (below the checkpoint's resume offset) are merged in
//! offset order into files of at most `max_file_rows` rows, each named by
//! the offset range it covers (`topic+partition+first+last.parquet`, the
//! lake's usual name). The rename of the merged file is the commit point:
//!
//! 1. the merged rows are written to a hidden temp file and fsynced;
//! 2. it is renamed into place and the directory fsynced;
//! 3. the input files, whose ranges it covers, are deleted.
//!
//! A crash before 2 leaves a temp file that start-up removes; a crash after
//! 2 leaves inputs inside the merged file's range, which [`remove_subsumed`]
//! deletes (at start-up and before every pass). So running compaction again
//! after any crash, or twice in a row, gives the same lake. Between 2 and 3
//! a query can see the merged rows and their inputs together for the
//! moment the deletions take.
//!
//! Only ingest tables are compacted: the derived tables (`decisions`,
//! `incidents`, `log_patterns`) name their files by flush epoch, which the
//! sinks' outbox reads per epoch.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use serde::Deserialize;
use tocsin_ingest::{HourPartition, LakeLayout, SegmentId, Table};

use crate::lake::{
    LakeError, TMP_SUFFIX, fsync_dir, io_err, list_files, sort_for_lake, write_parquet,
    writer_properties,
};

/// `[lake.compaction]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// Whether compaction runs (default on).
    pub enabled: bool,
    /// Only hour partitions that ended at least this long ago are
    /// compacted, so the current hour is not rewritten while it fills.
    #[serde(with = "humantime_serde")]
    pub min_age: Duration,
    /// A merged file holds at most this many rows.
    pub max_file_rows: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            enabled: true,
            min_age: Duration::from_secs(3600),
            max_file_rows: 2_000_000,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Input files merged (and deleted).
    pub files_in: usize,
    /// Merged files written.
    pub files_out: usize,
    /// Rows rewritten.
    pub rows: usize,
    /// Files removed because a merged file already covered them (a pass
    /// interrupted after its commit point).
    pub subsumed: usize,
}

/// The tables that are compacted.
pub const COMPACTED_TABLES: [Table; 6] = [
    Table::Logs,
    Table::Metrics,
    Table::Alerts,
    Table::Changes,
    Table::Vulnerabilities,
    Table::DeadLetter,
];

/// A lake file with the offsets its name says it holds.
#[derive(Debug, Clone)]
struct LakeFile {
    path: PathBuf,
    id: SegmentId,
}

fn lake_files(dir: &Path) -> Result<Vec<LakeFile>, LakeError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(id) = SegmentId::parse_file_name(name) {
            out.push(LakeFile { path, id });
        }
    }
    Ok(out)
}

/// Deletes, in one partition directory, every file whose offset range lies
/// inside another file's range of the same source partition: it was merged
/// into that file by a pass that stopped before deleting it.
pub fn remove_subsumed(dir: &Path) -> Result<usize, LakeError> {
    let files = lake_files(dir)?;
    let mut removed = 0;
    for f in &files {
        let covered = files.iter().any(|g| {
            g.id.topic == f.id.topic
                && g.id.partition == f.id.partition
                && g.id.first_offset <= f.id.first_offset
                && f.id.last_offset <= g.id.last_offset
                && (g.id.first_offset, g.id.last_offset) != (f.id.first_offset, f.id.last_offset)
        });
        if covered {
            fs::remove_file(&f.path).map_err(io_err(&f.path))?;
            removed += 1;
        }
    }
    if removed > 0 {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// Removes subsumed files in every compacted table (run at start-up,
/// before queries are served).
pub fn remove_all_subsumed(layout: &LakeLayout) -> Result<usize, LakeError> {
    let mut removed = 0;
    for table in COMPACTED_TABLES {
        for dir in partition_dirs(&layout.table_dir(table))? {
            removed += remove_subsumed(&dir)?;
        }
    }
    Ok(removed)
}

/// The hour-partition directories under a table directory.
fn partition_dirs(table_dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let mut dirs: Vec<PathBuf> = list_files(table_dir)?
        .into_iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

/// The end of the hour a partition directory holds, in ns since the epoch.
fn partition_end_ns(dir: &Path) -> Option<i64> {
    let hour = dir.file_name()?.to_str()?;
    let date = dir.parent()?.file_name()?.to_str()?;
    Some(HourPartition::from_dir_names(date, hour)?.last_ns() + 1)
}

fn row_count(path: &Path) -> Result<usize, LakeError> {
    let file = File::open(path).map_err(io_err(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| LakeError::Parquet {
            path: path.to_owned(),
            source,
        })?;
    Ok(usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
}

fn read_all(table: Table, path: &Path) -> Result<RecordBatch, LakeError> {
    let perr = |source| LakeError::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err(path))?;
    // In the table's own types, whatever read hint the file carries (maps
    // of views since 2026-11-27, plain strings before).
    let options = ArrowReaderOptions::new().with_schema(table.schema());
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(perr)?
        .build()
        .map_err(perr)?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(concat_batches(&table.schema(), &batches)?)
}

/// Compacts one partition directory of `table`. `committed` maps each
/// source partition to its first offset not yet checkpointed; files of
/// sources it does not name, or reaching past it, are left alone.
pub fn compact_partition(
    table: Table,
    dir: &Path,
    committed: &BTreeMap<(String, i32), i64>,
    cfg: &CompactionConfig,
) -> Result<CompactionReport, LakeError> {
    let mut report = CompactionReport {
        subsumed: remove_subsumed(dir)?,
        ..CompactionReport::default()
    };
    let mut by_source: BTreeMap<(String, i32), Vec<LakeFile>> = BTreeMap::new();
    for f in lake_files(dir)? {
        let key = (f.id.topic.clone(), f.id.partition);
        let Some(&resume) = committed.get(&key) else {
            continue;
        };
        if f.id.last_offset < resume {
            by_source.entry(key).or_default().push(f);
        }
    }
    let props = writer_properties(table);
    for ((topic, partition), mut files) in by_source {
        files.sort_by_key(|f| f.id.first_offset);
        // Runs of files that fit in one merged file.
        let mut runs: Vec<Vec<(LakeFile, usize)>> = vec![Vec::new()];
        let mut rows_in_run = 0;
        for f in files {
            let rows = row_count(&f.path)?;
            if rows_in_run + rows > cfg.max_file_rows && !runs.last().is_none_or(Vec::is_empty) {
                runs.push(Vec::new());
                rows_in_run = 0;
            }
            rows_in_run += rows;
            if let Some(run) = runs.last_mut() {
                run.push((f, rows));
            }
        }
        for run in runs.into_iter().filter(|r| r.len() > 1) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let id = SegmentId {
                topic: topic.clone(),
                partition,
                first_offset: first.0.id.first_offset,
                last_offset: last.0.id.last_offset,
            };
            let batches = run
                .iter()
                .map(|(f, _)| read_all(table, &f.path))
                .collect::<Result<Vec<_>, _>>()?;
            let merged = sort_for_lake(table, &concat_batches(&table.schema(), &batches)?)?;
            let dest = dir.join(id.file_name());
            let tmp = dir.join(format!(".{}{TMP_SUFFIX}", id.file_name()));
            write_parquet(&tmp, &merged, &props)?;
            fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
            fsync_dir(dir)?;
            for (f, _) in &run {
                fs::remove_file(&f.path).map_err(io_err(&f.path))?;
            }
            fsync_dir(dir)?;
            report.files_in += run.len();
            report.files_out += 1;
            report.rows += merged.num_rows();
        }
    }
    Ok(report)
}

/// One pass over every compacted table: the hour partitions that ended at
/// least `min_age` before `now_ns`.
pub fn compact_lake(
    layout: &LakeLayout,
    committed: &BTreeMap<(String, i32), i64>,
    cfg: &CompactionConfig,
    now_ns: i64,
) -> Result<CompactionReport, LakeError> {
    let mut total = CompactionReport::default();
    let min_age = i64::try_from(cfg.min_age.as_nanos()).unwrap_or(i64::MAX);
    for table in COMPACTED_TABLES {
        for dir in partition_dirs(&layout.table_dir(table))? {
            let old_enough =
                partition_end_ns(&dir).is_some_and(|end| end.saturating_add(min_age) <= now_ns);
            if !old_enough {
                continue;
            }
            let r = compact_partition(table, &dir, committed, cfg)?;
            total.files_in += r.files_in;
            total.files_out += r.files_out;
            total.rows += r.rows;
            total.subsumed += r.subsumed;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
