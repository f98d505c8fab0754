//! Real shippers pointed at tocsin's receivers, with no adapter between:
//!
//! - Prometheus (Debian `prometheus`) scrapes itself and remote-writes to
//!   `POST /api/v1/write`; the samples are then queried in SQL;
//! - the OpenTelemetry Python SDK (`opentelemetry-sdk` with the OTLP/HTTP
//!   exporter) sends logs and metrics to `/v1/logs` and `/v1/metrics`, in
//!   protobuf and in JSON, plain and gzip-compressed;
//! - Alertmanager (Debian `prometheus-alertmanager`) sends its webhook when
//!   an alert is posted to its API.
//!
//! The test command installs all three. A binary that is missing here is
//! named in a note and its test is skipped, so a bare `cargo test` still runs.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// `$var`, else the binary on `PATH`; `None` (with a note) when neither.
fn client_binary(var: &str, name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(var)
        && !p.is_empty()
    {
        return Some(PathBuf::from(p));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "note: `{name}` not found (set {var}); skipping. `bash scripts/test.sh` installs it."
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_writes_into_the_lake() {
    let Some(prometheus) = client_binary("TOCSIN_PROMETHEUS_BIN", "prometheus") else {
        return;
    };
    let dir = TestDir::new("prometheus");
    let tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let tocsin_port = tocsin.base.rsplit(':').next().unwrap().to_owned();
    let prom_port = free_port();
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{prom_port}"]
remote_write:
  - url: "http://127.0.0.1:{tocsin_port}/api/v1/write"
    remote_timeout: 5s
    queue_config:
      batch_send_deadline: 1s
      min_shards: 1
      max_shards: 1
      min_backoff: 100ms
      max_backoff: 1s
"#
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg("--storage.tsdb.retention.time=1h")
        // Without it, a stopping Prometheus retries unsent samples for a minute.
        .arg("--storage.remote.flush-deadline=1s");
    let mut prom = Proc::spawn("prometheus", cmd, &dir.path().join("prometheus.log"));

    // Prometheus sends its first batch about 6 s after it starts.
    let started = std::time::Instant::now();
    let up = loop {
        prom.assert_running();
        let rows = tocsin
            .sql("SELECT value, service, host, kind FROM metrics WHERE name = 'up' LIMIT 1")
            .await
            .unwrap();
        if let Some(row) = rows.into_iter().next() {
            break row;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no `up` sample from Prometheus after 90 s; its log:\n{}",
            tail(&dir.path().join("prometheus.log"), 30)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(up["value"], 1.0, "{up}");
    assert_eq!(up["service"], "prometheus", "{up}");
    assert_eq!(up["host"], format!("127.0.0.1:{prom_port}"), "{up}");
    assert_eq!(up["kind"], "gauge", "{up}");

    // Labels and kinds as Prometheus named them.
    let build = tocsin
        .sql("SELECT labels['goarch'] AS goarch, labels['version'] AS v FROM metrics WHERE name = 'prometheus_build_info' LIMIT 1")
        .await
        .unwrap();
    assert!(
        build[0]["v"].as_str().is_some_and(|v| v.starts_with('2')),
        "{build:?}"
    );
    assert!(
        build[0]["goarch"].as_str().is_some_and(|v| !v.is_empty()),
        "{build:?}"
    );
    // A scrape is sent in several requests: wait for the later ones too.
    let kinds = wait_for(
        "a counter and a histogram family",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql("SELECT kind FROM metrics WHERE name IN ('prometheus_tsdb_head_samples_appended_total', 'prometheus_tsdb_compaction_chunk_range_seconds_bucket') GROUP BY kind ORDER BY kind")
                .await?;
            let kinds: Vec<String> = rows
                .iter()
                .filter_map(|r| r["kind"].as_str().map(str::to_owned))
                .collect();
            if kinds.len() == 2 { Ok(kinds) } else { Err(format!("{kinds:?}")) }
        },
    )
    .await;
    assert_eq!(kinds, ["counter", "histogram"]);
    let buckets = tocsin
        .sql("SELECT count(*) AS n FROM metrics WHERE name = 'prometheus_tsdb_compaction_chunk_range_seconds_bucket' AND labels['le'] = '+Inf'")
        .await
        .unwrap();
    assert!(buckets[0]["n"].as_i64().unwrap_or(0) > 0, "{buckets:?}");
    // Nothing Prometheus sent was refused.
    let dead = tocsin
        .sql("SELECT count(*) AS n FROM deadletter")
        .await
        .unwrap();
    assert_eq!(dead[0]["n"], 0, "{dead:?}");
    prom.kill();
}

/// Runs `tests/python/otlp_send.py`; its one-line JSON summary.
fn otlp_send(python: &PathBuf, base: &str, extra: &[&str], run_id: &str) -> Value {
    let script = repo_path("tests/python/otlp_send.py");
    let out = Command::new(python)
        .arg(script)
        .arg("--endpoint")
        .arg(base)
        .arg("--run-id")
        .arg(run_id)
        .args(extra)
        .output()
        .expect("running otlp_send.py");
    assert!(
        out.status.success(),
        "otlp_send.py {extra:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("otlp_send.py prints one JSON line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_sdk_sends_logs_and_metrics_over_otlp_http() {
    if std::env::var_os("TOCSIN_TEST_PYTHON").is_none() {
        eprintln!(
            "note: TOCSIN_TEST_PYTHON is not set; skipping the OpenTelemetry SDK test. `bash scripts/test.sh` sets it."
        );
        return;
    }
    let python = test_python();
    let dir = TestDir::new("otlp");
    let tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let cases: [(&str, &[&str]); 3] = [
        ("proto", &[]),
        ("json", &["--encoding", "json"]),
        ("gzip", &["--compression", "gzip"]),
    ];
    for (run, extra) in cases {
        let summary = otlp_send(&python, &tocsin.base, extra, run);
        assert_eq!(summary["ok"], true, "{summary}");
    }
    // Every run: 4 log records with their levels and resource columns.
    let logs = tocsin
        .sql("SELECT level, count(*) AS n FROM logs WHERE service = 'checkout' AND version = '1.4.2' AND env = 'prod' GROUP BY level ORDER BY level")
        .await
        .unwrap();
    let got: Vec<(String, i64)> = logs
        .iter()
        .map(|r| {
            (
                r["level"].as_str().unwrap_or("").to_owned(),
                r["n"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [("debug", 3), ("error", 3), ("info", 3), ("warn", 3)]
        .iter()
        .map(|(l, n)| ((*l).to_owned(), *n))
        .collect();
    assert_eq!(got, want);
    let failed = tocsin
        .sql("SELECT DISTINCT message, trace_id FROM logs WHERE level = 'error'")
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["message"], "payment failed");
    assert_eq!(failed[0]["trace_id"], "5b8efff798038103d269b633813fc60c");
    // Metrics: the counter per payment method and the histogram's buckets.
    let orders = tocsin
        .sql("SELECT labels['payment.method'] AS m, max(value) AS v, min(kind) AS kind FROM metrics WHERE name = 'app.orders.processed' GROUP BY 1 ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert_eq!(orders[0]["m"], "card");
    assert_eq!(orders[0]["v"], 3.0);
    assert_eq!(orders[0]["kind"], "counter");
    assert_eq!(orders[1]["v"], 4.0);
    let hist = tocsin
        .sql("SELECT count(*) AS n, max(value) AS v FROM metrics WHERE name = 'http.server.duration_count'")
        .await
        .unwrap();
    assert_eq!(hist[0]["n"], 3, "one point per run: {hist:?}");
    assert_eq!(hist[0]["v"], 5.0, "{hist:?}");
    let p = tocsin
        .sql("SELECT histogram_quantile(0.5, CAST(labels['le'] AS DOUBLE), value) AS p50 FROM metrics WHERE name = 'http.server.duration_bucket' AND labels['le'] <> '+Inf'")
        .await;
    assert!(p.is_ok(), "the buckets work with histogram_quantile: {p:?}");

    // A malformed body is refused the way OTLP clients understand, and kept.
    let bad = reqwest::Client::new()
        .post(format!("{}/v1/logs", tocsin.base))
        .header("content-type", "application/x-protobuf")
        .body(vec![0x0a, 0xff, 0xff, 0x01])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let dead = tocsin
        .sql("SELECT format, reason FROM deadletter")
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["format"], "otlp_proto");
    assert_eq!(dead[0]["reason"], "invalid_protobuf");
    let wrong_type = reqwest::Client::new()
        .post(format!("{}/v1/metrics", tocsin.base))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_webhook_lands_in_alerts() {
    let Some(am) = client_binary("TOCSIN_ALERTMANAGER_BIN", "prometheus-alertmanager") else {
        return;
    };
    let dir = TestDir::new("am-webhook");
    let tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let am_port = free_port();
    let config = format!(
        r#"route:
  receiver: tocsin
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: "{}/v1/ingest/alerts?format=alertmanager"
        send_resolved: true
"#,
        tocsin.base
    );
    let config_path = dir.path().join("alertmanager.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = Command::new(am);
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    let mut am_proc = Proc::spawn("alertmanager", cmd, &dir.path().join("alertmanager.log"));
    let http = reqwest::Client::new();
    let starts = rfc3339(now_ns());
    let alert = serde_json::json!([{
        "labels": {"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": "p99 latency above 1s"},
        "startsAt": starts,
    }]);
    wait_for(
        "Alertmanager to take the alert",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let r = http
                .post(format!("http://127.0.0.1:{am_port}/api/v2/alerts"))
                .header("content-type", "application/json")
                .body(alert.to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            r.status()
                .is_success()
                .then_some(())
                .ok_or(format!("HTTP {}", r.status()))
        },
    )
    .await;
    let row = wait_for(
        "the webhook's alert in the lake",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql("SELECT alertname, status, severity, service, source FROM alerts")
                .await?;
            rows.into_iter()
                .next()
                .ok_or_else(|| "no alert yet".to_owned())
        },
    )
    .await;
    assert_eq!(row["alertname"], "HighLatency", "{row}");
    assert_eq!(row["status"], "firing", "{row}");
    assert_eq!(row["severity"], "critical", "{row}");
    assert_eq!(row["service"], "checkout", "{row}");
    am_proc.kill();
}
