//! A table of the catalog as DataFusion sees it: the lake's Parquet files
//! united with the hot batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use tocsin_ingest::{LakeLayout, Table};

use crate::hot::HotStore;
use crate::partitions::{TsBounds, partition_dirs};

/// The lake files and hot batches of one table.
#[derive(Debug)]
pub struct TelemetryTable {
    table: Table,
    /// What queries see: [`query_schema`] of the table's schema.
    schema: SchemaRef,
    /// The table's directory in the lake.
    dir: PathBuf,
    /// Filters prune files, row groups and pages.
    lake: ListingOptions,
    /// Filters are also evaluated while decoding (Parquet row filters), for
    /// needle lookups: see [`is_needle_lookup`].
    lake_row_filtered: ListingOptions,
    hot: Arc<HotStore>,
}

impl TelemetryTable {
    /// The table `table` of the lake at `layout`, plus `hot`.
    pub fn try_new(table: Table, layout: &LakeLayout, hot: Arc<HotStore>) -> Result<Self> {
        let options = |format: ParquetFormat| {
            ListingOptions::new(Arc::new(format)).with_file_extension(".parquet")
        };
        let mut row_filtered = TableParquetOptions::default();
        row_filtered.global.pushdown_filters = true;
        row_filtered.global.reorder_filters = true;
        Ok(TelemetryTable {
            table,
            schema: query_schema(table),
            dir: layout.table_dir(table),
            lake: options(ParquetFormat::default()),
            lake_row_filtered: options(ParquetFormat::default().with_options(row_filtered)),
            hot,
        })
    }

    /// The lake's part of a scan: the hour partitions `filters` may match
    /// (see [`partitions`](crate::partitions)), or the whole table.
    async fn scan_lake(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let url = |dir: &Path| ListingTableUrl::parse(format!("{}/", dir.display()));
        let bounds = TsBounds::from_filters(filters);
        let paths = match bounds.is_bounded() {
            true => partition_dirs(&self.dir, bounds)?,
            false => None,
        };
        let urls = match paths {
            None => vec![url(&self.dir)?],
            Some(dirs) if dirs.is_empty() => {
                let schema = match projection {
                    Some(p) => Arc::new(self.schema.project(p)?),
                    None => self.schema.clone(),
                };
                return Ok(Arc::new(EmptyExec::new(schema)));
            }
            Some(dirs) => dirs.iter().map(|d| url(d)).collect::<Result<_>>()?,
        };
        let options = if is_needle_lookup(self.table, filters) {
            &self.lake_row_filtered
        } else {
            &self.lake
        };
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options.clone())
            .with_schema(self.schema.clone());
        // The session's statistics cache: without it every scan reads every
        // file's statistics again.
        let cache = state.runtime_env().cache_manager.get_file_statistic_cache();
        ListingTable::try_new(config)?
            .with_cache(cache)
            .scan(state, projection, filters, limit)
            .await
    }
}

/// The schema queries see: `table`'s schema with its `Utf8` columns,
/// top-level and map keys and values, as `Utf8View`.
///
/// The Parquet reader then hands out views into its pages instead of
/// copying every string into a new buffer, and comparisons and grouping on
/// short strings (level, service, host) work on the inlined prefix. On
/// the SQL benchmark's 50 M rows, read through DataFusion alone: the error
/// rate per service 0.558 → 0.367 s, the hosts with most warnings 0.399 →
/// 0.206 s, distinct traces per service 1.336 → 1.111 s. DataFusion turns
/// top-level strings into views by itself; maps are read as views because
/// the lake files say so in their read hint ([`Table::file_read_schema`]);
/// a file written before that hint existed has its maps cast.
pub fn query_schema(table: Table) -> SchemaRef {
    let schema = table.file_read_schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` cast column by column to `schema`, which has the same columns:
/// from a table's schema to its [`query_schema`] (`Utf8` as views over the
/// same buffers) or back (a query result read as the table's rows).
pub fn cast_to_schema(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Whether `filters` look up a few rows by a bloom-filtered id column
/// (`trace_id = '…'`, `fingerprint IN (…)`).
///
/// Such a scan is best served with Parquet row filters: the id column is
/// decoded first and the other columns only for the rows that match. For
/// every other query row filters cost more than they save (measured on the
/// SQL benchmark: the needle 0.129 s → 0.094 s, the geometric mean 1.61× →
/// 1.87× DuckDB's when they were on for all), so they are chosen per scan.
pub fn is_needle_lookup(table: Table, filters: &[Expr]) -> bool {
    let ids = table.bloom_filter_columns();
    let is_id = |e: &Expr| matches!(e, Expr::Column(c) if ids.contains(&c.name.as_str()));
    let is_literal = |e: &Expr| matches!(e, Expr::Literal(..));
    filters.iter().any(|f| match f {
        Expr::BinaryExpr(b) if b.op == Operator::Eq => {
            (is_id(&b.left) && is_literal(&b.right)) || (is_literal(&b.left) && is_id(&b.right))
        }
        Expr::InList(l) => !l.negated && is_id(&l.expr) && l.list.iter().all(is_literal),
        _ => false,
    })
}

#[async_trait]
impl TableProvider for TelemetryTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters prune Parquet row groups, but hot batches are not filtered
        // at the scan, so DataFusion must still apply them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Under the read lock: a flush publishes its files and drops the hot
        // batches they hold under the write lock (see `HotStore`).
        let hot = self.hot.read().await;
        let lake = self.scan_lake(state, projection, filters, limit).await?;
        let batches = hot.batches(self.table);
        drop(hot);
        let batches = batches
            .iter()
            .map(|b| cast_to_schema(b, &self.schema))
            .collect::<Result<Vec<_>>>()?;
        let memory =
            MemorySourceConfig::try_new_exec(&[batches], self.schema.clone(), projection.cloned())?;
        let union = UnionExec::try_new(vec![lake, memory])?;
        Ok(union)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QueryConfig, QueryEngine};
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    use datafusion::prelude::{col, lit};
    use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder};
    use tocsin_ingest::{HourPartition, SegmentId};

    const HOUR: i64 = 3_600_000_000_000;
    /// 2026-11-25T00:00:00Z.
    const DAY: i64 = 1_795_564_800_000_000_000;

    /// Ten log rows a minute apart from `start`.
    fn ten_rows(start: i64, first_offset: i64) -> RecordBatch {
        let mut b = LogsBuilder::new();
        for i in 0..10 {
            let row = LogRow {
                ts: start + i * 60_000_000_000,
                service: Some("a"),
                host: None,
                env: None,
                version: None,
                level: "info",
                message: "m",
                trace_id: None,
            };
            let lineage = Lineage {
                topic: "tocsin.logs",
                partition: 0,
                offset: first_offset + i,
                received_ns: 0,
            };
            b.push(&row, &lineage);
        }
        b.finish().unwrap()
    }

    /// `2026-11-25T<h>:<m>:00Z`, a time of the generated day.
    fn at(h: i64, m: i64) -> String {
        format!("2026-11-25T{h:02}:{m:02}:00Z")
    }

    #[tokio::test]
    async fn time_bounded_scans_read_only_the_hours_they_need_and_lose_no_row() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        // Lake: ten rows in each of hours 0, 1 and 2; hot: ten rows in hour 3.
        for h in 0..3 {
            let partition = layout.partition_dir(Table::Logs, HourPartition::of(DAY + h * HOUR));
            std::fs::create_dir_all(&partition).unwrap();
            let id = SegmentId {
                topic: "tocsin.logs".into(),
                partition: 0,
                first_offset: h * 10,
                last_offset: h * 10 + 9,
            };
            let f = std::fs::File::create(partition.join(id.file_name())).unwrap();
            let batch = ten_rows(DAY + h * HOUR, h * 10);
            let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        }
        let hot = Arc::new(HotStore::new());
        hot.write()
            .await
            .push(Table::Logs, 0, 1, ten_rows(DAY + 3 * HOUR, 30));
        let e = QueryEngine::try_new(&layout, hot, &QueryConfig::default()).unwrap();
        let count = async |filter: &str| {
            let out = e
                .query(&format!("SELECT count(*) FROM logs WHERE {filter}"))
                .await
                .unwrap();
            out.batches[0]
                .column(0)
                .as_primitive::<Int64Type>()
                .value(0)
        };
        let (h0, h1, h2, h3, h1_05) = (at(0, 0), at(1, 0), at(2, 0), at(3, 0), at(1, 5));
        for (filter, want) in [
            (format!("ts >= '{h1}' AND ts < '{h2}'"), 10),
            (format!("ts >= '{h1}'"), 30),
            (format!("ts > '{h1}'"), 29),
            (format!("ts <= '{h1}'"), 11),
            (format!("ts BETWEEN '{h0}' AND '{h1_05}'"), 16),
            (format!("ts = '{h1_05}'"), 1),
            (format!("'{h2}' <= ts AND ts < '{h3}'"), 10),
            (format!("ts >= '{h3}'"), 10),
            ("ts >= '2030-01-01T00:00:00Z'".to_string(), 0),
            ("ts < '2020-01-01T00:00:00Z'".to_string(), 0),
            (format!("ts >= '{h1}' OR ts < '{h1}'"), 40),
        ] {
            assert_eq!(count(&filter).await, want, "{filter}");
        }
        // The plan of a one-hour scan names that hour's file and no other.
        let plan = e
            .query(&format!(
                "EXPLAIN SELECT count(*) FROM logs WHERE ts >= '{h1}' AND ts < '{h2}'"
            ))
            .await
            .unwrap();
        let plan = crate::output::to_pretty(&plan).unwrap();
        assert!(plan.contains("hour=01"), "{plan}");
        assert!(
            !plan.contains("hour=00") && !plan.contains("hour=02"),
            "{plan}"
        );
    }

    #[test]
    fn needle_lookups_are_equality_or_in_on_a_bloom_filtered_column() {
        let needle = |e: Expr| is_needle_lookup(Table::Logs, &[e]);
        assert!(needle(col("trace_id").eq(lit("abc"))));
        assert!(needle(lit("abc").eq(col("trace_id"))));
        assert!(needle(
            col("pattern_id").in_list(vec![lit("a"), lit("b")], false)
        ));
        assert!(!needle(col("trace_id").in_list(vec![lit("a")], true)));
        assert!(!needle(col("service").eq(lit("checkout"))));
        assert!(!needle(col("trace_id").not_eq(lit("abc"))));
        assert!(!needle(col("trace_id").like(lit("%abc%"))));
        assert!(!needle(col("trace_id").eq(col("message"))));
        assert!(!is_needle_lookup(
            Table::Metrics,
            &[col("trace_id").eq(lit("abc"))]
        ));
        // One needle among other filters is enough.
        assert!(is_needle_lookup(
            Table::Logs,
            &[
                col("level").eq(lit("error")),
                col("trace_id").eq(lit("abc"))
            ]
        ));
    }
}
