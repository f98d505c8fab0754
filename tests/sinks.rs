//! Decisions reach paging, chat, webhook and ticket receivers end to end:
//! the real binary in embedded mode, real HTTP, and local receivers that
//! enforce each API's documented request schema (`tocsin-mockapis`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use tocsin_mockapis::github::{DEFAULT_TOKEN, GithubMockConfig, GithubStore};
use tocsin_mockapis::{Fault, MockServer};

fn config(pd: &MockServer, hook: &MockServer, chat: &MockServer, gh: &MockServer) -> String {
    format!(
        r#"{QUIET}
[sinks]
default_sinks = ["pd", "hook", "chat"]

[[sinks.route]]
kinds = ["patch"]
sinks = ["tickets"]

[[sinks.pagerduty]]
name = "pd"
routing_key = "{key}"
url = "{pd}/v2/enqueue"
[sinks.pagerduty.delivery]
retry_max = "1s"
breaker_open_for = "2s"

[[sinks.webhook]]
name = "hook"
url = "{hook}/tocsin"
secret = "s3cret"

[[sinks.slack]]
name = "chat"
url = "{chat}/services/T000/B000/revoked"

[[sinks.github_issues]]
name = "tickets"
api_url = "{gh}"
owner = "shop"
repo = "checkout"
token = "{DEFAULT_TOKEN}"

[processors.patching]
internet_facing = ["checkout"]

[processors.incidents]
topology.calls = [["checkout", "db"]]
"#,
        key = "R".repeat(32),
        pd = pd.base_url(),
        hook = hook.base_url(),
        chat = chat.base_url(),
        gh = gh.base_url(),
    )
}

async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_reach_every_sink_once_across_an_outage_and_a_restart() {
    let pd = tocsin_mockapis::pagerduty::serve().await.unwrap();
    let hook = tocsin_mockapis::webhook::serve_with(b"s3cret")
        .await
        .unwrap();
    let chat = tocsin_mockapis::slack::serve().await.unwrap();
    let store = GithubStore::default();
    let gh = tocsin_mockapis::github::serve_with(GithubMockConfig::default(), store.clone())
        .await
        .unwrap();
    // PagerDuty is down when the incident opens.
    pd.state.set_fault(Fault::Status(503));

    let dir = TestDir::new("sinks");
    let mut tocsin = Tocsin::start_with(dir.path(), &config(&pd, &hook, &chat, &gh)).await;
    let now = chrono::Utc::now();
    let t = |secs: i64| (now - chrono::Duration::seconds(secs)).to_rfc3339();
    let alert = |name: &str, svc: &str, ago: i64| {
        serde_json::json!({"status": "firing", "labels": {"alertname": name, "service": svc, "severity": "critical"},
                           "annotations": {}, "startsAt": t(ago), "endsAt": "0001-01-01T00:00:00Z"})
    };
    let webhook = serde_json::json!({"version": "4", "status": "firing", "receiver": "tocsin", "alerts": [
        alert("HighLatency", "db", 240), alert("HighErrorRate", "checkout", 230),
    ]});
    let (status, report) = tocsin
        .post(
            "/v1/ingest/alerts?format=alertmanager",
            &webhook.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    let trivy = serde_json::json!({
        "SchemaVersion": 2, "CreatedAt": t(200), "ArtifactName": "shop/checkout:1.4.2",
        "Metadata": {"ImageConfig": {"config": {"Labels": {"service": "checkout"}}}},
        "Results": [{"Target": "shop/checkout:1.4.2 (debian 12)", "Class": "os-pkgs", "Type": "debian",
            "Vulnerabilities": [{"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl",
                "InstalledVersion": "3.0.1", "FixedVersion": "3.0.2", "Severity": "CRITICAL",
                "CVSS": {"nvd": {"V3Score": 9.8}}}]}]
    });
    let (status, report) = tocsin
        .post(
            "/v1/ingest/vulnerabilities?format=trivy",
            &trivy.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    // Something recent moves event time past the group wait and scan grace.
    let now_ns = now.timestamp_nanos_opt().unwrap();
    let (status, _) = tocsin
        .post(
            "/v1/ingest/logs",
            &log_line(now_ns, "frontend", "info", "t-1", "x"),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);

    // The webhook gets the incident, signed; the ticket sink opens one
    // issue for the finding; Slack refuses (a revoked webhook): parked.
    wait_until("the webhook delivery", Duration::from_secs(30), || {
        hook.state
            .received()
            .iter()
            .any(|r| r.body["kind"] == "incident")
    })
    .await;
    wait_until("the GitHub issue", Duration::from_secs(30), || {
        store.issues("shop/checkout").len() == 1
    })
    .await;
    let issue = &store.issues("shop/checkout")[0];
    assert!(issue.title.contains("CVE-2024-0001"), "{issue:?}");
    assert!(
        hook.state.rejected().is_empty(),
        "{:?}",
        hook.state.rejected()
    );
    let parked = tocsin
        .sql_until_rows(
            "SELECT format, reason, error FROM deadletter WHERE reason = 'sink_refused'",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0]["format"], "sink:chat", "{parked:?}");
    assert!(
        parked[0]["error"]
            .as_str()
            .unwrap()
            .contains("invalid_token"),
        "{parked:?}"
    );
    assert!(pd.state.received().is_empty());

    // Restart while PagerDuty is still down: its position survives.
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
    tocsin.start().await;
    pd.state.set_fault(Fault::None);
    wait_until("the PagerDuty trigger", Duration::from_secs(60), || {
        !pd.state.received().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Exactly once everywhere, by dedup_key and decision id.
    let decided = tocsin
        .sql("SELECT dedup_key FROM decisions WHERE kind = 'incident' AND action = 'open'")
        .await
        .unwrap();
    let mut expected: Vec<String> = decided
        .iter()
        .map(|r| r["dedup_key"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    let mut triggered: Vec<String> = pd
        .state
        .received()
        .into_iter()
        .filter(|r| r.body["event_action"] == "trigger")
        .map(|r| r.body["dedup_key"].as_str().unwrap().to_owned())
        .collect();
    triggered.sort();
    assert!(!expected.is_empty());
    assert_eq!(triggered, expected, "each incident triggered exactly once");
    assert!(expected.iter().all(|k| k.starts_with("tocsin-incident-")));
    let mut ids: Vec<String> = hook
        .state
        .received()
        .iter()
        .filter_map(|r| r.key.clone())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "the webhook got a decision twice: {ids:?}");
    assert_eq!(
        store.issues("shop/checkout").len(),
        1,
        "no second ticket after the restart"
    );
    let (_, metrics) = tocsin.get("/metrics").await.unwrap();
    let delivered = format!(
        "tocsin_sink_delivered_total{{sink=\"pd\"}} {}",
        expected.len()
    );
    assert!(metrics.contains(&delivered), "{metrics}");
    assert!(
        metrics.contains("tocsin_sink_in_flight{sink=\"pd\"} 0"),
        "{metrics}"
    );
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}
