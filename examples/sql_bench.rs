//! The SQL benchmark: a generated lake of telemetry, a fixed set of
//! operator queries timed through tocsin's query engine (DataFusion, with
//! the lake's sort order, statistics and bloom filters) and, in the same
//! run, through DuckDB reading the same Parquet files.
//!
//! ```sh
//! cargo run --release --example sql_bench -- gen --out /tmp/lake --log-rows 50000000
//! cargo run --release --example sql_bench -- run --lake /tmp/lake --python .venv/bin/python
//! ```
//!
//! `gen` writes one day of logs (24 hour partitions, one file each, as
//! compaction leaves them) and metrics through the lake writer. `run`
//! times every query (median of three after a warm-up run) and prints a
//! table with the geometric mean; `scripts/duckdb_bench.py` runs the DuckDB
//! side with the same number of threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch};
use clap::{Parser, Subcommand};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tocsin_ingest::columns::{PrimitiveColumn, StringMapColumn, Utf8Column};
use tocsin_ingest::{LakeLayout, SegmentId, Table};
use tocsin_queries::{HotStore, QueryConfig, QueryEngine};
use tocsin_sinks::lake::LakeWriter;

/// 2026-11-25T00:00:00Z: the generated day.
const DAY_START_NS: i64 = 1_795_564_800_000_000_000;
const HOUR_NS: i64 = 3_600_000_000_000;
const SERVICES: usize = 50;
/// The service whose error rate jumps in the 20th hour (an incident).
const INCIDENT_SERVICE: usize = 7;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes the lake.
    Gen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 50_000_000)]
        log_rows: usize,
        #[arg(long, default_value_t = 10_000_000)]
        metric_rows: usize,
    },
    /// Times the queries with DataFusion and DuckDB.
    Run {
        #[arg(long)]
        lake: PathBuf,
        /// A Python with `duckdb` installed; without it only DataFusion runs.
        #[arg(long)]
        python: Option<PathBuf>,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Runs only the queries whose name contains this text.
        #[arg(long)]
        only: Option<String>,
        /// Prints DataFusion's `EXPLAIN ANALYZE` of each query after timing it.
        #[arg(long)]
        analyze: bool,
    },
}

const TEMPLATES: [&str; 8] = [
    "GET /api/{r}/{id} 200 in {ms}ms",
    "POST /api/{r} 201 in {ms}ms",
    "cache miss for {r}:{id}",
    "upstream {r} timeout after {ms}ms",
    "retrying {r} request {id} (attempt 2)",
    "user {id} signed in",
    "payment {id} declined: insufficient funds",
    "connection to db-{id} reset by peer",
];
const RESOURCES: [&str; 6] = ["cart", "orders", "users", "payments", "search", "inventory"];

struct Columns {
    utf8: BTreeMap<&'static str, Utf8Column>,
    ts: PrimitiveColumn<i64>,
    value: PrimitiveColumn<f64>,
    map: StringMapColumn,
    partition: PrimitiveColumn<i32>,
    offset: PrimitiveColumn<i64>,
}

impl Columns {
    fn new(names: &[&'static str]) -> Self {
        Columns {
            utf8: names.iter().map(|n| (*n, Utf8Column::new())).collect(),
            ts: PrimitiveColumn::new(),
            value: PrimitiveColumn::new(),
            map: StringMapColumn::new(),
            partition: PrimitiveColumn::new(),
            offset: PrimitiveColumn::new(),
        }
    }

    fn push(&mut self, name: &str, v: Option<&str>) {
        if let Some(c) = self.utf8.get_mut(name) {
            c.push_opt(v);
        }
    }

    /// The batch in `table`'s schema (columns matched by name).
    fn finish(mut self, table: Table) -> anyhow::Result<RecordBatch> {
        let schema = table.schema();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for f in schema.fields() {
            let col = match f.name().as_str() {
                "ts" => self.ts.finish_timestamp(),
                "value" => self.value.finish_f64(),
                "attributes" | "labels" => self.map.finish(),
                "_partition" => self.partition.finish_i32(),
                "_offset" => self.offset.finish_i64(),
                name => self
                    .utf8
                    .get_mut(name)
                    .with_context(|| format!("no column {name}"))?
                    .finish_utf8(),
            };
            cols.push(col);
        }
        Ok(RecordBatch::try_new(schema, cols)?)
    }
}

fn fill(template: &str, r: &str, id: u32, ms: u32) -> String {
    template
        .replace("{r}", r)
        .replace("{id}", &id.to_string())
        .replace("{ms}", &ms.to_string())
}

fn gen_logs(
    rng: &mut SmallRng,
    hour: i64,
    rows: usize,
    first_offset: i64,
) -> anyhow::Result<RecordBatch> {
    let mut c = Columns::new(&[
        "service",
        "host",
        "env",
        "version",
        "level",
        "message",
        "trace_id",
        "pattern_id",
        "_topic",
    ]);
    let step = HOUR_NS / rows as i64;
    for i in 0..rows {
        let svc = rng.random_range(0..SERVICES);
        let canary = rng.random_bool(0.1);
        let err_p = if svc == INCIDENT_SERVICE && hour == 20 {
            0.3
        } else {
            0.02
        };
        let u: f64 = rng.random();
        let level = if u < err_p {
            "error"
        } else if u < err_p + 0.08 {
            "warn"
        } else {
            "info"
        };
        let t = rng.random_range(0..TEMPLATES.len());
        let r = RESOURCES[rng.random_range(0..RESOURCES.len())];
        let status = if level == "error" { "500" } else { "200" };
        c.ts.push(DAY_START_NS + hour * HOUR_NS + i as i64 * step);
        c.push("service", Some(&format!("svc-{svc:02}")));
        c.push(
            "host",
            Some(&format!("host-{svc:02}-{}", rng.random_range(0..4))),
        );
        c.push("env", Some(if svc % 10 == 0 { "staging" } else { "prod" }));
        c.push(
            "version",
            Some(&format!("1.{}.{}", svc % 5, u8::from(canary))),
        );
        c.push("level", Some(level));
        c.push(
            "message",
            Some(&fill(
                TEMPLATES[t],
                r,
                rng.random_range(0..100_000),
                rng.random_range(1..2000),
            )),
        );
        c.push("trace_id", Some(&format!("{:032x}", rng.random::<u128>())));
        c.push("pattern_id", Some(&format!("p{t:02}")));
        c.push("_topic", Some("bench.logs"));
        c.map.push_entry("http.status", status);
        c.map.push_entry("route", r);
        c.map.end_row();
        c.partition.push(0);
        c.offset.push(first_offset + i as i64);
    }
    c.finish(Table::Logs)
}

fn gen_metrics(
    rng: &mut SmallRng,
    hour: i64,
    rows: usize,
    first_offset: i64,
) -> anyhow::Result<RecordBatch> {
    let mut c = Columns::new(&[
        "name", "kind", "service", "host", "env", "version", "_topic",
    ]);
    let step = HOUR_NS / rows as i64;
    for i in 0..rows {
        let svc = rng.random_range(0..SERVICES);
        let canary = rng.random_bool(0.1);
        let (name, kind, value) = match rng.random_range(0..3) {
            0 => {
                // Latency: log-normal-ish, slower on canaries of service 3.
                let base: f64 = rng.random::<f64>().ln().abs() * 40.0 + 5.0;
                let slow = if canary && svc == 3 { 1.5 } else { 1.0 };
                ("request_latency_ms", "gauge", base * slow)
            }
            1 => (
                "http_requests_total",
                "counter",
                (hour * 1000 + i as i64 / 100) as f64,
            ),
            _ => ("cpu_usage_percent", "gauge", rng.random_range(0.0..100.0)),
        };
        c.ts.push(DAY_START_NS + hour * HOUR_NS + i as i64 * step);
        c.value.push(value);
        c.push("name", Some(name));
        c.push("kind", Some(kind));
        c.push("service", Some(&format!("svc-{svc:02}")));
        c.push(
            "host",
            Some(&format!("host-{svc:02}-{}", rng.random_range(0..4))),
        );
        c.push("env", Some(if svc % 10 == 0 { "staging" } else { "prod" }));
        c.push(
            "version",
            Some(&format!("1.{}.{}", svc % 5, u8::from(canary))),
        );
        c.push("_topic", Some("bench.metrics"));
        c.map
            .push_entry("route", RESOURCES[rng.random_range(0..RESOURCES.len())]);
        c.map.end_row();
        c.partition.push(0);
        c.offset.push(first_offset + i as i64);
    }
    c.finish(Table::Metrics)
}

fn generate(out: &Path, log_rows: usize, metric_rows: usize) -> anyhow::Result<()> {
    let writer = LakeWriter::new(LakeLayout::new(out))?;
    let mut rng = SmallRng::seed_from_u64(42);
    let started = Instant::now();
    for (table, total) in [(Table::Logs, log_rows), (Table::Metrics, metric_rows)] {
        let per_hour = total / 24;
        for hour in 0..24 {
            let first = hour * per_hour as i64;
            let batch = match table {
                Table::Logs => gen_logs(&mut rng, hour, per_hour, first)?,
                _ => gen_metrics(&mut rng, hour, per_hour, first)?,
            };
            let seg = SegmentId {
                topic: format!("bench.{table}"),
                partition: 0,
                first_offset: first,
                last_offset: first + per_hour as i64 - 1,
            };
            let staged = writer.stage(table, &seg, &[batch])?;
            writer.publish(&staged)?;
            eprintln!(
                "{table} hour {hour:02}: {per_hour} rows ({:?})",
                started.elapsed()
            );
        }
    }
    Ok(())
}

/// (name, DataFusion SQL, DuckDB SQL). Times are within the generated day.
fn queries() -> Vec<(&'static str, String, String)> {
    let hour = |h: i64| {
        chrono::DateTime::from_timestamp_nanos(DAY_START_NS + h * HOUR_NS)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let (h23, h24) = (hour(23), hour(24));
    let (h20, h21) = (hour(20), hour(21));
    let needle = "NEEDLE";
    let same = |s: String| (s.clone(), s);
    let q: Vec<(&str, (String, String))> = vec![
        ("errors per service per minute, last hour", (
            format!("SELECT service, time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS errors FROM logs WHERE level = 'error' AND ts >= '{h23}' AND ts < '{h24}' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20"),
            format!("SELECT service, time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS errors FROM logs WHERE level = 'error' AND ts >= TIMESTAMPTZ '{h23}' AND ts < TIMESTAMPTZ '{h24}' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20"),
        )),
        ("error rate per service, whole day", same(
            "SELECT service, avg(CASE WHEN level = 'error' THEN 1.0 ELSE 0.0 END) AS error_rate, count(*) AS n FROM logs GROUP BY service ORDER BY error_rate DESC LIMIT 10".into(),
        )),
        ("top patterns in the last hour", (
            format!("SELECT pattern_id, count(*) AS n FROM logs WHERE ts >= '{h23}' GROUP BY pattern_id ORDER BY n DESC LIMIT 10"),
            format!("SELECT pattern_id, count(*) AS n FROM logs WHERE ts >= TIMESTAMPTZ '{h23}' GROUP BY pattern_id ORDER BY n DESC LIMIT 10"),
        )),
        ("needle: one trace id", same(format!("SELECT ts, service, message FROM logs WHERE trace_id = '{needle}'"))),
        ("full scan: one trace id in a message", same(format!("SELECT count(*) AS n FROM logs WHERE message LIKE '%{needle}%'"))),
        ("p99 latency by version", (
            "SELECT version, approx_percentile_cont(value, 0.99) AS p99, count(*) AS n FROM metrics WHERE name = 'request_latency_ms' GROUP BY version ORDER BY version".into(),
            "SELECT version, approx_quantile(value, 0.99) AS p99, count(*) AS n FROM metrics WHERE name = 'request_latency_ms' GROUP BY version ORDER BY version".into(),
        )),
        ("canary vs baseline errors of one service", same(
            "SELECT version, count(*) FILTER (WHERE level = 'error') AS errors, count(*) AS n FROM logs WHERE service = 'svc-03' GROUP BY version ORDER BY version".into(),
        )),
        ("hosts with most warnings", same(
            "SELECT host, count(*) AS warnings FROM logs WHERE level = 'warn' GROUP BY host ORDER BY warnings DESC LIMIT 20".into(),
        )),
        ("distinct failing traces per service", same(
            "SELECT service, count(DISTINCT trace_id) AS traces FROM logs WHERE level = 'error' GROUP BY service ORDER BY traces DESC LIMIT 10".into(),
        )),
        ("incident window: errors of one service by minute", (
            format!("SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS errors FROM logs WHERE service = 'svc-07' AND level = 'error' AND ts >= '{h20}' AND ts < '{h21}' GROUP BY 1 ORDER BY 1"),
            format!("SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS errors FROM logs WHERE service = 'svc-07' AND level = 'error' AND ts >= TIMESTAMPTZ '{h20}' AND ts < TIMESTAMPTZ '{h21}' GROUP BY 1 ORDER BY 1"),
        )),
        ("incident timeline join: errors vs latency per service-minute", (
            format!("WITH e AS (SELECT service, time_bucket(INTERVAL '1 minute', ts) AS m, count(*) AS errors FROM logs WHERE level = 'error' AND ts >= '{h20}' AND ts < '{h21}' GROUP BY 1, 2), l AS (SELECT service, time_bucket(INTERVAL '1 minute', ts) AS m, avg(value) AS latency FROM metrics WHERE name = 'request_latency_ms' AND ts >= '{h20}' AND ts < '{h21}' GROUP BY 1, 2) SELECT e.service, e.m, e.errors, l.latency FROM e JOIN l ON e.service = l.service AND e.m = l.m ORDER BY e.errors DESC LIMIT 20"),
            format!("WITH e AS (SELECT service, time_bucket(INTERVAL '1 minute', ts) AS m, count(*) AS errors FROM logs WHERE level = 'error' AND ts >= TIMESTAMPTZ '{h20}' AND ts < TIMESTAMPTZ '{h21}' GROUP BY 1, 2), l AS (SELECT service, time_bucket(INTERVAL '1 minute', ts) AS m, avg(value) AS latency FROM metrics WHERE name = 'request_latency_ms' AND ts >= TIMESTAMPTZ '{h20}' AND ts < TIMESTAMPTZ '{h21}' GROUP BY 1, 2) SELECT e.service, e.m, e.errors, l.latency FROM e JOIN l ON e.service = l.service AND e.m = l.m ORDER BY e.errors DESC LIMIT 20"),
        )),
        ("5xx by route from attributes", same(
            "SELECT attributes['route'] AS route, count(*) AS n FROM logs WHERE attributes['http.status'] = '500' GROUP BY 1 ORDER BY n DESC".into(),
        )),
        ("log volume per hour and env", (
            "SELECT env, date_trunc('hour', ts) AS hour, count(*) AS n FROM logs GROUP BY 1, 2 ORDER BY 2, 1".into(),
            "SELECT env, date_trunc('hour', ts) AS hour, count(*) AS n FROM logs GROUP BY 1, 2 ORDER BY 2, 1".into(),
        )),
        ("requests counter max per service", same(
            "SELECT service, max(value) - min(value) AS increase FROM metrics WHERE name = 'http_requests_total' GROUP BY service ORDER BY increase DESC LIMIT 10".into(),
        )),
    ];
    q.into_iter().map(|(n, (a, b))| (n, a, b)).collect()
}

async fn run(
    lake: &Path,
    python: Option<&Path>,
    repeat: usize,
    only: Option<&str>,
    analyze: bool,
) -> anyhow::Result<()> {
    let engine = QueryEngine::try_new(
        &LakeLayout::new(lake),
        Arc::new(HotStore::new()),
        &QueryConfig {
            timeout: Duration::from_secs(600),
            ..QueryConfig::default()
        },
    )?;
    // A real trace id from the lake, so the needle is found.
    let found = engine
        .query("SELECT trace_id FROM logs WHERE service = 'svc-11' AND ts >= '2026-11-25T12:00:00Z' LIMIT 1")
        .await?;
    let needle = tocsin_queries::output::to_json_rows(&found)?;
    let needle: serde_json::Value = serde_json::from_slice(&needle)?;
    let needle = needle[0]["trace_id"]
        .as_str()
        .context("no trace id")?
        .to_owned();
    let qs: Vec<(&str, String, String)> = queries()
        .into_iter()
        .filter(|(n, _, _)| only.is_none_or(|o| n.contains(o)))
        .map(|(n, a, b)| {
            (
                n,
                a.replace("NEEDLE", &needle),
                b.replace("NEEDLE", &needle),
            )
        })
        .collect();
    let mut ours = Vec::new();
    for (name, sql, _) in &qs {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..=repeat {
            let t = Instant::now();
            let out = engine
                .query(sql)
                .await
                .with_context(|| format!("{name}: {sql}"))?;
            times.push(t.elapsed().as_secs_f64());
            rows = out.num_rows();
        }
        times.remove(0);
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        eprintln!("datafusion  {median:>8.3} s  {rows:>4} rows  {name}");
        if analyze {
            let plan = engine.query(&format!("EXPLAIN ANALYZE {sql}")).await?;
            eprintln!("{}", tocsin_queries::output::to_pretty(&plan)?);
        }
        ours.push(median);
    }
    let theirs: Vec<Option<f64>> = match python {
        None => vec![None; qs.len()],
        Some(py) => {
            let spec: Vec<serde_json::Value> = qs
                .iter()
                .map(|(n, _, d)| serde_json::json!({"name": n, "sql": d}))
                .collect();
            let path = std::env::temp_dir().join("tocsin-sql-bench-queries.json");
            std::fs::write(&path, serde_json::to_vec(&spec)?)?;
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/duckdb_bench.py");
            let out = std::process::Command::new(py)
                .arg(script)
                .arg("--lake")
                .arg(lake)
                .arg("--queries")
                .arg(&path)
                .arg("--repeat")
                .arg(repeat.to_string())
                .output()
                .context("running duckdb_bench.py")?;
            anyhow::ensure!(
                out.status.success(),
                "duckdb_bench.py: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let times: Vec<f64> = serde_json::from_slice(&out.stdout)?;
            times.into_iter().map(Some).collect()
        }
    };
    println!("| query | tocsin (DataFusion) s | DuckDB s | ratio |");
    println!("|---|---|---|---|");
    for (i, (name, _, _)) in qs.iter().enumerate() {
        match theirs[i] {
            Some(d) => println!("| {name} | {:.3} | {d:.3} | {:.2} |", ours[i], ours[i] / d),
            None => println!("| {name} | {:.3} | — | — |", ours[i]),
        }
    }
    let geo = |v: &[f64]| (v.iter().map(|x| x.max(1e-4).ln()).sum::<f64>() / v.len() as f64).exp();
    let g_ours = geo(&ours);
    if let Some(d) = theirs.iter().copied().collect::<Option<Vec<f64>>>() {
        let g_theirs = geo(&d);
        println!(
            "| **geometric mean** | **{g_ours:.3}** | **{g_theirs:.3}** | **{:.2}** |",
            g_ours / g_theirs
        );
    } else {
        println!("| **geometric mean** | **{g_ours:.3}** | — | — |");
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    match Args::parse().cmd {
        Cmd::Gen {
            out,
            log_rows,
            metric_rows,
        } => generate(&out, log_rows, metric_rows),
        Cmd::Run {
            lake,
            python,
            repeat,
            only,
            analyze,
        } => run(&lake, python.as_deref(), repeat, only.as_deref(), analyze).await,
    }
}
