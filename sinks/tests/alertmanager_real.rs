//! The Alertmanager sink against a real Alertmanager (`prometheus-alertmanager`,
//! Debian package of that name). Skipped with a note when the binary is absent;
//! override its path with `TOCSIN_ALERTMANAGER_BIN`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tocsin_processors::{Decision, DecisionAction, format_ts};
use tocsin_sinks::alertmanager::{AlertmanagerConfig, AlertmanagerSink};
use tocsin_sinks::delivery::Sink;

/// Kills the Alertmanager and removes its directory however the test ends.
struct Guard {
    child: Child,
    dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn decision(action: DecisionAction, ts: i64, key: &str) -> Decision {
    serde_json::from_value(serde_json::json!({
        "ts": format_ts(ts), "id": Decision::make_id(key, action), "kind": "incident",
        "action": action.as_str(), "target": "checkout", "severity": "critical",
        "reason": "error rate 12%", "evidence": {"error_rate": 0.12},
        "evidence_sql": "SELECT 1", "dedup_key": key, "confidence": 0.9, "processor": "red"
    }))
    .unwrap()
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

async fn alerts(client: &reqwest::Client, base: &str, query: &str) -> Vec<Value> {
    let body = client
        .get(format!("{base}/api/v2/alerts{query}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str::<Vec<Value>>(&body).unwrap()
}

fn ours<'a>(list: &'a [Value], key: &str) -> Option<&'a Value> {
    list.iter().find(|a| a["labels"]["dedup_key"] == key)
}

#[tokio::test]
async fn open_then_resolve_through_a_real_alertmanager() {
    let bin = std::env::var("TOCSIN_ALERTMANAGER_BIN")
        .unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
    if !std::path::Path::new(&bin).exists() {
        eprintln!("skipping: {bin} not found (install the prometheus-alertmanager package)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tocsin-am-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _guard = Guard { child, dir };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "alertmanager did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let cfg: AlertmanagerConfig = toml::from_str(&format!(
        "url = \"{base}\"\ngenerator_url = \"https://tocsin.example/d/{{{{ dedup_key }}}}\"\n[labels]\nteam = \"payments\""
    ))
    .unwrap();
    let sink = AlertmanagerSink::new(cfg).unwrap();
    let key = "checkout/error-rate";

    sink.deliver(&decision(DecisionAction::Open, now_ns(), key))
        .await
        .unwrap();
    let started = Instant::now();
    let alert = loop {
        let list = alerts(&client, &base, "").await;
        if let Some(a) = ours(&list, key)
            && a["status"]["state"] == "active"
        {
            break a.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "alert never became active: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "TocsinIncident");
    assert_eq!(labels["service"], "checkout");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["tocsin_kind"], "incident");
    assert_eq!(labels["team"], "payments");
    assert_eq!(alert["annotations"]["description"], "error rate 12%");
    assert_eq!(
        alert["generatorURL"],
        "https://tocsin.example/d/checkout/error-rate"
    );
    let ends = chrono::DateTime::parse_from_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap();
    assert!(
        ends.timestamp() > chrono::Utc::now().timestamp() + 23 * 3600,
        "held for a day: {ends}"
    );

    // Controls: an update keeps the alert firing, and an unrelated open alert
    // stays listed after ours resolves (so "gone" means resolved, not lost).
    sink.deliver(&decision(DecisionAction::Update, now_ns(), key))
        .await
        .unwrap();
    sink.deliver(&decision(DecisionAction::Open, now_ns(), "other/key"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = alerts(&client, &base, "").await;
    assert!(
        ours(&list, key).is_some() && ours(&list, "other/key").is_some(),
        "{list:?}"
    );

    sink.deliver(&decision(DecisionAction::Resolve, now_ns(), key))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        // Alertmanager's API lists only unresolved alerts; a resolved one
        // disappears from every filter combination.
        let active = alerts(
            &client,
            &base,
            "?active=true&silenced=true&inhibited=true&unprocessed=true",
        )
        .await;
        if ours(&active, key).is_none() {
            assert!(ours(&active, "other/key").is_some(), "{active:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "alert never resolved: {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
