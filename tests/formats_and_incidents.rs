//! Over HTTP in the embedded mode, the formats beyond tocsin's JSON
//! (Influx, syslog, webhooks, change events, scanner reports) and what is
//! built on them: incidents from alerts, silences, and rollout verdicts.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// `?format=` picks the decoder: Telegraf's line protocol and syslog lines
/// over HTTP land in `metrics` and `logs`; an unknown format is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_decodes_influx_and_syslog() {
    let dir = TestDir::new("formats");
    let mut tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let influx = format!(
        "cpu,cpu=cpu-total,host=web-1 usage_user=12.5,usage_system=3.25 {now}\n\
         mem,host=web-1 used_percent=41.5,available=8123456i {now}\n\
         cpu,host=web-1 usage_user=oops {now}\n"
    );
    let (status, report) = tocsin
        .post("/v1/ingest/metrics?format=influx", &influx)
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["rejected"], 1, "{report}");

    let syslog = "<11>1 2026-11-26T10:00:00.123Z db-1 postgres 4242 - - connection refused\n\
                  <30>Nov 26 10:00:01 web-1 nginx[77]: GET / 200\n";
    let (status, report) = tocsin
        .post("/v1/ingest/logs?format=syslog", syslog)
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");

    let (status, report) = tocsin
        .post("/v1/ingest/logs?format=influx", "cpu x=1\n")
        .await
        .unwrap();
    assert_eq!(status, 400, "{report}");
    assert!(report.to_string().contains("syslog"), "{report}");

    let rows = tocsin
        .sql(
            "SELECT name, value, host, labels['cpu'] AS cpu FROM metrics \
             WHERE _topic = 'http.metrics.influx' ORDER BY name",
        )
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "cpu_usage_system",
            "cpu_usage_user",
            "mem_available",
            "mem_used_percent"
        ],
        "{rows:?}"
    );
    assert_eq!(rows[1]["value"], 12.5, "{rows:?}");
    assert_eq!(rows[1]["host"], "web-1", "{rows:?}");
    assert_eq!(rows[1]["cpu"], "cpu-total", "{rows:?}");
    assert_eq!(rows[2]["value"], 8123456.0, "{rows:?}");

    let logs = tocsin
        .sql("SELECT service, host, level, message FROM logs ORDER BY host")
        .await
        .unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0]["service"], "postgres", "{logs:?}");
    assert_eq!(logs[0]["level"], "error", "{logs:?}");
    assert_eq!(logs[0]["message"], "connection refused", "{logs:?}");
    assert_eq!(logs[1]["service"], "nginx", "{logs:?}");
    assert_eq!(logs[1]["level"], "info", "{logs:?}");
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_takes_webhooks_change_events_and_scan_reports() {
    let dir = TestDir::new("webhooks");
    let mut tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let now = chrono::Utc::now();
    let t = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();

    // Alertmanager's webhook, pretty-printed as it is sent.
    let webhook = serde_json::to_string_pretty(&serde_json::json!({
        "version": "4", "status": "firing", "receiver": "tocsin", "groupKey": "{}:{}",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
             "annotations": {"summary": "p99 2s"}, "startsAt": t(5), "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prom/graph"},
            {"status": "resolved", "labels": {"alertname": "DiskFull", "service": "db"},
             "annotations": {}, "startsAt": t(30), "endsAt": t(2)}
        ]
    }))
    .unwrap();
    let (status, report) = tocsin
        .post("/v1/ingest/alerts?format=alertmanager", &webhook)
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");

    let cloudevent = serde_json::json!({
        "specversion": "1.0", "type": "dev.tocsin.change.deploy", "source": "/ci/shop",
        "id": "deploy-77", "time": t(10),
        "data": {"service": "checkout", "env": "prod", "version": "1.4.2", "actor": "ci", "strategy": "canary"}
    })
    .to_string();
    let (status, report) = tocsin
        .post("/v1/ingest/changes?format=cloudevents", &cloudevent)
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");

    let github = serde_json::json!({
        "action": "created",
        "deployment_status": {"id": 9, "state": "success", "environment": "prod", "created_at": t(3),
                              "creator": {"login": "octocat"}},
        "deployment": {"id": 8, "ref": "v2.0.0", "sha": "abc", "task": "deploy", "payload": {}},
        "repository": {"name": "cart", "full_name": "acme/cart"}
    })
    .to_string();
    let (status, report) = tocsin
        .post("/v1/ingest/changes?format=github", &github)
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");

    let trivy = serde_json::json!({
        "SchemaVersion": 2, "CreatedAt": t(1), "ArtifactName": "shop/checkout:1.4.2",
        "Results": [{"Target": "shop/checkout:1.4.2 (debian 12)", "Class": "os-pkgs", "Type": "debian",
            "Vulnerabilities": [
                {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "3.0.1",
                 "FixedVersion": "3.0.2", "Severity": "CRITICAL", "CVSS": {"nvd": {"V3Score": 9.8}}},
                {"VulnerabilityID": "CVE-2024-0002", "PkgName": "zlib", "InstalledVersion": "1.2",
                 "Severity": "LOW"}]}]
    })
    .to_string();
    let (status, report) = tocsin
        .post("/v1/ingest/vulnerabilities?format=trivy", &trivy)
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");

    // A report that is not Trivy's is refused and dead-lettered, not lost.
    let (status, report) = tocsin
        .post(
            "/v1/ingest/vulnerabilities?format=trivy",
            r#"{"matches":[]}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{report}");

    let alerts = tocsin
        .sql("SELECT alertname, status, source FROM alerts WHERE source = 'alertmanager' ORDER BY alertname")
        .await
        .unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["alertname"], "DiskFull", "{alerts:?}");
    assert_eq!(alerts[0]["status"], "resolved", "{alerts:?}");

    let changes = tocsin
        .sql("SELECT id, kind, service, version, actor FROM changes ORDER BY ts")
        .await
        .unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["id"], "deploy-77", "{changes:?}");
    assert_eq!(changes[0]["service"], "checkout", "{changes:?}");
    assert_eq!(changes[1]["service"], "cart", "{changes:?}");
    assert_eq!(changes[1]["actor"], "octocat", "{changes:?}");

    let vulns = tocsin
        .sql("SELECT cve, package, cvss, severity FROM vulnerabilities ORDER BY cve")
        .await
        .unwrap();
    assert_eq!(vulns.len(), 2, "{vulns:?}");
    assert_eq!(vulns[0]["cvss"], 9.8, "{vulns:?}");
    assert_eq!(vulns[0]["severity"], "critical", "{vulns:?}");

    // Elasticsearch's bulk API, as Filebeat and Fluent Bit send it.
    let bulk = format!(
        "{{\"create\":{{\"_index\":\"filebeat-8\"}}}}\n{{\"@timestamp\":\"{}\",\"message\":\"disk full\",\"log\":{{\"level\":\"error\"}},\"service\":{{\"name\":\"db\"}}}}\n\
         {{\"index\":{{}}}}\n{{\"date\":{},\"log\":\"GET / 200\",\"service\":\"web\"}}\n",
        t(2),
        now.timestamp()
    );
    let (status, answer) = tocsin.post("/filebeat-8/_bulk", &bulk).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], false, "{answer}");
    assert_eq!(answer["items"].as_array().unwrap().len(), 2, "{answer}");
    let (status, answer) = tocsin
        .post("/_bulk", "{\"update\":{\"_id\":\"1\"}}\n{\"doc\":{}}\n")
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], true, "{answer}");
    let bulk_logs = tocsin
        .sql("SELECT service, level FROM logs WHERE _topic = 'http.logs.es_bulk' ORDER BY service")
        .await
        .unwrap();
    assert_eq!(bulk_logs.len(), 2, "{bulk_logs:?}");
    assert_eq!(bulk_logs[0]["service"], "db", "{bulk_logs:?}");
    assert_eq!(bulk_logs[0]["level"], "error", "{bulk_logs:?}");

    // The same rows as CSV; a map column is refused with its name.
    let (status, csv) = tocsin
        .post(
            "/v1/sql?format=csv",
            "SELECT cve, cvss FROM vulnerabilities ORDER BY cve",
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{csv}");
    assert_eq!(
        csv.as_str().unwrap(),
        "cve,cvss\nCVE-2024-0001,9.8\nCVE-2024-0002,\n",
        "{csv}"
    );
    let (status, err) = tocsin
        .post(
            "/v1/sql?format=csv",
            "SELECT attributes FROM vulnerabilities",
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{err}");
    assert!(err.to_string().contains("attributes"), "{err}");

    let dead = tocsin
        .sql("SELECT \"table\", format, reason FROM deadletter")
        .await
        .unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|d| d["format"] == "trivy" && d["reason"] == "missing_field"),
        "{dead:?}"
    );
    assert!(dead.iter().any(|d| d["format"] == "es_bulk"), "{dead:?}");
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_become_one_incident_and_silences_persist() {
    let dir = TestDir::new("incidents");
    let body = format!(
        "{QUIET}\n[processors.incidents]\ntopology.calls = [[\"frontend\", \"checkout\"], [\"checkout\", \"db\"]]\ntopology.user_facing = [\"frontend\"]\n"
    );
    let mut tocsin = Tocsin::start_with(dir.path(), &body).await;
    let now = chrono::Utc::now();
    let t = |secs: i64| (now - chrono::Duration::seconds(secs)).to_rfc3339();
    let alert = |name: &str, svc: &str, sev: &str, ago: i64| {
        serde_json::json!({"status": "firing", "labels": {"alertname": name, "service": svc, "severity": sev},
                           "annotations": {}, "startsAt": t(ago), "endsAt": "0001-01-01T00:00:00Z"})
    };
    // A cascade: db first, then its callers, a few seconds apart.
    let webhook = serde_json::json!({"version": "4", "status": "firing", "receiver": "tocsin", "alerts": [
        alert("HighLatency", "db", "critical", 240),
        alert("HighErrorRate", "checkout", "critical", 230),
        alert("HighErrorRate", "frontend", "warning", 220),
    ]});
    let (status, report) = tocsin
        .post(
            "/v1/ingest/alerts?format=alertmanager",
            &webhook.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    // Something recent moves event time past the incident's group wait.
    let now_ns = now.timestamp_nanos_opt().unwrap();
    let (status, _) = tocsin
        .post(
            "/v1/ingest/logs",
            &log_line(now_ns, "frontend", "info", "t-1", "x"),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);

    let incidents = tocsin
        .sql_until_rows(
            "SELECT id, action, severity, services, alert_count, root_cause FROM incidents",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["action"], "open", "{incidents:?}");
    assert_eq!(incidents[0]["alert_count"], 3, "{incidents:?}");
    assert_eq!(incidents[0]["root_cause"], "db", "{incidents:?}");
    // The incident's row is queryable as soon as it is emitted; its
    // decision once the flush that follows has made it durable.
    let decisions = tocsin
        .sql_until_rows("SELECT kind, action, dedup_key, evidence_sql FROM decisions WHERE processor = 'incidents'", Duration::from_secs(30))
        .await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    // The evidence query reproduces the member alerts from the lake.
    let evidence = tocsin
        .sql(decisions[0]["evidence_sql"].as_str().unwrap())
        .await
        .unwrap();
    let members: Vec<&str> = evidence
        .iter()
        .filter(|r| r["evidence"] == "alert")
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), 3, "{evidence:?}");
    assert!(
        decisions[0]["dedup_key"]
            .as_str()
            .unwrap()
            .starts_with("tocsin-incident-"),
        "{decisions:?}"
    );

    // Silences: created through Alertmanager's API, listed, kept over a restart.
    let silence = serde_json::json!({
        "matchers": [{"name": "service", "value": "db", "isRegex": false, "isEqual": true}],
        "startsAt": t(60), "endsAt": (now + chrono::Duration::hours(2)).to_rfc3339(),
        "createdBy": "test", "comment": "drill"
    });
    let (status, created) = tocsin
        .post_json("/api/v2/silences", &silence)
        .await
        .unwrap();
    assert_eq!(status, 200, "{created}");
    let id = created["silenceID"].as_str().unwrap().to_owned();
    let (status, _) = tocsin
        .post_json(
            "/api/v2/silences",
            &serde_json::json!({"matchers": [], "startsAt": t(1), "endsAt": t(0)}),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "a silence without matchers was accepted");
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");

    // Replaying the lake decides the same incident again.
    let out = tocsin_command()
        .args(["replay", "--json", "--config"])
        .arg(&tocsin.config)
        .args(["--since", &t(3600)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["action"] == "open")
        .collect();
    assert_eq!(opened.len(), 1, "{stdout}");
    assert_eq!(
        opened[0]["dedup_key"], decisions[0]["dedup_key"],
        "{stdout}"
    );

    tocsin.start().await;
    let (status, listed) = tocsin.get("/api/v2/silences").await.unwrap();
    assert_eq!(status, 200, "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["status"]["state"], "active", "{listed}");
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_is_rolled_back_with_evidence() {
    let dir = TestDir::new("rollout");
    let mut tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let deploy_ns = now - 300 * 1_000_000_000;
    let deploy = serde_json::json!({
        "specversion": "1.0", "type": "dev.tocsin.change.deploy", "source": "/ci", "id": "canary-v2",
        "time": rfc3339(deploy_ns),
        "data": {"service": "checkout", "version": "v2", "strategy": "canary", "traffic_weight": 0.25}
    });
    let (status, report) = tocsin
        .post("/v1/ingest/changes?format=cloudevents", &deploy.to_string())
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Access logs: v1 at 30 req/s with 1% errors, the v2 canary at 10 req/s
    // with 12% errors, from the deploy until now.
    let mut lines = Vec::new();
    let mut n = 0u64;
    for s in 0..300i64 {
        for (version, rps, err_every) in [("v1", 30, 100), ("v2", 10, 8)] {
            for k in 0..rps {
                n += 1;
                let ts = deploy_ns + s * 1_000_000_000 + k * (1_000_000_000 / rps);
                let failed = n.is_multiple_of(err_every);
                lines.push(
                    serde_json::json!({
                        "ts": rfc3339(ts), "service": "checkout", "version": version,
                        "level": if failed { "error" } else { "info" }, "message": "GET /cart",
                        "attributes": {"duration_ms": format!("{}", 60 + (n * 37) % 50),
                                       "status": if failed { "503" } else { "200" }}
                    })
                    .to_string(),
                );
            }
        }
    }
    let (status, report) = tocsin
        .post("/v1/ingest/logs", &lines.join("\n"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");

    let rollback = tocsin
        .sql_until_rows(
            "SELECT target, reason, evidence_sql FROM decisions WHERE kind = 'rollback'",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(rollback.len(), 1, "{rollback:?}");
    assert_eq!(rollback[0]["target"], "checkout@v2", "{rollback:?}");
    let promoted = tocsin
        .sql("SELECT count(*) AS n FROM decisions WHERE kind = 'promote'")
        .await
        .unwrap();
    assert_eq!(promoted[0]["n"], 0, "{promoted:?}");
    // The evidence query shows both arms from the lake.
    let evidence = tocsin
        .sql(rollback[0]["evidence_sql"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(evidence.len(), 2, "{evidence:?}");
    let rate = |arm: &str| {
        evidence
            .iter()
            .find(|r| r["arm"] == arm)
            .and_then(|r| r["error_rate"].as_f64())
            .unwrap()
    };
    assert!(rate("candidate") > rate("baseline") + 0.05, "{evidence:?}");
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}
