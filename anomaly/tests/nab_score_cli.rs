//! `nab-score` as a user runs it: a corpus on disk, the binary, its table.

use std::path::Path;
use std::process::{Command, Output};

/// One 200-row file with one window over rows 100–120 and precomputed
/// scores: 0.9 at row 100 (inside the window), 0.6 at row 50 (outside).
fn corpus(dir: &Path) {
    let cat = "realTest";
    for sub in ["data", "scores"] {
        std::fs::create_dir_all(dir.join(sub).join(cat)).unwrap();
    }
    let ts = |i: usize| {
        let m = i * 5;
        format!("2015-01-01 {:02}:{:02}:00", m / 60, m % 60)
    };
    let mut data = String::from("timestamp,value\n");
    let mut scores = String::from("timestamp,value,anomaly_score\n");
    for i in 0..200 {
        let s = match i {
            100 => 0.9,
            50 => 0.6,
            _ => 0.0,
        };
        data.push_str(&format!("{},{}\n", ts(i), i % 7));
        scores.push_str(&format!("{},{},{s}\n", ts(i), i % 7));
    }
    std::fs::write(dir.join("data").join(cat).join("f.csv"), data).unwrap();
    std::fs::write(dir.join("scores").join(cat).join("f.csv"), scores).unwrap();
    let windows = format!(
        r#"{{"{cat}/f.csv": [["{}.000000", "{}.000000"]]}}"#,
        ts(100),
        ts(120)
    );
    std::fs::write(dir.join("windows.json"), windows).unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nab-score"))
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--windows")
        .arg(dir.join("windows.json"))
        .arg("--scores")
        .arg(dir.join("scores"))
        .args(extra)
        .output()
        .unwrap()
}

/// TP, FN and FP of the `standard` row.
fn standard_counts(out: &Output) -> (u32, u32, u32) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("standard"))
        .unwrap_or_else(|| panic!("no standard row in {text}"));
    let f: Vec<u32> = line
        .split_whitespace()
        .skip(3)
        .map(|v| v.parse().unwrap())
        .collect();
    (f[0], f[1], f[2])
}

#[test]
fn a_fixed_threshold_replaces_the_corpus_sweep() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    // The sweep keeps the true detection and drops the false one.
    let best = run(dir.path(), &[]);
    assert!(best.status.success());
    assert_eq!(standard_counts(&best), (1, 0, 0));
    // At 0.5 the false alarm at row 50 counts too.
    let low = run(dir.path(), &["--threshold", "0.5"]);
    assert!(low.status.success());
    assert_eq!(standard_counts(&low), (1, 0, 1));
    assert!(String::from_utf8_lossy(&low.stdout).contains("fixed threshold 0.5000"));
    // Above every score nothing is detected: the null detector's 0.
    let high = run(dir.path(), &["--threshold", "0.95"]);
    assert_eq!(standard_counts(&high), (0, 1, 0));
    assert!(String::from_utf8_lossy(&high.stdout).contains("standard           0.00"));
}

#[test]
fn a_threshold_that_is_not_a_number_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let out = run(dir.path(), &["--threshold", "NaN"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threshold must be a finite number"));
}
