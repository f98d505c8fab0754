//! Reading the lake's file names.

use super::*;

// ---------------------------------------------------------------------------
// Lake files

/// Every segment file of `table` under the lake: (topic, partition, first, last).
pub fn lake_segments(data_dir: &Path, table: &str) -> Vec<(String, i32, i64, i64)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&data_dir.join("lake").join(table), &mut files);
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".parquet") else {
            continue;
        };
        let parts: Vec<&str> = stem.rsplitn(4, '+').collect();
        assert_eq!(parts.len(), 4, "unexpected lake file name {}", f.display());
        out.push((
            parts[3].to_owned(),
            parts[2].parse().expect("partition"),
            parts[1].parse().expect("first offset"),
            parts[0].parse().expect("last offset"),
        ));
    }
    out.sort();
    out.dedup();
    out
}

/// Asserts that no two segment files of a partition cover the same offset.
pub fn assert_segments_disjoint(segments: &[(String, i32, i64, i64)]) {
    let mut by_partition: BTreeMap<(String, i32), Vec<(i64, i64)>> = BTreeMap::new();
    for (t, p, a, b) in segments {
        assert!(a <= b, "segment {t}+{p}+{a}+{b} is empty or reversed");
        by_partition
            .entry((t.clone(), *p))
            .or_default()
            .push((*a, *b));
    }
    for ((t, p), mut ranges) in by_partition {
        ranges.sort();
        for w in ranges.windows(2) {
            assert!(
                w[0].1 < w[1].0,
                "lake segments of {t}/{p} overlap: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
    }
}
