//! The read-only SQL engine: a DataFusion session over every catalog table,
//! with a memory limit and a timeout per query.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde::Deserialize;
use tocsin_ingest::{LakeLayout, Table};

use crate::hot::HotStore;
use crate::table::TelemetryTable;
use crate::udf::MapAccessPlanner;

/// Configuration of the query layer (`[query]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Memory one query may use before it fails, in bytes.
    pub memory_limit_bytes: usize,
    /// Longest a query may run.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            memory_limit_bytes: 512 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a query did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change something; the SQL surface is read-only.
    #[error(
        "refused: {0} statements are not allowed; tocsin's SQL is read-only (SELECT, WITH, EXPLAIN, SHOW)"
    )]
    ReadOnly(&'static str),
    /// The SQL is invalid or refers to unknown tables or columns.
    #[error("{0}")]
    Plan(DataFusionError),
    /// The query failed while running (including the memory limit).
    #[error("{0}")]
    Execution(DataFusionError),
    /// The query ran past the timeout.
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
}

/// The result of a query.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Result schema (also for empty results).
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    /// Rows in the result.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Runs read-only SQL over the lake and the hot batches.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    tables: Vec<(Table, Arc<dyn TableProvider>)>,
    timeout: Duration,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl QueryEngine {
    /// An engine over the lake at `layout` and `hot`.
    pub fn try_new(
        layout: &LakeLayout,
        hot: Arc<HotStore>,
        cfg: &QueryConfig,
    ) -> Result<Self, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(cfg.memory_limit_bytes, 1.0)
            // No spilling: the memory limit is a limit, and a query past it
            // fails instead of filling the disk.
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            // New lake files must be visible to the next query: DataFusion
            // otherwise caches directory listings indefinitely.
            .with_object_list_cache_limit(0)
            .build_arc()
            .map_err(QueryError::Plan)?;
        let mut tables: Vec<(Table, Arc<dyn TableProvider>)> = Vec::new();
        for table in Table::ALL {
            let provider =
                TelemetryTable::try_new(table, layout, hot.clone()).map_err(QueryError::Plan)?;
            tables.push((table, Arc::new(provider)));
        }
        let ctx = session(runtime, &tables)?;
        Ok(QueryEngine {
            ctx,
            tables,
            timeout: cfg.timeout,
        })
    }

    /// A new session over the same tables and the same memory pool, for a
    /// front end that adds its own catalog objects (the PostgreSQL front
    /// end adds `pg_catalog`) without changing what other front ends see.
    pub fn new_session(&self) -> Result<SessionContext, QueryError> {
        session(self.ctx.runtime_env(), &self.tables)
    }

    /// The per-query timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Plans and runs `sql`, refusing anything that is not a query.
    pub async fn query(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        let run = async {
            let plan = self
                .ctx
                .state()
                .create_logical_plan(sql)
                .await
                .map_err(QueryError::Plan)?;
            refuse_writes(&plan)?;
            let df = self
                .ctx
                .execute_logical_plan(plan)
                .await
                .map_err(QueryError::Plan)?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(QueryError::Execution)?;
            Ok(QueryOutput { schema, batches })
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| QueryError::Timeout(self.timeout))?
    }
}

fn session(
    runtime: Arc<RuntimeEnv>,
    tables: &[(Table, Arc<dyn TableProvider>)],
) -> Result<SessionContext, QueryError> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("tocsin", "public");
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    // tocsin's field-access planner goes before DataFusion's, which would
    // otherwise plan every `map['key']` itself.
    let planners: Vec<Arc<dyn ExprPlanner>> =
        std::iter::once(Arc::new(MapAccessPlanner) as Arc<dyn ExprPlanner>)
            .chain(state.expr_planners().iter().cloned())
            .collect();
    let state = SessionStateBuilder::new_from_existing(state)
        .with_expr_planners(planners)
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::udf::register(&ctx);
    for (table, provider) in tables {
        ctx.register_table(table.name(), provider.clone())
            .map_err(QueryError::Plan)?;
    }
    Ok(ctx)
}

/// Rejects every plan that is not a pure read.
fn refuse_writes(plan: &LogicalPlan) -> Result<(), QueryError> {
    match plan {
        LogicalPlan::Ddl(_) => Err(QueryError::ReadOnly("DDL (CREATE, DROP, ...)")),
        LogicalPlan::Dml(_) => Err(QueryError::ReadOnly("DML (INSERT, UPDATE, DELETE, COPY)")),
        LogicalPlan::Copy(_) => Err(QueryError::ReadOnly("COPY")),
        LogicalPlan::Statement(_) => Err(QueryError::ReadOnly("SET, PREPARE and transaction")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Int64Type};
    use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder};
    use tocsin_ingest::{HourPartition, SegmentId, TableBuilder};

    const T0: i64 = 1_795_681_800_000_000_000;

    fn logs(first_offset: i64, n: usize, service: &str) -> RecordBatch {
        log_rows(first_offset, n, service, |_| ("error", None))
    }

    /// `n` rows of `service` from `first_offset`; `row(offset)` gives each
    /// row's level and trace id.
    fn log_rows(
        first_offset: i64,
        n: usize,
        service: &str,
        row: impl Fn(i64) -> (&'static str, Option<String>),
    ) -> RecordBatch {
        let mut b = LogsBuilder::new();
        for i in 0..n {
            let offset = first_offset + i as i64;
            let (level, trace_id) = row(offset);
            b.push(
                &LogRow {
                    ts: T0 + i as i64,
                    service: Some(service),
                    host: None,
                    env: None,
                    version: None,
                    level,
                    message: "boom",
                    trace_id: trace_id.as_deref(),
                },
                &Lineage {
                    topic: "tocsin.logs",
                    partition: 0,
                    offset,
                    received_ns: 0,
                },
            );
        }
        TableBuilder::Logs(b).finish().unwrap()
    }

    /// Writes `batch` as a lake file at offsets `first..=last`, as files
    /// were written before the read hint existed.
    fn write_lake_file(layout: &LakeLayout, batch: &RecordBatch, first: i64, last: i64) {
        write_lake_file_with(layout, batch, first, last, Default::default());
    }

    fn write_lake_file_with(
        layout: &LakeLayout,
        batch: &RecordBatch,
        first: i64,
        last: i64,
        options: parquet::arrow::arrow_writer::ArrowWriterOptions,
    ) {
        let dir = layout.partition_dir(Table::Logs, HourPartition::of(T0));
        std::fs::create_dir_all(&dir).unwrap();
        let id = SegmentId {
            topic: "tocsin.logs".into(),
            partition: 0,
            first_offset: first,
            last_offset: last,
        };
        let f = std::fs::File::create(dir.join(id.file_name())).unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new_with_options(f, batch.schema(), options).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    async fn count(engine: &QueryEngine, sql: &str) -> i64 {
        let out = engine.query(sql).await.unwrap();
        out.batches[0]
            .column(0)
            .as_primitive::<Int64Type>()
            .value(0)
    }

    fn engine(dir: &std::path::Path, hot: Arc<HotStore>) -> QueryEngine {
        let layout = LakeLayout::new(dir);
        QueryEngine::try_new(&layout, hot, &QueryConfig::default()).unwrap()
    }

    #[tokio::test]
    async fn lake_and_hot_rows_are_both_visible_and_new_files_appear() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let hot = Arc::new(HotStore::new());
        let e = engine(dir.path(), hot.clone());
        assert_eq!(count(&e, "SELECT count(*) FROM logs").await, 0);

        write_lake_file(&layout, &logs(0, 10, "a"), 0, 9);
        hot.write().await.push(Table::Logs, 0, 1, logs(10, 5, "b"));
        assert_eq!(count(&e, "SELECT count(*) FROM logs").await, 15);
        assert_eq!(
            count(&e, "SELECT count(*) FROM logs WHERE service = 'b'").await,
            5
        );

        // The flush of epoch 1 publishes the hot rows as a file.
        {
            let mut g = hot.write().await;
            write_lake_file(&layout, &logs(10, 5, "b"), 10, 14);
            g.remove_through(0, 1);
        }
        assert_eq!(count(&e, "SELECT count(*) FROM logs").await, 15);
        assert_eq!(
            count(&e, "SELECT count(DISTINCT _offset) FROM logs").await,
            15
        );
    }

    #[tokio::test]
    async fn needle_lookup_by_trace_id_finds_lake_and_hot_rows() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let hot = Arc::new(HotStore::new());
        // Offsets double as trace ids; even offsets are errors.
        let traced = |first: i64, n: usize| {
            log_rows(first, n, "a", |o| {
                let level = if o % 2 == 0 { "error" } else { "info" };
                (level, Some(format!("{o:032x}")))
            })
        };
        write_lake_file(&layout, &traced(0, 1000), 0, 999);
        hot.write().await.push(Table::Logs, 0, 1, traced(1000, 10));
        let e = engine(dir.path(), hot);
        for (sql, want) in [
            (
                format!("SELECT count(*) FROM logs WHERE trace_id = '{:032x}'", 500),
                1,
            ),
            (
                format!("SELECT count(*) FROM logs WHERE trace_id = '{:032x}'", 1005),
                1,
            ),
            (
                format!("SELECT count(*) FROM logs WHERE trace_id = '{:032x}'", 5000),
                0,
            ),
            (
                format!(
                    "SELECT count(*) FROM logs WHERE trace_id IN ('{:032x}', '{:032x}', '{:032x}')",
                    2, 3, 1001
                ),
                3,
            ),
            (
                format!(
                    "SELECT count(*) FROM logs WHERE trace_id = '{:032x}' AND level = 'error'",
                    3
                ),
                0,
            ),
        ] {
            assert_eq!(count(&e, &sql).await, want, "{sql}");
        }
    }

    /// Writes `batch` as the lake writer does, with the table's read hint
    /// (maps of views), at offsets `first..=last`.
    fn write_hinted_lake_file(layout: &LakeLayout, batch: &RecordBatch, first: i64, last: i64) {
        use parquet::arrow::arrow_writer::ArrowWriterOptions;
        use parquet::file::metadata::KeyValue;
        use parquet::file::properties::WriterProperties;
        let hint = parquet::arrow::encode_arrow_schema(&Table::Logs.file_read_schema());
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![KeyValue::new(
                parquet::arrow::ARROW_SCHEMA_META_KEY.to_owned(),
                hint,
            )]))
            .build();
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_skip_arrow_metadata(true);
        write_lake_file_with(layout, batch, first, last, options);
    }

    fn attributed_logs(offset: i64, region: &str) -> RecordBatch {
        let mut b = LogsBuilder::new();
        b.attributes.push_entry("region", region);
        b.attributes.push_entry("zone", "z1");
        b.push(
            &LogRow {
                ts: T0,
                service: Some("a"),
                host: None,
                env: None,
                version: None,
                level: "info",
                message: "m",
                trace_id: None,
            },
            &Lineage {
                topic: "t",
                partition: 0,
                offset,
                received_ns: 0,
            },
        );
        TableBuilder::Logs(b).finish().unwrap()
    }

    /// Maps are read as maps of views whether a file carries the read hint
    /// (lake files since 2026-11-27), does not (older files: cast), or the
    /// rows are hot; lookups by a literal, by an expression and through
    /// `map_extract` find the same values in all three.
    #[tokio::test]
    async fn map_columns_are_queryable_from_hinted_and_older_files_and_hot_rows() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let hot = Arc::new(HotStore::new());
        write_lake_file(&layout, &attributed_logs(0, "eu"), 0, 0);
        write_hinted_lake_file(&layout, &attributed_logs(1, "us"), 1, 1);
        hot.write()
            .await
            .push(Table::Logs, 0, 1, attributed_logs(2, "ap"));
        let e = engine(dir.path(), hot);
        let regions = |sql: &'static str| {
            let e = &e;
            async move {
                let out = e.query(sql).await.unwrap();
                let mut v: Vec<String> = out
                    .batches
                    .iter()
                    .flat_map(|b| {
                        let c = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
                        (0..c.len())
                            .map(|i| c.as_string::<i32>().value(i).to_owned())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                v.sort();
                v
            }
        };
        let all = ["ap", "eu", "us"];
        assert_eq!(regions("SELECT attributes['region'] FROM logs").await, all);
        assert_eq!(
            regions("SELECT attributes[lower('REGION')] FROM logs").await,
            all
        );
        assert_eq!(
            regions("SELECT map_extract(attributes, 'region')[1] FROM logs").await,
            all
        );
        assert_eq!(
            regions("SELECT attributes['region'] FROM logs WHERE attributes['zone'] = 'z1' AND attributes['region'] <> 'eu'").await,
            ["ap", "us"]
        );
        assert_eq!(
            count(
                &e,
                "SELECT count(*) FROM logs WHERE attributes['nope'] IS NULL"
            )
            .await,
            3
        );
        // A key given as a parameter (prepared statements, as PostgreSQL
        // drivers send them) is cast to the key type too.
        let ctx = e.new_session().unwrap();
        let out = ctx
            .sql("SELECT attributes[$1] AS r FROM logs WHERE attributes[$1] = 'us'")
            .await
            .unwrap()
            .with_param_values(vec![datafusion::common::ScalarValue::from("region")])
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(out.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
        // Whole maps of views render as before.
        let out = e
            .query("SELECT attributes FROM logs WHERE attributes['region'] = 'us'")
            .await
            .unwrap();
        let json = String::from_utf8(crate::output::to_json_rows(&out).unwrap()).unwrap();
        assert_eq!(json, r#"[{"attributes":{"region":"us","zone":"z1"}}]"#);
        assert!(
            crate::output::to_pretty(&out)
                .unwrap()
                .contains("{region: us, zone: z1}")
        );
    }

    /// Rows go to the query schema (maps of views included) and back
    /// unchanged, as `tocsin replay` reads them.
    #[test]
    fn rows_cast_to_the_query_schema_and_back_are_unchanged() {
        use crate::table::{cast_to_schema, query_schema};
        let batch = attributed_logs(0, "eu");
        let viewed = cast_to_schema(&batch, &query_schema(Table::Logs)).unwrap();
        assert_eq!(
            viewed.column_by_name("attributes").unwrap().data_type(),
            &tocsin_ingest::catalog::string_map_view_type()
        );
        let back = cast_to_schema(&viewed, &Table::Logs.schema()).unwrap();
        assert_eq!(back, batch);
    }

    #[tokio::test]
    async fn time_bucket_floors_to_epoch_aligned_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let hot = Arc::new(HotStore::new());
        // T0 = 08:30:00; rows at T0 + 0..10 ns fall in one 5-minute bucket.
        hot.write().await.push(Table::Logs, 0, 1, logs(0, 10, "a"));
        let e = engine(dir.path(), hot);
        assert_eq!(
            count(
                &e,
                "SELECT count(*) FROM logs \
                 WHERE time_bucket(INTERVAL '5 minutes', ts) = TIMESTAMP '2026-11-26T08:30:00Z'"
            )
            .await,
            10
        );
        assert_eq!(
            count(
                &e,
                "SELECT count(DISTINCT time_bucket(INTERVAL '1 minute', ts)) FROM logs"
            )
            .await,
            1
        );
        // 08:31:10 goes to 08:30:00 at 5 minutes and to 08:31:00 at 1 minute.
        assert_eq!(
            count(
                &e,
                "SELECT CAST(time_bucket(INTERVAL '5 minutes', TIMESTAMP '2026-11-26T08:31:10Z') \
                         = TIMESTAMP '2026-11-26T08:30:00Z' AS BIGINT) \
                      + CAST(time_bucket(INTERVAL '1 minute', TIMESTAMP '2026-11-26T08:31:10Z') \
                         = TIMESTAMP '2026-11-26T08:31:00Z' AS BIGINT)"
            )
            .await,
            2
        );
    }

    #[tokio::test]
    async fn writes_and_file_access_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), Arc::new(HotStore::new()));
        for sql in [
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE TABLE t AS SELECT 1",
            "DROP TABLE logs",
            "INSERT INTO logs SELECT * FROM logs",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "SET datafusion.execution.batch_size = 1",
        ] {
            let err = e.query(sql).await.unwrap_err();
            assert!(
                matches!(err, QueryError::ReadOnly(_)) || matches!(err, QueryError::Plan(_)),
                "{sql}: {err}"
            );
            assert!(!std::path::Path::new("/tmp/x.csv").exists());
        }
        let err = e
            .query("CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        // Files are not tables.
        assert!(e.query("SELECT * FROM '/etc/passwd'").await.is_err());
    }

    #[tokio::test]
    async fn timeouts_and_memory_limits_fail_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let hot = Arc::new(HotStore::new());
        let cfg = QueryConfig {
            memory_limit_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(20),
        };
        let e = QueryEngine::try_new(&layout, hot, &cfg).unwrap();
        let err = e
            .query("SELECT a.value, count(*) FROM generate_series(1, 3000000) a GROUP BY a.value ORDER BY 2 DESC")
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::Execution(_)), "{err}");
        // The engine is still usable.
        assert_eq!(e.query("SELECT 1").await.unwrap().num_rows(), 1);

        let cfg = QueryConfig {
            memory_limit_bytes: 512 * 1024 * 1024,
            timeout: Duration::from_millis(50),
        };
        let e = QueryEngine::try_new(&layout, Arc::new(HotStore::new()), &cfg).unwrap();
        let err = e
            .query("SELECT count(*) FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b")
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::Timeout(_)), "{err}");
    }
}
