use super::*;
use crate::Priority;

const H: i64 = 3_600_000_000_000;
const DAY: i64 = 24 * H;
const MIN: i64 = 60_000_000_000;

fn row<'a>(ts: i64, target: &'a str, cve: &'a str, pkg: &'a str, cvss: f64) -> Finding<'a> {
    Finding {
        ts,
        scanner: "trivy",
        target,
        package: pkg,
        installed_version: Some("1.0"),
        fixed_version: Some("1.1"),
        cve,
        cvss: Some(cvss),
        severity: "HIGH",
        known_exploited: None,
        epss: Some(0.01),
        service: Some("svc"),
    }
}

fn marker(ts: i64, target: &str) -> Finding<'_> {
    Finding {
        ts,
        scanner: "trivy",
        target,
        package: "",
        installed_version: None,
        fixed_version: None,
        cve: "",
        cvss: None,
        severity: "none",
        known_exploited: None,
        epss: None,
        service: None,
    }
}

fn tracker() -> PatchTracker {
    PatchTracker::new(PatchConfig::default(), Kev::default()).unwrap()
}

fn kinds(evs: &[PatchEvent]) -> Vec<(PatchEventKind, &str)> {
    evs.iter().map(|e| (e.kind, e.cve.as_str())).collect()
}

use PatchEventKind::*;

#[test]
fn newer_scan_closes_the_previous_one() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "img", "CVE-1", "a", 9.5), &mut out);
    t.ingest(&row(0, "img", "CVE-2", "b", 5.0), &mut out);
    assert!(out.is_empty(), "scan still open");
    t.ingest(&row(DAY, "img", "CVE-2", "b", 5.0), &mut out);
    assert_eq!(kinds(&out), [(Open, "CVE-1"), (Open, "CVE-2")]);
    assert_eq!(out[0].priority, Priority::High);
    assert_eq!(out[0].due, DAY * 7);
    assert_eq!(out[1].priority, Priority::Medium);
    assert!(out[0].dedup_key.starts_with("tocsin-patch-"));
    out.clear();
    // Another target's scan does not close this one.
    t.ingest(&row(2 * DAY, "other", "CVE-9", "z", 1.0), &mut out);
    assert!(out.is_empty());
    t.ingest(&row(2 * DAY, "img", "CVE-2", "b", 5.0), &mut out);
    assert_eq!(kinds(&out), [(Resolve, "CVE-1")]);
    assert!(
        out[0]
            .message
            .starts_with("fixed: not in scan of 1970-01-02T00:00:00Z"),
        "{}",
        out[0].message
    );
}

#[test]
fn watermark_closes_after_grace_only() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(10 * MIN, "img", "CVE-1", "a", 5.0), &mut out);
    t.on_watermark(10 * MIN + MIN - 1, &mut out);
    assert!(out.is_empty());
    // A straggler within the grace still belongs to the scan.
    t.ingest(&row(10 * MIN, "img", "CVE-2", "a", 5.0), &mut out);
    t.on_watermark(11 * MIN, &mut out);
    assert_eq!(kinds(&out), [(Open, "CVE-1"), (Open, "CVE-2")]);
    out.clear();
    // After closing, a late row of the same scan is dropped and counted.
    t.ingest(&row(10 * MIN, "img", "CVE-3", "a", 5.0), &mut out);
    t.on_watermark(20 * MIN, &mut out);
    assert!(out.is_empty());
    assert_eq!(t.stats().late_rows, 1);
}

#[test]
fn clean_scan_marker_resolves_everything() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "img", "CVE-1", "a", 5.0), &mut out);
    t.ingest(&row(0, "img", "CVE-2", "a", 5.0), &mut out);
    t.on_watermark(MIN, &mut out);
    out.clear();
    t.ingest(&marker(DAY, "img"), &mut out);
    t.on_watermark(DAY + MIN, &mut out);
    assert_eq!(kinds(&out), [(Resolve, "CVE-1"), (Resolve, "CVE-2")]);
    assert_eq!(t.tracked(), 0);
    assert_eq!(t.stats().markers, 1);
}

#[test]
fn at_risk_then_breach_exactly_once_each() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "img", "CVE-1", "a", 9.5), &mut out); // high: 7 days
    let mut all = Vec::new();
    for h in 0..(10 * 24) {
        t.on_watermark(h * H, &mut out);
        all.append(&mut out);
        if h % 24 == 0 && h > 0 {
            t.ingest(&row(h * H, "img", "CVE-1", "a", 9.5), &mut all);
        }
    }
    let esc: Vec<_> = all.iter().filter(|e| e.kind != Open).collect();
    assert_eq!(esc.len(), 2, "{:?}", kinds(&all));
    assert_eq!(esc[0].kind, AtRisk);
    assert_eq!(esc[0].ts, (7 * DAY) * 3 / 4);
    assert_eq!(esc[1].kind, Breached);
    assert_eq!(esc[1].ts, 7 * DAY);
    assert_eq!(esc[0].dedup_key, esc[1].dedup_key);
}

#[test]
fn breach_is_emitted_when_time_jumps_past_due() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "img", "CVE-1", "a", 9.5), &mut out);
    t.on_watermark(MIN, &mut out);
    out.clear();
    t.on_watermark(30 * DAY, &mut out);
    assert_eq!(kinds(&out), [(Breached, "CVE-1")]);
    out.clear();
    t.on_watermark(60 * DAY, &mut out);
    assert!(out.is_empty());
}

#[test]
fn rising_priority_shortens_due_and_updates() {
    let kev = Kev::default();
    let cfg = PatchConfig {
        internet_facing: vec!["svc".into()],
        ..PatchConfig::default()
    };
    let mut t = PatchTracker::new(cfg, kev).unwrap();
    let mut out = Vec::new();
    // Medium at first (score 5, not exploited by the row, epss low) …
    let mut r = row(0, "img", "CVE-2", "a", 5.0);
    r.service = Some("internal");
    t.ingest(&r, &mut out);
    t.on_watermark(MIN, &mut out);
    assert_eq!(out[0].priority, Priority::Medium);
    assert_eq!(out[0].due, 30 * DAY);
    out.clear();
    // … then the scanner flags it exploited and the service is exposed.
    let mut r = row(2 * DAY, "img", "CVE-2", "a", 5.0);
    r.known_exploited = Some(true);
    t.ingest(&r, &mut out);
    t.on_watermark(2 * DAY + MIN, &mut out);
    // The shortened due is already past, so the same watermark breaches.
    assert_eq!(kinds(&out), [(Update, "CVE-2"), (Breached, "CVE-2")]);
    assert_eq!(out[0].previous_priority, Some(Priority::Medium));
    assert_eq!(out[0].priority, Priority::Critical);
    // first_seen + 24 h is already past: due is pulled in, not reset.
    assert_eq!(out[0].due, DAY);
    assert!(out[0].reasons[0].starts_with("critical"));
    out.clear();
    // Falling back keeps the earlier commitment.
    t.ingest(&row(3 * DAY, "img", "CVE-2", "a", 5.0), &mut out);
    t.on_watermark(3 * DAY + MIN, &mut out);
    assert_eq!(kinds(&out), [(Update, "CVE-2")]);
    assert_eq!(out[0].due, DAY);
}

#[test]
fn duplicate_rows_and_packages_are_one_finding() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "img", "CVE-1", "libb", 5.0), &mut out);
    t.ingest(&row(0, "img", "CVE-1", "liba", 7.5), &mut out);
    t.ingest(&row(0, "img", "CVE-1", "libb", 5.0), &mut out);
    t.on_watermark(MIN, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].packages, ["liba", "libb"]);
    assert_eq!(out[0].cvss, Some(7.5));
    assert_eq!(t.tracked(), 1);
    let open = t.open_findings("img");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].dedup_key, out[0].dedup_key);
    assert_eq!(open[0].priority, Priority::Medium);
}

#[test]
fn snapshot_restore_continues_identically() {
    let rows: Vec<Finding<'_>> = vec![
        row(0, "a", "CVE-1", "x", 9.5),
        row(0, "a", "CVE-2", "x", 3.0),
        row(0, "b", "CVE-1", "x", 9.5),
        row(DAY, "a", "CVE-1", "x", 9.5),
        row(2 * DAY, "b", "CVE-3", "x", 9.5),
    ];
    let tail: Vec<Finding<'_>> = vec![
        row(DAY, "a", "CVE-1", "y", 9.5), // straggler of the pending scan
        marker(8 * DAY, "a"),
        row(9 * DAY, "b", "CVE-3", "x", 9.5),
    ];
    let run = |t: &mut PatchTracker, rows: &[Finding<'_>], wm: &[i64]| {
        let mut out = Vec::new();
        for r in rows {
            t.ingest(r, &mut out);
        }
        for w in wm {
            t.on_watermark(*w, &mut out);
        }
        out
    };
    let mut a = tracker();
    run(&mut a, &rows, &[DAY + 30_000_000_000]);
    let json = a.snapshot_json().unwrap();
    let mut b = PatchTracker::restore_json(PatchConfig::default(), Kev::default(), &json).unwrap();
    assert_eq!(b.snapshot_json().unwrap(), json);
    let wm = [3 * DAY, 8 * DAY + MIN, 20 * DAY];
    let ea = run(&mut a, &tail, &wm);
    let eb = run(&mut b, &tail, &wm);
    assert!(!ea.is_empty());
    assert_eq!(ea, eb);
    assert_eq!(a.snapshot_json().unwrap(), b.snapshot_json().unwrap());
    assert!(matches!(
        PatchTracker::restore_json(PatchConfig::default(), Kev::default(), "{}"),
        Err(RestoreError::Json(_))
    ));
}

#[test]
fn cap_evicts_low_oldest_first_and_reports() {
    let cfg = PatchConfig {
        max_tracked: 3,
        ..PatchConfig::default()
    };
    let mut t = PatchTracker::new(cfg, Kev::default()).unwrap();
    let mut out = Vec::new();
    t.ingest(&row(0, "a", "CVE-1", "x", 2.0), &mut out);
    t.ingest(&row(0, "b", "CVE-2", "x", 9.5), &mut out);
    t.ingest(&row(MIN, "c", "CVE-3", "x", 2.0), &mut out);
    t.on_watermark(3 * MIN, &mut out);
    assert_eq!(t.tracked(), 3);
    out.clear();
    t.ingest(&row(5 * MIN, "d", "CVE-4", "x", 9.5), &mut out);
    t.on_watermark(7 * MIN, &mut out);
    assert_eq!(kinds(&out), [(Open, "CVE-4"), (Evicted, "CVE-1")]);
    assert_eq!(t.tracked(), 3);
    assert_eq!(t.stats().evicted, 1);
}

#[test]
fn restore_with_new_kev_list_reassesses_at_next_scan() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "img", "CVE-1", "a", 5.0), &mut out);
    t.on_watermark(MIN, &mut out);
    assert_eq!(out[0].priority, Priority::Medium);
    let json = t.snapshot_json().unwrap();
    let mut t = PatchTracker::restore_json(PatchConfig::default(), Kev::from_ids(["CVE-1"]), &json)
        .unwrap();
    out.clear();
    t.ingest(&row(DAY, "img", "CVE-1", "a", 5.0), &mut out);
    t.on_watermark(DAY + MIN, &mut out);
    assert_eq!(kinds(&out), [(Update, "CVE-1")]);
    assert_eq!(out[0].priority, Priority::High);
    assert!(out[0].kev);
    assert_eq!(out[0].due, 7 * DAY);
}

#[test]
fn retired_target_resolves_and_stops_escalating() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.ingest(&row(0, "old:v1", "CVE-1", "a", 9.5), &mut out);
    t.on_watermark(MIN, &mut out);
    t.ingest(&row(DAY, "old:v1", "CVE-2", "a", 9.5), &mut out); // pending
    out.clear();
    t.retire_target("old:v1", 2 * DAY, &mut out);
    assert_eq!(kinds(&out), [(Resolve, "CVE-1")]);
    assert!(out[0].message.starts_with("target retired"));
    assert_eq!(t.tracked(), 0);
    out.clear();
    t.on_watermark(100 * DAY, &mut out);
    assert!(out.is_empty(), "{:?}", kinds(&out));
}
