//! The Parquet lake writer.
//!
//! A segment (a contiguous offset range of one source partition) is written in
//! two steps so that a flush across several tables and hours is all-or-nothing
//! as far as readers and restarts are concerned:
//!
//! 1. [`LakeWriter::stage`] writes each hour partition's rows to a hidden temp
//!    file beside its final place and fsyncs it;
//! 2. [`LakeWriter::publish`] renames the temp files into place and fsyncs the
//!    directories.
//!
//! File names come from [`SegmentId`], so re-writing a segment after a crash
//! replaces the earlier file; [`LakeWriter::remove_uncommitted`] deletes files
//! a crash left beyond the last checkpoint before they are rewritten.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{DataType, TimestampNanosecondType};
use arrow::error::ArrowError;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, encode_arrow_schema};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use tocsin_ingest::{HourPartition, LakeLayout, SegmentId, Table};

/// Errors of the lake writer.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A file-system operation failed.
    #[error("lake I/O on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Parquet encoding failed.
    #[error("writing parquet {path}: {source}")]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The error.
        source: parquet::errors::ParquetError,
    },
    /// A batch could not be split or merged.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Fsyncs a directory, so the renames and deletions in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), LakeError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

/// Writes `batch` to a new Parquet file at `path` and fsyncs it; its size.
pub(crate) fn write_parquet(
    path: &Path,
    batch: &RecordBatch,
    props: &WriterProperties,
) -> Result<u64, LakeError> {
    let file = File::create(path).map_err(io_err(path))?;
    let perr = |source| LakeError::Parquet {
        path: path.to_owned(),
        source,
    };
    // The read hint (`ARROW:schema`) is in `props`, from `writer_properties`.
    let options = ArrowWriterOptions::new()
        .with_properties(props.clone())
        .with_skip_arrow_metadata(true);
    let mut writer =
        ArrowWriter::try_new_with_options(file, batch.schema(), options).map_err(perr)?;
    writer.write(batch).map_err(perr)?;
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(io_err(path))?;
    Ok(file.metadata().map_err(io_err(path))?.len())
}

/// A file written and fsynced under a temp name, not yet visible.
#[derive(Debug)]
pub struct StagedFile {
    tmp: PathBuf,
    dest: PathBuf,
    /// The table it belongs to.
    pub table: Table,
    /// Rows in the file.
    pub rows: usize,
    /// Bytes in the file.
    pub bytes: u64,
}

/// zstd (timestamps delta-encoded instead), page-level statistics (page indexes), the table's sort order
/// recorded as `sorting_columns`, bloom filters on its id columns, and the
/// table's [`Table::file_read_schema`] as the file's Arrow schema hint.
pub(crate) fn writer_properties(table: Table) -> WriterProperties {
    let schema = table.schema();
    let sorting: Vec<SortingColumn> = table
        .sort_columns()
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .map(|i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            ARROW_SCHEMA_META_KEY.to_owned(),
            encode_arrow_schema(&table.file_read_schema()),
        )]));
    // Timestamps in a file sorted by (…, ts) rise by small steps within
    // each run: delta encoding stores them in a third of the bytes of
    // plain values and decodes faster than zstd inflates plain ones, and
    // zstd finds little left to squeeze (BENCHMARKS.md, "Timestamps
    // delta-encoded"). A dictionary of distinct instants is pure waste.
    for f in schema.fields() {
        if matches!(f.data_type(), DataType::Timestamp(..)) {
            let column = ColumnPath::from(f.name().as_str());
            b = b
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column.clone(), Encoding::DELTA_BINARY_PACKED)
                .set_column_compression(column, Compression::UNCOMPRESSED);
        }
    }
    for c in table.bloom_filter_columns() {
        b = b
            .set_column_bloom_filter_enabled(ColumnPath::from(*c), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*c), 0.01);
    }
    b.build()
}

/// Sorts rows by the table's sort columns (nulls first, as recorded in the
/// file metadata).
pub(crate) fn sort_for_lake(table: Table, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns: Vec<SortColumn> = table
        .sort_columns()
        .iter()
        .filter_map(|c| batch.column_by_name(c))
        .map(|values| SortColumn {
            values: values.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: true,
            }),
        })
        .collect();
    if columns.is_empty() || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let indices = lexsort_to_indices(&columns, None)?;
    take_record_batch(batch, &indices)
}

/// Writes segments of rows into the lake.
#[derive(Debug, Clone)]
pub struct LakeWriter {
    layout: LakeLayout,
    /// Writer properties per table (indexed like `Table::ALL`): sorting
    /// metadata and bloom filters differ by table.
    props: Vec<WriterProperties>,
}

pub(crate) const TMP_SUFFIX: &str = ".tmp";

impl LakeWriter {
    /// A writer for the lake at `layout`; creates the table directories.
    pub fn new(layout: LakeLayout) -> Result<Self, LakeError> {
        for t in Table::ALL {
            let dir = layout.table_dir(t);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let props = Table::ALL.into_iter().map(writer_properties).collect();
        Ok(LakeWriter { layout, props })
    }

    /// The layout written to.
    pub fn layout(&self) -> &LakeLayout {
        &self.layout
    }

    /// Writes `batches` (rows of `table` from `segment`) to temp files, one per
    /// hour of event time, each fsynced.
    pub fn stage(
        &self,
        table: Table,
        segment: &SegmentId,
        batches: &[RecordBatch],
    ) -> Result<Vec<StagedFile>, LakeError> {
        let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let schema = table.schema();
        let all = concat_batches(&schema, batches.iter().copied())?;
        let all = sort_for_lake(table, &all)?;
        let mut staged = Vec::new();
        for (hour, part) in split_by_hour(&all)? {
            let dir = self.layout.partition_dir(table, hour);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let dest = dir.join(segment.file_name());
            let tmp = dir.join(format!(".{}{TMP_SUFFIX}", segment.file_name()));
            let bytes = self.write_file(&tmp, &part, &self.props[table as usize])?;
            staged.push(StagedFile {
                tmp,
                dest,
                table,
                rows: part.num_rows(),
                bytes,
            });
        }
        Ok(staged)
    }

    fn write_file(
        &self,
        path: &Path,
        batch: &RecordBatch,
        props: &WriterProperties,
    ) -> Result<u64, LakeError> {
        write_parquet(path, batch, props)
    }

    /// Renames staged files into place and fsyncs their directories.
    pub fn publish(&self, files: &[StagedFile]) -> Result<(), LakeError> {
        let mut dirs = Vec::new();
        for f in files {
            fs::rename(&f.tmp, &f.dest).map_err(io_err(&f.dest))?;
            if let Some(d) = f.dest.parent()
                && !dirs.iter().any(|x: &PathBuf| x == d)
            {
                dirs.push(d.to_owned());
            }
        }
        for d in dirs {
            fsync_dir(&d)?;
        }
        Ok(())
    }

    /// Deletes staged files that will not be published.
    pub fn discard(&self, files: Vec<StagedFile>) {
        for f in files {
            let _ = fs::remove_file(&f.tmp);
        }
    }

    /// Removes, in every table, the files of `(topic, partition)` whose first
    /// offset is `from_offset` or later, and its leftover temp files.
    ///
    /// Called on start-up for each source position in the checkpoint: rows
    /// past it were written but not checkpointed, and will be read again.
    /// Another instance sharing the lake may be writing other sources'
    /// temp files meanwhile, so only this source's are touched.
    pub fn remove_uncommitted(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
    ) -> Result<usize, LakeError> {
        let ours = |id: &SegmentId| id.topic == topic && id.partition == partition;
        self.remove_files(|name| match temp_segment(name) {
            Some(id) => ours(&id),
            None => SegmentId::parse_file_name(name)
                .is_some_and(|id| ours(&id) && id.first_offset >= from_offset),
        })
    }

    /// Removes every leftover temp file, of any source (and any that is not
    /// a segment's). For a writer that owns the whole lake, on start-up.
    pub fn remove_temp_files(&self) -> Result<usize, LakeError> {
        self.remove_files(|name| name.starts_with('.') && name.ends_with(TMP_SUFFIX))
    }

    fn remove_files(&self, stale: impl Fn(&str) -> bool) -> Result<usize, LakeError> {
        let mut removed = 0;
        for t in Table::ALL {
            for path in list_files(&self.layout.table_dir(t))? {
                if path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(&stale)
                {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The segment a temp file (`.<segment file name>.tmp`) is being written for.
fn temp_segment(name: &str) -> Option<SegmentId> {
    let inner = name.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    SegmentId::parse_file_name(inner)
}

/// Every file below `dir`, recursively; a missing directory is empty.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&d)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&d))?;
            let ft = entry.file_type().map_err(io_err(&d))?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// Splits a batch by the hour of its `ts` column, keeping row order.
fn split_by_hour(batch: &RecordBatch) -> Result<Vec<(HourPartition, RecordBatch)>, LakeError> {
    let ts = batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError("batch has no `ts` timestamp column".into())
        })?;
    let first = HourPartition::of(ts.value(0));
    if ts.values().iter().all(|&t| HourPartition::of(t) == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut groups: BTreeMap<HourPartition, Vec<u32>> = BTreeMap::new();
    for (i, &t) in ts.values().iter().enumerate() {
        groups
            .entry(HourPartition::of(t))
            .or_default()
            .push(i as u32);
    }
    groups
        .into_iter()
        .map(|(h, idx)| Ok((h, take_record_batch(batch, &UInt32Array::from(idx))?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use tocsin_ingest::TableBuilder;
    use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder};

    const H: i64 = 3_600_000_000_000;
    const T0: i64 = 1_795_681_800_000_000_000;

    fn logs(ts: &[i64]) -> RecordBatch {
        let mut b = LogsBuilder::new();
        for (i, &t) in ts.iter().enumerate() {
            let row = LogRow {
                ts: t,
                service: Some("s"),
                host: None,
                env: None,
                version: None,
                level: "info",
                message: "m",
                trace_id: None,
            };
            b.attributes.push_entry("k", "v");
            b.push(
                &row,
                &Lineage {
                    topic: "tocsin.logs",
                    partition: 0,
                    offset: i as i64,
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

    fn read_rows(path: &Path) -> usize {
        let f = File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        reader.map(|b| b.unwrap().num_rows()).sum()
    }

    #[test]
    fn stage_then_publish_splits_by_hour_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let w = LakeWriter::new(LakeLayout::new(dir.path())).unwrap();
        let batch = logs(&[T0, T0 + 1, T0 + H, T0 + 2]);
        let staged = w
            .stage(Table::Logs, &seg(0, 3), std::slice::from_ref(&batch))
            .unwrap();
        assert_eq!(staged.len(), 2);
        // Invisible until published.
        let visible = |w: &LakeWriter| {
            list_files(&w.layout().table_dir(Table::Logs))
                .unwrap()
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .count()
        };
        assert_eq!(visible(&w), 0);
        w.publish(&staged).unwrap();
        assert_eq!(visible(&w), 2);
        let first = dir
            .path()
            .join("logs/date=2026-11-26/hour=08")
            .join(seg(0, 3).file_name());
        assert_eq!(read_rows(&first), 3);

        // An Arrow reader follows the file's hint: the table's schema (map
        // field names included) with the maps' strings as views.
        let f = File::open(&first).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        assert_eq!(
            reader.schema().fields(),
            Table::Logs.file_read_schema().fields()
        );
        assert_ne!(
            Table::Logs.file_read_schema().fields(),
            Table::Logs.schema().fields()
        );
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let attrs = batches[0].column_by_name("attributes").unwrap().as_map();
        assert_eq!(attrs.keys().as_string_view().value(0), "k");
        // Asked for the table's own types, it gets them.
        let f = File::open(&first).unwrap();
        let options = ArrowReaderOptions::new().with_schema(Table::Logs.schema());
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(f, options).unwrap();
        assert_eq!(reader.schema().fields(), Table::Logs.schema().fields());
    }

    #[test]
    fn files_are_sorted_by_service_then_time_with_bloom_filters_on_ids() {
        let dir = tempfile::tempdir().unwrap();
        let w = LakeWriter::new(LakeLayout::new(dir.path())).unwrap();
        let mut b = LogsBuilder::new();
        let rows = [
            ("web", 3, "t3"),
            ("api", 2, "t2"),
            ("web", 1, "t1"),
            ("api", 4, "t4"),
        ];
        for (i, (service, t, trace)) in rows.into_iter().enumerate() {
            let row = LogRow {
                ts: T0 + t,
                service: Some(service),
                host: None,
                env: None,
                version: None,
                level: "info",
                message: "m",
                trace_id: Some(trace),
            };
            b.push(
                &row,
                &Lineage {
                    topic: "tocsin.logs",
                    partition: 0,
                    offset: i as i64,
                    received_ns: 0,
                },
            );
        }
        let batch = TableBuilder::Logs(b).finish().unwrap();
        let staged = w.stage(Table::Logs, &seg(0, 3), &[batch]).unwrap();
        w.publish(&staged).unwrap();
        let f = File::open(&staged[0].dest).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let rg = builder.metadata().row_group(0);
        let trace_idx = Table::Logs.schema().index_of("trace_id").unwrap();
        assert!(rg.column(trace_idx).bloom_filter_offset().is_some());
        let msg_idx = Table::Logs.schema().index_of("message").unwrap();
        assert!(rg.column(msg_idx).bloom_filter_offset().is_none());
        assert_eq!(rg.sorting_columns().map(|s| s.len()), Some(2));
        // Timestamps delta-encoded and not compressed again; text zstd.
        let ts = rg.column(Table::Logs.schema().index_of("ts").unwrap());
        assert!(
            ts.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED),
            "{ts:?}"
        );
        assert!(
            !ts.encodings().any(|e| e == Encoding::RLE_DICTIONARY),
            "{ts:?}"
        );
        assert_eq!(ts.compression(), Compression::UNCOMPRESSED);
        assert!(matches!(
            rg.column(msg_idx).compression(),
            Compression::ZSTD(_)
        ));
        let out = builder.build().unwrap().next().unwrap().unwrap();
        let times: Vec<i64> = out
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        assert_eq!(times, [T0 + 2, T0 + 4, T0 + 1, T0 + 3]);
        let traces: Vec<_> = out
            .column_by_name("trace_id")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(traces, ["t2", "t4", "t1", "t3"]);
    }

    #[test]
    fn rewriting_a_segment_replaces_it_and_uncommitted_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let w = LakeWriter::new(LakeLayout::new(dir.path())).unwrap();
        let b = logs(&[T0, T0 + 1]);
        for _ in 0..2 {
            let s = w
                .stage(Table::Logs, &seg(0, 1), std::slice::from_ref(&b))
                .unwrap();
            w.publish(&s).unwrap();
        }
        let s = w
            .stage(Table::Logs, &seg(2, 3), std::slice::from_ref(&b))
            .unwrap();
        w.publish(&s).unwrap();
        // A crash between stage and publish leaves a temp file.
        let leftover = w.stage(Table::Logs, &seg(4, 5), &[b]).unwrap();
        assert_eq!(leftover.len(), 1);
        let files = list_files(&w.layout().table_dir(Table::Logs)).unwrap();
        assert_eq!(files.len(), 3);

        // The checkpoint covers offsets below 2.
        assert_eq!(w.remove_uncommitted("tocsin.logs", 0, 2).unwrap(), 2);
        assert_eq!(w.remove_uncommitted("other", 0, 0).unwrap(), 0);
        let files = list_files(&w.layout().table_dir(Table::Logs)).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].ends_with(seg(0, 1).file_name()));
    }

    #[test]
    fn a_source_cleanup_leaves_other_sources_temp_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let w = LakeWriter::new(LakeLayout::new(dir.path())).unwrap();
        let b = logs(&[T0]);
        let other = SegmentId {
            partition: 1,
            ..seg(0, 0)
        };
        // Another writer of the lake is between staging and publishing.
        w.stage(Table::Logs, &other, std::slice::from_ref(&b))
            .unwrap();
        w.stage(Table::Logs, &seg(0, 0), &[b]).unwrap();
        assert_eq!(w.remove_uncommitted("tocsin.logs", 0, 0).unwrap(), 1);
        let files = list_files(&w.layout().table_dir(Table::Logs)).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].to_string_lossy().contains(&other.file_name()));
        assert_eq!(w.remove_temp_files().unwrap(), 1);
    }
}
