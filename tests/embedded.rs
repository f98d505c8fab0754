//! The embedded mode (no Kafka): HTTP ingest answered once durable, SQL over
//! HTTP and the CLI, the read-only guard, metrics, SIGTERM and restart; and
//! the quickstart's promise that the simulator leads to a decision.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Lines in several timestamp spellings and both envelopes, with two bad ones
/// (lines 3 and 7 of the body).
fn ingest_body(now: i64, tag: &str) -> (String, usize, Vec<usize>) {
    let s = now / 1_000_000_000;
    let lines = [
        format!(
            r#"{{"ts": "{}", "service": "embedded-test", "level": "info", "message": "rfc3339 {tag}", "trace_id": "{tag}-1", "attributes": {{"k": "v"}}}}"#,
            rfc3339(now)
        ),
        format!(
            r#"{{"ts": {s}, "service": "embedded-test", "level": "ERROR", "message": "epoch seconds {tag}", "trace_id": "{tag}-2", "extra": 42}}"#
        ),
        r#"{"message": "#.to_owned(),
        format!(
            r#"{{"ts": {}, "service": "embedded-test", "level": "warn", "message": "epoch ms {tag}", "trace_id": "{tag}-3"}}"#,
            now / 1_000_000
        ),
        format!(
            r#"{{"ts": {now}, "service": "embedded-test", "level": "debug", "message": "epoch ns {tag}", "trace_id": "{tag}-4"}}"#
        ),
        format!(
            r#"{{"timestamp": "{}", "message": "vector event {tag}", "host": "vec-1", "source_type": "file", "service": "embedded-test", "trace_id": "{tag}-5"}}"#,
            rfc3339(now)
        ),
        "this is not json".to_owned(),
        format!(
            r#"{{"ts": "{}", "service": "embedded-test", "level": "info", "message": "last {tag}", "trace_id": "{tag}-6"}}"#,
            rfc3339(now)
        ),
    ];
    (lines.join("\n") + "\n", 6, vec![3, 7])
}

fn assert_report(status: u16, report: &Value, accepted: usize, bad_lines: &[usize]) {
    assert_eq!(status, 200, "ingest answered {status}: {report}");
    assert_eq!(report["accepted"], accepted, "{report}");
    assert_eq!(report["rejected"], bad_lines.len(), "{report}");
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {report}"))
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        bad_lines.iter().map(|&l| l as u64).collect::<Vec<_>>(),
        "{report}"
    );
    for e in report["errors"].as_array().unwrap() {
        assert!(!e["error"].as_str().unwrap_or("").is_empty(), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_sql_guard_metrics_sigterm_and_restart() {
    let started = Instant::now();
    let dir = TestDir::new("embedded");
    let mut tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let filter = "WHERE service = 'embedded-test'";

    // Ingest: answered once durable, with per-line errors.
    let (text, good, bad) = ingest_body(now_ns(), "a");
    let (status, report) = tocsin.post("/v1/ingest/logs", &text).await.unwrap();
    assert_report(status, &report, good, &bad);

    // Queryable as soon as the answer came: no waiting.
    assert_eq!(tocsin.counts("logs", filter).await.unwrap(), (6, 6));
    let rows = tocsin
        .sql(&format!("SELECT trace_id, level, message, host, attributes, _topic FROM logs {filter} ORDER BY trace_id"))
        .await
        .unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-1", "a-2", "a-3", "a-4", "a-5", "a-6"], "{rows:#?}");
    assert_eq!(
        rows[1]["level"], "error",
        "levels are normalised: {rows:#?}"
    );
    assert_eq!(rows[4]["host"], "vec-1", "Vector's host field: {rows:#?}");
    assert!(rows.iter().all(|r| r["_topic"] == "http.logs"), "{rows:#?}");
    assert!(
        rows[1]["attributes"].to_string().contains("extra"),
        "unknown fields are kept in attributes: {rows:#?}"
    );
    let dead = tocsin
        .sql("SELECT reason, \"table\", _topic, _offset FROM deadletter ORDER BY _offset")
        .await
        .unwrap();
    assert_eq!(dead.len(), 2, "{dead:#?}");
    assert!(
        dead.iter()
            .all(|d| d["reason"] == "invalid_json" && d["table"] == "logs"),
        "{dead:#?}"
    );

    // Every ingested line has a distinct lineage offset, bad ones included.
    let offsets = tocsin
        .sql_ints("SELECT count(DISTINCT _offset) AS n FROM (SELECT _offset FROM logs UNION ALL SELECT _offset FROM deadletter) t")
        .await
        .unwrap();
    assert_eq!(offsets, vec![8]);

    // A request with only bad lines is a 400, and still durable in deadletter.
    let (status, report) = tocsin.post("/v1/ingest/logs", "nope\n").await.unwrap();
    assert_eq!(status, 400, "{report}");
    assert_eq!(report["rejected"], 1, "{report}");
    let (status, _) = tocsin.post("/v1/ingest/nothing", "{}\n").await.unwrap();
    assert_eq!(status, 404);

    // The SQL body may also be JSON; results may be Arrow IPC.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/sql", tocsin.base))
        .header("content-type", "application/json")
        .body(r#"{"sql": "SELECT count(*) AS n FROM logs"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v, serde_json::json!([{"n": 6}]));
    let (status, ipc) = tocsin
        .sql_raw("SELECT trace_id FROM logs ORDER BY trace_id", true)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)
        .expect("?format=arrow returns an Arrow IPC stream");
    let n: usize = reader.map(|b| b.expect("an IPC batch").num_rows()).sum();
    assert_eq!(n, 6);

    // Read-only: no DDL, DML, COPY or reading files outside the lake.
    for stmt in [
        "CREATE EXTERNAL TABLE stolen STORED AS CSV LOCATION '/etc/passwd'",
        "COPY (SELECT 1 AS x) TO '/tmp/tocsin-e2e-copy.parquet'",
        "DROP TABLE logs",
        "INSERT INTO logs (service) VALUES ('x')",
    ] {
        let (status, body) = tocsin.sql_raw(stmt, false).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{stmt}: HTTP {status}: {body}");
        assert!(body.contains("read-only"), "{stmt}: {body}");
    }
    let (status, body) = tocsin
        .sql_raw("SELECT * FROM '/etc/passwd'", false)
        .await
        .unwrap();
    assert_eq!(
        status,
        400,
        "reading a file outside the lake: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    assert!(!std::path::Path::new("/tmp/tocsin-e2e-copy.parquet").exists());

    // Metrics and health.
    let (status, metrics) = tocsin.get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tocsin_dead_lettered_total")
                && l.contains("http.logs")
                && l.contains("invalid_json")),
        "{metrics}"
    );
    assert_eq!(tocsin.get("/healthz").await.unwrap().0, 200);
    assert_eq!(tocsin.get("/readyz").await.unwrap().0, 200);

    // SIGTERM drains and exits 0; a restart sees the same rows once...
    let status = tocsin.terminate();
    assert!(
        status.success(),
        "tocsin exited with {status} after SIGTERM"
    );
    tocsin.start().await;
    assert_eq!(tocsin.counts("logs", filter).await.unwrap(), (6, 6));
    assert_eq!(tocsin.counts("deadletter", "").await.unwrap(), (3, 3));

    // ...and new lines continue the offsets instead of reusing them.
    let (text, good, bad) = ingest_body(now_ns(), "b");
    let (status, report) = tocsin.post("/v1/ingest/logs", &text).await.unwrap();
    assert_report(status, &report, good, &bad);
    assert_eq!(tocsin.counts("logs", filter).await.unwrap(), (12, 12));
    assert_eq!(tocsin.counts("deadletter", "").await.unwrap(), (5, 5));
    let status = tocsin.terminate();
    assert!(
        status.success(),
        "tocsin exited with {status} after SIGTERM"
    );
    eprintln!("embedded test passed in {:?}", started.elapsed());
}

/// Runs `tocsin sql --config <file> <query>`; stdout, stderr.
fn cli_sql(config: &std::path::Path, query: &str) -> (String, String) {
    let out = tocsin_command()
        .args(["sql", "--config"])
        .arg(config)
        .arg(query)
        .output()
        .expect("running tocsin sql");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "tocsin sql failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The integers in the body rows of a pretty-printed table.
fn table_ints(table: &str) -> Vec<i64> {
    table
        .lines()
        .filter(|l| l.starts_with('|'))
        .flat_map(|l| {
            l.split('|')
                .map(str::trim)
                .filter_map(|c| c.parse().ok())
                .collect::<Vec<i64>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_simulator_leads_to_a_decision() {
    let started = Instant::now();
    let dir = TestDir::new("quickstart");
    let mut tocsin = Tocsin::start_with(
        dir.path(),
        r#"
[pipeline]
allowed_lateness = "1s"

[simulator]
enabled = true
first_incident_after = "5s"
incident_duration = "40s"

[processors.error_rate]
window = "20s"
step = "5s"

[sinks.console]
enabled = true
"#,
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(90);
    let opened = loop {
        tocsin.assert_running();
        match tocsin
            .sql("SELECT * FROM decisions WHERE action = 'open'")
            .await
        {
            Ok(rows) if !rows.is_empty() => break rows,
            Ok(_) => {}
            Err(e) => eprintln!("query failed: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "no incident decision with action open in the decisions table within 90 s; log {}",
            tocsin.log().display()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let d = &opened[0];
    eprintln!("decision after {:?}: {d}", started.elapsed());
    assert_eq!(d["kind"], "incident", "{d}");
    assert!(
        d["dedup_key"].as_str().is_some_and(|k| !k.is_empty()),
        "{d}"
    );
    assert!(
        d["evidence_sql"]
            .as_str()
            .is_some_and(|s| s.contains("FROM logs")),
        "{d}"
    );

    // The evidence query runs and shows the errors behind the decision.
    let ev = tocsin
        .sql(d["evidence_sql"].as_str().unwrap())
        .await
        .unwrap();
    let errors = ev[0]["error_lines"].as_i64().unwrap_or(0);
    assert!(errors > 0, "evidence query found no error lines: {ev:?}");

    // The CLI asks the running server.
    let (out, _) = cli_sql(
        &tocsin.config,
        "SELECT count(*) AS open_decisions FROM decisions WHERE action = 'open'",
    );
    let n = table_ints(&out);
    assert!(n.len() == 1 && n[0] >= 1, "tocsin sql printed:\n{out}");
    let (out, _) = cli_sql(&tocsin.config, "SELECT count(*) FROM decisions");
    assert!(
        table_ints(&out).first().is_some_and(|&n| n >= 1),
        "tocsin sql printed:\n{out}"
    );
    let (out, _) = cli_sql(&tocsin.config, "SELECT kind, action, target FROM decisions");
    assert!(
        out.contains("incident") && out.contains("open"),
        "tocsin sql printed:\n{out}"
    );

    // The console sink printed it for whoever watches the terminal.
    wait_for(
        "the console sink to print the decision",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || async {
            let log = std::fs::read_to_string(tocsin.log()).unwrap_or_default();
            if log.contains("DECISION incident open") {
                Ok::<_, String>(())
            } else {
                Err("not printed".to_owned())
            }
        },
    )
    .await;

    let status = tocsin.terminate();
    assert!(
        status.success(),
        "tocsin exited with {status} after SIGTERM"
    );

    // With the server stopped, the CLI reads the lake directly.
    let (out, err) = cli_sql(
        &tocsin.config,
        "SELECT kind, action, target FROM decisions WHERE action = 'open'",
    );
    assert!(
        out.contains("open"),
        "tocsin sql (lake) printed:\n{out}\n{err}"
    );
    eprintln!("quickstart test passed in {:?}", started.elapsed());
}

/// Metrics and logs posted over HTTP go through the anomaly detector and the
/// template miner: a latency jump becomes a `tocsin.anomaly` alert, every log
/// line gets a `pattern_id`, and `log_patterns` says what the ids mean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_and_log_patterns_over_http() {
    let dir = TestDir::new("anomaly");
    let mut tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    // 600 points at 10 s intervals ending now; the last 20 are 400 ms slower.
    let step = 10_000_000_000i64;
    let start = now - 600 * step;
    let mut body = String::new();
    for i in 0..600i64 {
        let jitter = ((i * 7919) % 13) as f64 / 4.0;
        let value = 50.0 + jitter + if i >= 580 { 400.0 } else { 0.0 };
        body.push_str(&format!(
            r#"{{"ts": {}, "name": "latency_p95_ms", "value": {value}, "kind": "gauge", "service": "checkout", "host": "c-1"}}"#,
            start + i * step
        ));
        body.push('\n');
    }
    let (status, report) = tocsin.post("/v1/ingest/metrics", &body).await.unwrap();
    assert_eq!(status, 200, "{report}");

    let mut logs = String::new();
    for i in 0..200i64 {
        let message = if i % 2 == 0 {
            format!("GET /api/items/{i} 200 in {}ms", 10 + i % 40)
        } else {
            format!(
                "user {} logged in from 10.0.{}.{}",
                1000 + i,
                i % 7,
                i % 250
            )
        };
        logs.push_str(&format!(
            r#"{{"ts": {}, "service": "checkout", "level": "info", "message": "{message}"}}"#,
            start + i * step
        ));
        logs.push('\n');
    }
    let (status, report) = tocsin.post("/v1/ingest/logs", &logs).await.unwrap();
    assert_eq!(status, 200, "{report}");

    let alerts = wait_for(
        "an anomaly alert",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql(
                    "SELECT alertname, status, service, labels['metric'] AS metric, \
                     annotations['summary'] AS summary, ts FROM alerts \
                     WHERE source = 'tocsin.anomaly' ORDER BY ts",
                )
                .await?;
            if rows.is_empty() {
                Err("none yet".to_owned())
            } else {
                Ok(rows)
            }
        },
    )
    .await;
    let first = &alerts[0];
    assert_eq!(first["alertname"], "MetricAnomaly", "{first}");
    assert_eq!(first["status"], "firing", "{first}");
    assert_eq!(first["service"], "checkout", "{first}");
    assert_eq!(first["metric"], "latency_p95_ms", "{first}");
    assert!(
        first["summary"]
            .as_str()
            .is_some_and(|s| s.contains("above")),
        "{first}"
    );
    // It fired at the jump, not during the quiet 580 points before it.
    let fired = chrono::DateTime::parse_from_rfc3339(first["ts"].as_str().unwrap())
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    assert!(
        fired >= start + 580 * step,
        "fired at {fired}, jump at {}",
        start + 580 * step
    );

    let ids = tocsin
        .sql("SELECT count(*) AS n, count(pattern_id) AS with_id, count(DISTINCT pattern_id) AS ids FROM logs")
        .await
        .unwrap();
    assert_eq!(ids[0]["n"], 200, "{ids:?}");
    assert_eq!(ids[0]["with_id"], 200, "{ids:?}");
    assert_eq!(ids[0]["ids"], 2, "two templates: {ids:?}");

    let templates = wait_for(
        "log_patterns rows",
        Duration::from_secs(15),
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql(
                    "WITH p AS (SELECT id, last_value(template ORDER BY ts) AS template \
                     FROM log_patterns GROUP BY id) \
                     SELECT p.template, count(*) AS lines FROM logs l \
                     JOIN p ON l.pattern_id = p.id GROUP BY 1 ORDER BY 1",
                )
                .await?;
            if rows.len() == 2 {
                Ok(rows)
            } else {
                Err(format!("{rows:?}"))
            }
        },
    )
    .await;
    assert_eq!(templates[0]["lines"], 100, "{templates:?}");
    assert_eq!(templates[1]["lines"], 100, "{templates:?}");
    assert!(
        templates
            .iter()
            .all(|t| t["template"].as_str().is_some_and(|s| s.contains("<*>"))),
        "{templates:?}"
    );
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}
