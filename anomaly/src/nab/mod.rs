//! Numenta Anomaly Benchmark harness: loads a NAB-layout directory
//! (`<category>/<file>.csv` with `timestamp,value`) and its windows file, runs
//! the detector over every file, and scores detector output the NAB way
//! (see [`score`]).

pub mod score;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::{DetectorConfig, SeriesDetector};

/// Errors of the NAB harness.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    /// Filesystem error on a path.
    #[error("{path}: {source}")]
    Io {
        /// Offending path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Malformed CSV.
    #[error("{path}: {source}")]
    Csv {
        /// Offending path.
        path: PathBuf,
        /// Underlying error.
        source: csv::Error,
    },
    /// Malformed windows JSON.
    #[error("{path}: {source}")]
    Json {
        /// Offending path.
        path: PathBuf,
        /// Underlying error.
        source: serde_json::Error,
    },
    /// A timestamp that is not `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    #[error("{path}: bad timestamp {value:?}")]
    Timestamp {
        /// Offending path.
        path: PathBuf,
        /// The text that failed to parse.
        value: String,
    },
    /// A row whose value or score is not a number.
    #[error("{path}: row {row}: bad number {value:?}")]
    Number {
        /// Offending path.
        path: PathBuf,
        /// 1-based data row.
        row: usize,
        /// The text that failed to parse.
        value: String,
    },
    /// A score file that does not line up with its data file.
    #[error("{path}: {reason}")]
    Mismatch {
        /// Offending path.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

/// One loaded series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Timestamps as written in the file (kept to write them back verbatim).
    pub raw_timestamps: Vec<String>,
    /// Timestamps in nanoseconds since the Unix epoch (naive times read as UTC).
    pub ts_ns: Vec<i64>,
    /// Values.
    pub values: Vec<f64>,
}

/// Parses a NAB timestamp (`YYYY-MM-DD HH:MM:SS` with optional fraction) to
/// nanoseconds since the epoch, treating it as UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    t.and_utc().timestamp_nanos_opt()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NabError + '_ {
    move |source| NabError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> NabError + '_ {
    move |source| NabError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads columns `timestamp` and `col` (by header name) of a CSV file.
fn read_columns(path: &Path, col: &str) -> Result<Series, NabError> {
    let mut rdr = csv::Reader::from_path(path).map_err(csv_err(path))?;
    let headers = rdr.headers().map_err(csv_err(path))?.clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| NabError::Mismatch {
                path: path.to_path_buf(),
                reason: format!("missing column {name:?}"),
            })
    };
    let ti = find("timestamp")?;
    let vi = find(col)?;
    let mut out = Series {
        raw_timestamps: Vec::new(),
        ts_ns: Vec::new(),
        values: Vec::new(),
    };
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(csv_err(path))?;
        let ts = rec.get(ti).unwrap_or_default();
        let v = rec.get(vi).unwrap_or_default();
        let t = parse_timestamp(ts).ok_or_else(|| NabError::Timestamp {
            path: path.to_path_buf(),
            value: ts.to_string(),
        })?;
        let x: f64 = v.trim().parse().map_err(|_| NabError::Number {
            path: path.to_path_buf(),
            row: row + 1,
            value: v.to_string(),
        })?;
        out.raw_timestamps.push(ts.to_string());
        out.ts_ns.push(t);
        out.values.push(x);
    }
    Ok(out)
}

/// Loads a `timestamp,value` data file.
pub fn load_series(path: &Path) -> Result<Series, NabError> {
    read_columns(path, "value")
}

/// Loads the `anomaly_score` column of a detector output file.
pub fn load_scores(path: &Path) -> Result<Series, NabError> {
    read_columns(path, "anomaly_score")
}

/// Anomaly windows per file key (`category/file.csv`) as `[start, end]`
/// nanosecond pairs.
pub type Windows = BTreeMap<String, Vec<(i64, i64)>>;

/// Loads a NAB windows JSON file (`{"cat/file.csv": [["start","end"], ...]}`).
pub fn load_windows(path: &Path) -> Result<Windows, NabError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let raw: BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_str(&text).map_err(|source| NabError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let mut out = Windows::new();
    for (k, ws) in raw {
        let mut v = Vec::with_capacity(ws.len());
        for [a, b] in ws {
            let p = |s: &str| {
                parse_timestamp(s).ok_or_else(|| NabError::Timestamp {
                    path: path.to_path_buf(),
                    value: s.to_string(),
                })
            };
            v.push((p(&a)?, p(&b)?));
        }
        v.sort_unstable();
        out.insert(k, v);
    }
    Ok(out)
}

/// Lists data files of a NAB-layout directory as sorted `category/file.csv` keys.
pub fn list_files(data_dir: &Path) -> Result<Vec<String>, NabError> {
    let mut keys = Vec::new();
    for cat in fs::read_dir(data_dir).map_err(io_err(data_dir))? {
        let cat = cat.map_err(io_err(data_dir))?;
        let cpath = cat.path();
        if !cpath.is_dir() {
            continue;
        }
        for f in fs::read_dir(&cpath).map_err(io_err(&cpath))? {
            let f = f.map_err(io_err(&cpath))?;
            let p = f.path();
            if p.extension().is_some_and(|e| e == "csv") {
                keys.push(format!(
                    "{}/{}",
                    cat.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ));
            }
        }
    }
    keys.sort();
    Ok(keys)
}

/// Totals of a [`detect_directory`] run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectStats {
    /// Files processed.
    pub files: usize,
    /// Points fed to detectors.
    pub points: u64,
    /// Time spent inside the detectors only (excludes CSV I/O).
    pub detect_time: Duration,
}

impl DetectStats {
    /// Detector throughput in points per second.
    pub fn points_per_sec(&self) -> f64 {
        self.points as f64 / self.detect_time.as_secs_f64().max(1e-12)
    }
}

/// Where a NAB run's detectors get the value range of their series from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RangeSource {
    /// NAB's harness convention: every detector is handed its file's
    /// minimum and maximum before the first row (NAB's `inputMin` and
    /// `inputMax`, which HTM and CAD OSE use to set their encoders) and
    /// its probationary period. Here the range becomes the configuration's
    /// `value_range` and the novelty member's `novelty_rest` a fifth of the
    /// period ([`harness_rest`]), unless the configuration declares a range,
    /// in which case it is used as it is.
    #[default]
    Harness,
    /// What a live series has: the configured `value_range` if any, else the
    /// range learned from the series' first points.
    Streaming,
}

/// Runs a fresh [`SeriesDetector`] over every file of `input_dir` and writes
/// `timestamp,value,anomaly_score` to `out_dir/<category>/<file>.csv`.
pub fn detect_directory(
    input_dir: &Path,
    out_dir: &Path,
    cfg: &DetectorConfig,
    range: RangeSource,
) -> Result<DetectStats, NabError> {
    let keys = list_files(input_dir)?;
    let mut stats = DetectStats {
        files: 0,
        points: 0,
        detect_time: Duration::ZERO,
    };
    for key in &keys {
        let series = load_series(&input_dir.join(key))?;
        let start = Instant::now();
        let scores = run_detector(&series, cfg, range);
        stats.detect_time += start.elapsed();
        stats.points += series.values.len() as u64;
        stats.files += 1;
        let out = out_dir.join(key);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut w = csv::Writer::from_path(&out).map_err(csv_err(&out))?;
        w.write_record(["timestamp", "value", "anomaly_score"])
            .map_err(csv_err(&out))?;
        for ((t, v), s) in series
            .raw_timestamps
            .iter()
            .zip(&series.values)
            .zip(&scores)
        {
            w.write_record([t.as_str(), &v.to_string(), &s.to_string()])
                .map_err(csv_err(&out))?;
        }
        w.flush().map_err(io_err(&out))?;
    }
    Ok(stats)
}

/// The novelty member's rest period under the harness convention: a fifth
/// of the file's probationary period, which NAB's harness hands every
/// detector and CAD OSE's NAB wrapper silences after an alarm (120 points
/// on the common 4,032-row files, the streaming default).
pub fn harness_rest(rows: usize) -> u32 {
    u32::try_from(score::probation_rows(rows) / 5).unwrap_or(u32::MAX)
}

/// Scores of a fresh detector over a whole series.
pub fn run_detector(series: &Series, cfg: &DetectorConfig, range: RangeSource) -> Vec<f64> {
    let mut d = match (range, cfg.value_range) {
        (RangeSource::Harness, None) => {
            let finite = series.values.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f64::INFINITY, f64::min);
            let hi = finite.fold(f64::NEG_INFINITY, f64::max);
            let declared = (lo <= hi).then_some([lo, hi]);
            SeriesDetector::new(&DetectorConfig {
                value_range: declared,
                novelty_rest: harness_rest(series.values.len()),
                ..cfg.clone()
            })
        }
        _ => SeriesDetector::new(cfg),
    };
    series
        .ts_ns
        .iter()
        .zip(&series.values)
        .map(|(&t, &v)| d.update(t, v).score)
        .collect()
}

/// Loads data, windows and score files into a scorable corpus. Every data file
/// must have a score file with the same number of rows.
pub fn load_corpus(
    data_dir: &Path,
    windows_file: &Path,
    scores_dir: &Path,
) -> Result<Vec<score::ScoredFile>, NabError> {
    let windows = load_windows(windows_file)?;
    let mut out = Vec::new();
    for key in list_files(data_dir)? {
        let data = load_series(&data_dir.join(&key))?;
        let spath = scores_dir.join(&key);
        let scores = load_scores(&spath)?;
        if scores.ts_ns != data.ts_ns {
            return Err(NabError::Mismatch {
                path: spath,
                reason: "timestamps differ from the data file".into(),
            });
        }
        let ws = windows.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        out.push(score::ScoredFile::new(&key, &data.ts_ns, ws, scores.values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
