use super::*;
use std::path::PathBuf;

/// Shared data root: `TOCSIN_SHARED_DATA` or the path relative to the crate.
fn data_root() -> Option<PathBuf> {
    let root = std::env::var_os("TOCSIN_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    let nab = root.join("nab");
    if nab.join("combined_windows.json").exists() {
        Some(nab)
    } else {
        eprintln!(
            "note: NAB data not found under {}; skipping",
            root.display()
        );
        None
    }
}

#[test]
fn timestamps_parse_with_and_without_fraction() {
    let a = parse_timestamp("2014-02-14 14:30:00").unwrap();
    let b = parse_timestamp("2014-02-14 14:30:00.000000").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, 1_392_388_200 * 1_000_000_000);
    assert!(parse_timestamp("yesterday").is_none());
}

#[test]
fn detect_and_score_roundtrip_on_tiny_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(data.join("cat")).unwrap();
    let mut csv = String::from("timestamp,value\n");
    for i in 0..1000 {
        let t = chrono::DateTime::from_timestamp(1_400_000_000 + i * 300, 0)
            .unwrap()
            .naive_utc();
        let v = if (600..610).contains(&i) {
            50.0
        } else {
            10.0 + (i % 7) as f64 * 0.1
        };
        csv.push_str(&format!("{},{v}\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    fs::write(data.join("cat/a.csv"), csv).unwrap();
    let ws = dir.path().join("windows.json");
    let start = chrono::DateTime::from_timestamp(1_400_000_000 + 560 * 300, 0)
        .unwrap()
        .naive_utc();
    let end = chrono::DateTime::from_timestamp(1_400_000_000 + 660 * 300, 0)
        .unwrap()
        .naive_utc();
    fs::write(
        &ws,
        format!(
            r#"{{"cat/a.csv": [["{}", "{}"]]}}"#,
            start.format("%Y-%m-%d %H:%M:%S%.6f"),
            end.format("%Y-%m-%d %H:%M:%S%.6f")
        ),
    )
    .unwrap();
    let out = dir.path().join("scores");
    let st = detect_directory(
        &data,
        &out,
        &DetectorConfig::default(),
        RangeSource::Streaming,
    )
    .unwrap();
    assert_eq!((st.files, st.points), (1, 1000));
    let files = load_corpus(&data, &ws, &out).unwrap();
    assert_eq!(files[0].windows, vec![(560, 660)]);
    let r = score::best_threshold(&files, &score::STANDARD);
    // The jump sits 40 rows into a 101-row window.
    assert_eq!(r.total.tp, 1);
    assert!(r.score() > 50.0, "{}", r.score());
}

#[test]
fn real_nab_subset_loads() {
    let Some(nab) = data_root() else { return };
    let keys = list_files(&nab.join("data")).unwrap();
    assert!(keys.len() >= 28);
    let w = load_windows(&nab.join("combined_windows.json")).unwrap();
    for k in &keys {
        assert!(w.contains_key(k), "{k} has no windows entry");
    }
}

/// (standard, reward_low_FP, false alarms per 1,000 points on the no-anomaly
/// series at the standard threshold) of the default detector on the shared
/// NAB subset; `None` when the data is not there.
fn scores_on_nab_subset(range: RangeSource) -> Option<(f64, f64, f64)> {
    let nab = data_root()?;
    let out = tempfile::tempdir().unwrap();
    let data = nab.join("data");
    detect_directory(&data, out.path(), &DetectorConfig::default(), range).unwrap();
    let files = load_corpus(&data, &nab.join("combined_windows.json"), out.path()).unwrap();
    let std_r = score::best_threshold(&files, &score::STANDARD);
    let low_fp = score::best_threshold(&files, &score::REWARD_LOW_FP);
    let quiet = std_r.per_category["artificialNoAnomaly"].fp_per_1000();
    Some((std_r.score(), low_fp.score(), quiet))
}

/// Regression guard for the method on the shared NAB subset. The floors sit a
/// few points under the measured figures (standard 53.5, reward_low_FP 49.8)
/// so that a real regression fails while small numeric changes do not.
#[test]
fn detector_scores_on_nab_subset() {
    let Some((standard, low_fp, quiet)) = scores_on_nab_subset(RangeSource::Streaming) else {
        return;
    };
    assert!(standard >= 50.0, "standard {standard}");
    assert!(low_fp >= 46.0, "reward_low_FP {low_fp}");
    assert!(quiet < 0.5, "{quiet}");
}

/// The same guard under NAB's harness convention (each file's min and max
/// declared up front, as NAB hands them to every detector), where the
/// level-novelty member runs: measured 73.95 standard, 67.85 reward_low_FP.
#[test]
fn detector_scores_on_nab_subset_with_the_harness_range() {
    let Some((standard, low_fp, quiet)) = scores_on_nab_subset(RangeSource::Harness) else {
        return;
    };
    assert!(standard >= 70.0, "standard {standard}");
    assert!(low_fp >= 63.0, "reward_low_FP {low_fp}");
    assert!(quiet < 0.5, "{quiet}");
}

#[test]
fn the_harness_range_is_the_files_min_and_max_unless_one_is_configured() {
    let ts_ns: Vec<i64> = (0..400).map(|i| i * 300_000_000_000).collect();
    let values: Vec<f64> = (0..400)
        .map(|i| if i == 350 { 90.0 } else { f64::from(i % 7) })
        .collect();
    let series = Series {
        raw_timestamps: vec![String::new(); 400],
        ts_ns: ts_ns.clone(),
        values: values.clone(),
    };
    let cfg = DetectorConfig::default();
    let declared = DetectorConfig {
        value_range: Some([0.0, 90.0]),
        novelty_rest: harness_rest(400),
        ..cfg.clone()
    };
    assert_eq!(harness_rest(400), 12);
    assert_eq!(harness_rest(4032), 120);
    let mut by_hand = SeriesDetector::new(&declared);
    let expected: Vec<f64> = ts_ns
        .iter()
        .zip(&values)
        .map(|(&t, &v)| by_hand.update(t, v).score)
        .collect();
    assert_eq!(run_detector(&series, &cfg, RangeSource::Harness), expected);
    // Streaming has no range: the member is silent and the spike scores
    // only through the residual statistics.
    let streaming = run_detector(&series, &cfg, RangeSource::Streaming);
    assert!(
        streaming[350] < expected[350],
        "{} {}",
        streaming[350],
        expected[350]
    );
    // A configured range wins over the file's.
    let other = DetectorConfig {
        value_range: Some([0.0, 1000.0]),
        ..cfg
    };
    let mut by_hand = SeriesDetector::new(&other);
    // (a configured range is used as configured, rest period included)
    let expected_other: Vec<f64> = ts_ns
        .iter()
        .zip(&values)
        .map(|(&t, &v)| by_hand.update(t, v).score)
        .collect();
    assert_eq!(
        run_detector(&series, &other, RangeSource::Harness),
        expected_other
    );
}
