//! The offline subcommands over real files: `tocsin detect` on the NAB
//! subset, `tocsin patterns` on a labelled corpus, `tocsin forecast` on NAB
//! CPU series with a plot.

mod common;

use std::path::PathBuf;

use common::*;

fn shared_data() -> Option<PathBuf> {
    let p = repo_path("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent", p.display());
        None
    }
}

fn run(args: &[&str]) -> (String, String) {
    let out = tocsin_command().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "tocsin {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn detect_writes_a_score_per_row_in_the_nab_layout() {
    let Some(data) = shared_data() else { return };
    let dir = TestDir::new("detect");
    let input = data.join("nab/data");
    let out = dir.path().join("scores");
    run(&[
        "detect",
        "--input",
        input.to_str().unwrap(),
        "--format",
        "nab",
        "--out",
        out.to_str().unwrap(),
    ]);
    let name = "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv";
    let rows_in = std::fs::read_to_string(input.join(name))
        .unwrap()
        .lines()
        .count();
    let scored = std::fs::read_to_string(out.join(name)).unwrap();
    let mut lines = scored.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
    let scores: Vec<f64> = lines
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len() + 1, rows_in);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert!(
        scores.iter().any(|&s| s > 0.0),
        "something scores above zero"
    );
}

#[test]
fn patterns_mines_and_scores_a_labelled_corpus() {
    let dir = TestDir::new("patterns");
    let corpus = dir.path().join("corpus.csv");
    let lines = tocsin_patterns::corpus::generate(5, 20_000);
    tocsin_patterns::offline::write_corpus(&corpus, &lines).unwrap();
    let out = dir.path().join("pred.csv");
    let (stdout, _) = run(&[
        "patterns",
        "--input",
        corpus.to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    let acc: f64 = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("grouping_accuracy="))
        .unwrap_or_else(|| panic!("no score printed: {stdout}"))
        .parse()
        .unwrap();
    assert!(acc >= 0.98, "grouping accuracy {acc}");
    let pred = std::fs::read_to_string(&out).unwrap();
    assert!(pred.starts_with("LineId,EventId,EventTemplate"));
    assert_eq!(pred.lines().count(), 20_001);
}

#[test]
fn forecast_writes_intervals_and_draws_the_picture() {
    let Some(data) = shared_data() else { return };
    let dir = TestDir::new("forecast");
    let mut long = String::from("series_id,timestamp,value\n");
    for name in ["ec2_cpu_utilization_5f5533", "rds_cpu_utilization_cc0c53"] {
        let csv =
            std::fs::read_to_string(data.join(format!("nab/data/realAWSCloudwatch/{name}.csv")))
                .unwrap();
        for line in csv.lines().skip(1) {
            long.push_str(&format!("{name},{line}\n"));
        }
    }
    let input = dir.path().join("long.csv");
    std::fs::write(&input, long).unwrap();
    let out = dir.path().join("forecast.csv");
    let svg = dir.path().join("forecast.svg");
    run(&[
        "forecast",
        "--input",
        input.to_str().unwrap(),
        "--horizon",
        "48",
        "--out",
        out.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--limit",
        "90",
    ]);
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 96, "48 steps for each of 2 series");
    for r in &rows {
        let (p, lo, hi): (f64, f64, f64) = (
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
        );
        assert!(lo <= p && p <= hi, "{r:?}");
        assert!((0.0..100.0).contains(&p), "a CPU percentage: {r:?}");
    }
    // The first step is one sampling step (5 minutes) after the last input.
    assert_eq!(rows[0][1], "2014-02-28T14:27:00Z");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.contains("</svg>"));
    assert!(picture.contains("limit"), "the limit line is labelled");
}

#[test]
fn replay_prints_the_same_incidents_every_time() {
    let dir = TestDir::new("replay");
    let line = |ts: &str, status: &str, name: &str, svc: &str, sev: &str| {
        serde_json::json!({"ts": ts, "status": status,
            "labels": {"alertname": name, "service": svc, "severity": sev}, "annotations": {}})
        .to_string()
    };
    let alerts = [
        line(
            "2026-11-26T08:00:00Z",
            "firing",
            "HighLatency",
            "db",
            "critical",
        ),
        line(
            "2026-11-26T08:00:20Z",
            "firing",
            "HighErrorRate",
            "checkout",
            "critical",
        ),
        line(
            "2026-11-26T08:01:00Z",
            "firing",
            "HighLatency",
            "db",
            "critical",
        ),
        line(
            "2026-11-26T08:01:20Z",
            "firing",
            "HighErrorRate",
            "checkout",
            "critical",
        ),
        line(
            "2026-11-26T08:02:00Z",
            "resolved",
            "HighLatency",
            "db",
            "critical",
        ),
        line(
            "2026-11-26T08:02:00Z",
            "resolved",
            "HighErrorRate",
            "checkout",
            "critical",
        ),
        // Unrelated and much later: its own incident.
        line(
            "2026-11-26T11:00:00Z",
            "firing",
            "DiskFull",
            "search",
            "critical",
        ),
    ]
    .join("\n");
    let changes = r#"{"ts":"2026-11-26T07:50:00Z","kind":"deploy","service":"db","version":"9.1","id":"chg-1"}"#;
    let alerts_path = dir.path().join("alerts.jsonl");
    let changes_path = dir.path().join("changes.jsonl");
    std::fs::write(&alerts_path, alerts).unwrap();
    std::fs::write(&changes_path, changes).unwrap();
    let config = dir.path().join("tocsin.toml");
    std::fs::write(
        &config,
        "[processors.incidents]\ntopology.calls = [[\"checkout\", \"db\"]]\n",
    )
    .unwrap();
    let args = [
        "replay",
        "--config",
        config.to_str().unwrap(),
        "--from",
        alerts_path.to_str().unwrap(),
        "--changes",
        changes_path.to_str().unwrap(),
        "--json",
    ];
    let (first, summary) = run(&args);
    let (second, _) = run(&args);
    assert_eq!(first, second, "replay is not deterministic");
    let decisions: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let opens: Vec<&serde_json::Value> =
        decisions.iter().filter(|d| d["action"] == "open").collect();
    assert_eq!(opens.len(), 2, "{first}");
    assert_eq!(
        opens[0]["evidence"]["suspected_change"]["id"], "chg-1",
        "{first}"
    );
    assert_eq!(opens[0]["target"], "db", "{first}");
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d["action"] == "resolve")
            .count(),
        2,
        "{first}"
    );
    assert!(summary.contains("\"alerts\": 7"), "{summary}");

    // A bad line stops the replay with its position rather than skewing it.
    std::fs::write(&alerts_path, "{\"status\": \"firing\"}\n").unwrap();
    let out = tocsin_command().args(args).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alerts.jsonl:1"));
}
