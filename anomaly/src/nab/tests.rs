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
    let st = detect_directory(&data, &out, &DetectorConfig::default()).unwrap();
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

/// Regression guard for the method on the shared NAB subset. The floors sit a
/// few points under the measured figures (standard 53.5, reward_low_FP 49.8)
/// so that a real regression fails while small numeric changes do not.
#[test]
fn detector_scores_on_nab_subset() {
    let Some(nab) = data_root() else { return };
    let out = tempfile::tempdir().unwrap();
    let data = nab.join("data");
    detect_directory(&data, out.path(), &DetectorConfig::default()).unwrap();
    let files = load_corpus(&data, &nab.join("combined_windows.json"), out.path()).unwrap();
    let std_r = score::best_threshold(&files, &score::STANDARD);
    let low_fp = score::best_threshold(&files, &score::REWARD_LOW_FP);
    assert!(std_r.score() >= 50.0, "standard {}", std_r.score());
    assert!(low_fp.score() >= 46.0, "reward_low_FP {}", low_fp.score());
    let quiet = &std_r.per_category["artificialNoAnomaly"];
    assert!(quiet.fp_per_1000() < 0.5, "{}", quiet.fp_per_1000());
}
