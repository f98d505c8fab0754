use super::*;
use arrow::array::AsArray;
use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder};

const T0: i64 = 1_795_681_800_000_000_000;
const S: i64 = 1_000_000_000;

fn logs(rows: &[(i64, &str, &str, &str, &str)]) -> RecordBatch {
    let mut b = LogsBuilder::new();
    for (i, &(ts, service, version, level, message)) in rows.iter().enumerate() {
        b.push(
            &LogRow {
                ts,
                service: Some(service),
                host: None,
                env: None,
                version: Some(version),
                level,
                message,
                trace_id: None,
            },
            &Lineage {
                topic: "t",
                partition: 0,
                offset: i as i64,
                received_ns: 0,
            },
        );
    }
    tocsin_ingest::TableBuilder::Logs(b).finish().unwrap()
}

fn ids(batch: &RecordBatch) -> Vec<String> {
    batch
        .column_by_name("pattern_id")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_owned())
        .collect()
}

fn quick() -> LogPatternsConfig {
    LogPatternsConfig {
        warmup: Duration::from_secs(60),
        ..Default::default()
    }
}

#[test]
fn fills_pattern_id_and_reports_changed_patterns_at_flush() {
    let mut p = LogPatternsProcessor::new(quick()).unwrap();
    let mut out = Output::default();
    let batch = logs(&[
        (T0, "api", "1.0", "info", "user 17 logged in from 10.0.0.1"),
        (
            T0 + S,
            "api",
            "1.0",
            "info",
            "user 42 logged in from 10.0.3.7",
        ),
        (
            T0 + 2 * S,
            "api",
            "1.0",
            "error",
            "payment provider timeout after 3000ms",
        ),
        (
            T0 + 3 * S,
            "db",
            "1.0",
            "info",
            "user 17 logged in from 10.0.0.1",
        ),
    ]);
    let enriched = p.enrich(Table::Logs, batch.clone(), &mut out).unwrap();
    assert_eq!(enriched.schema(), batch.schema());
    let ids = ids(&enriched);
    assert_eq!(ids[0], ids[1], "same template, same id");
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[0], ids[3], "services are separate namespaces");

    p.on_flush(&mut out);
    let mut rows = out.log_patterns.clone();
    rows.sort_by_key(|r| r.first_seen);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].service, "api");
    assert_eq!(rows[0].new_lines, 2);
    assert_eq!(rows[0].count, 2);
    assert!(rows[0].template.contains("<*>"), "{}", rows[0].template);

    // Nothing new since: nothing to report.
    let mut again = Output::default();
    p.on_flush(&mut again);
    assert!(again.log_patterns.is_empty());
}

#[test]
fn a_new_template_after_a_version_change_raises_an_alert() {
    let mut p = LogPatternsProcessor::new(quick()).unwrap();
    let mut out = Output::default();
    // Ten minutes of one template on 1.4.1.
    let mut rows = Vec::new();
    let msgs: Vec<String> = (0..600)
        .map(|i| format!("GET /api/items/{i} 200 in {}ms", i % 90))
        .collect();
    for (i, m) in msgs.iter().enumerate() {
        rows.push((T0 + i as i64 * S, "checkout", "1.4.1", "info", m.as_str()));
    }
    p.enrich(Table::Logs, logs(&rows), &mut out).unwrap();
    assert!(out.alerts.is_empty(), "{:?}", out.alerts);
    // 1.4.2 ships and a new error template appears.
    let t = T0 + 700 * S;
    let batch = logs(&[
        (
            t,
            "checkout",
            "1.4.2",
            "info",
            "GET /api/items/3 200 in 12ms",
        ),
        (
            t + S,
            "checkout",
            "1.4.2",
            "error",
            "NullPointerException in CartService.total",
        ),
    ]);
    p.enrich(Table::Logs, batch, &mut out).unwrap();
    let new: Vec<_> = out
        .alerts
        .iter()
        .filter(|a| a.alertname == "NewLogPattern")
        .collect();
    assert_eq!(new.len(), 1, "{:?}", out.alerts);
    assert_eq!(new[0].source, ALERT_SOURCE);
    assert_eq!(new[0].labels["version"], "1.4.2");
    assert!(new[0].annotations["summary"].contains("since version 1.4.2"));
    assert!(new[0].annotations["example"].contains("NullPointerException"));
}

#[test]
fn snapshot_and_restore_keep_ids() {
    let mut a = LogPatternsProcessor::new(quick()).unwrap();
    let mut out = Output::default();
    let first = logs(&[(T0, "api", "1", "info", "disk /var is 91% full")]);
    a.enrich(Table::Logs, first, &mut out).unwrap();
    let snap = crate::snapshot_to_vec(&mut a).unwrap();
    let mut b = LogPatternsProcessor::new(quick()).unwrap();
    b.restore(&snap).unwrap();
    let next = logs(&[(T0 + S, "api", "1", "info", "disk /data is 95% full")]);
    let ia = ids(&a.enrich(Table::Logs, next.clone(), &mut out).unwrap());
    let ib = ids(&b.enrich(Table::Logs, next, &mut out).unwrap());
    assert_eq!(ia, ib);
}

#[test]
fn an_invalid_miner_setting_is_an_error() {
    let mut cfg = LogPatternsConfig::default();
    cfg.miner.similarity_threshold = 3.0;
    assert!(cfg.validate().is_err());
    assert!(LogPatternsProcessor::new(cfg).is_err());
}
