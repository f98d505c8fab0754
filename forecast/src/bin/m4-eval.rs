//! M4-style backtest of the forecaster on a NAB-layout directory: hourly
//! (resampled) and native 5-minute resource series, rolling origins,
//! sMAPE/MASE/OWA against Naive2 for our forecaster, Theta and Naive2, plus
//! export of the windows and scoring of external forecasts (statsforecast).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use tocsin_forecast::io::{self, Series};
use tocsin_forecast::m4::{self, Scores};
use tocsin_forecast::windows::{origins, resample_mean};
use tocsin_forecast::{ForecastConfig, forecast, season_candidates_for_step};

#[derive(Parser, Debug)]
#[command(about = "M4-scored backtest of tocsin-forecast on NAB-layout data")]
struct Args {
    /// NAB `data` directory (default: $TOCSIN_SHARED_DATA/nab/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Forecast horizon in steps.
    #[arg(long, default_value_t = 48)]
    horizon: usize,
    /// Steps between consecutive forecast origins.
    #[arg(long, default_value_t = 48)]
    every: usize,
    /// Origins lie in this trailing fraction of each series.
    #[arg(long, default_value_t = 0.5)]
    tail: f64,
    /// Resolutions to evaluate: `hourly`, `5min` or both (comma separated).
    #[arg(long, default_value = "hourly,5min")]
    resolutions: String,
    /// Write each resolution's training windows (`windows_<res>.csv`, long
    /// format, ids `<file>@<res>@<origin>`) here, for external forecasters.
    #[arg(long)]
    export_dir: Option<PathBuf>,
    /// Forecast CSVs (`series_id,timestamp,point,lower,upper,model`) to score
    /// on the same windows; `model` groups the rows.
    #[arg(long)]
    score_external: Vec<PathBuf>,
    /// Also print per-series averages (one line per file and method).
    #[arg(long)]
    per_series: bool,
    /// Draw an SVG per resource series (its latest window, with the history's
    /// maximum as an example limit) into this directory.
    #[arg(long)]
    plot_dir: Option<PathBuf>,
    /// Write our forecasts of the resource set here as CSV.
    #[arg(long)]
    write_forecasts: Option<PathBuf>,
    /// An extra set `NAME=DIR`: every `timestamp,value` CSV in DIR, scored
    /// at the hourly resolution only (finer series are resampled to hourly
    /// means). Repeatable. `bench/public_hourly.sh` builds one from public
    /// hourly data.
    #[arg(long, value_parser = parse_extra_set)]
    extra_set: Vec<(String, PathBuf)>,
}

fn parse_extra_set(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected NAME=DIR, got `{s}`")),
    }
}

/// Name fragments selecting the capacity-like real series.
const RESOURCE_PATTERNS: [&str; 4] = ["cpuutilization", "networkin", "requestcount", "diskwrite"];

/// One backtest window.
struct Window {
    id: String,
    set: String,
    insample: Vec<f64>,
    actual: Vec<f64>,
    start_ts: i64,
    insample_ts: Vec<i64>,
    step: i64,
}

fn data_dir(args: &Args) -> PathBuf {
    args.data_dir.clone().unwrap_or_else(|| {
        let root = std::env::var("TOCSIN_SHARED_DATA")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into());
        Path::new(&root).join("nab/data")
    })
}

/// The NAB sets (`resource`, `artificial`) and the extra sets, as
/// (set, directory) pairs.
fn set_dirs(dir: &Path, extra: &[(String, PathBuf)]) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = [
        ("realAWSCloudwatch", "resource"),
        ("artificialNoAnomaly", "artificial"),
        ("artificialWithAnomaly", "artificial"),
    ]
    .into_iter()
    .map(|(sub, set)| (set.to_owned(), dir.join(sub)))
    .collect();
    out.extend(extra.iter().cloned());
    out
}

fn load(sets: &[(String, PathBuf)]) -> Result<Vec<(String, Series)>, String> {
    let mut out = Vec::new();
    for (set, d) in sets {
        let set = set.as_str();
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        for p in files {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = stem.to_lowercase().replace(['_', '-'], "");
            if set == "resource" && !RESOURCE_PATTERNS.iter().any(|pat| key.contains(pat)) {
                continue;
            }
            let f = std::fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let s = io::read_series_csv(f, &stem).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push((set.to_owned(), s));
        }
    }
    Ok(out)
}

/// Whether `set` is one of NAB's, which are scored at every resolution.
fn is_nab_set(set: &str) -> bool {
    matches!(set, "resource" | "artificial")
}

fn windows(series: &[(String, Series)], res: &str, args: &Args) -> Vec<Window> {
    let mut out = Vec::new();
    for (set, s) in series {
        if res != "hourly" && !is_nab_set(set) {
            continue;
        }
        let s = match res {
            "hourly" => resample_mean(s, 3600),
            _ => s.clone(),
        };
        let Some(step) = s.step_seconds else { continue };
        for (j, o) in origins(s.values.len(), args.horizon, args.every, args.tail)
            .into_iter()
            .enumerate()
        {
            out.push(Window {
                id: format!("{}@{res}@{j}", s.id),
                set: set.clone(),
                insample: s.values[..o].to_vec(),
                actual: s.values[o..o + args.horizon].to_vec(),
                start_ts: s.timestamps[o],
                insample_ts: s.timestamps[..o].to_vec(),
                step,
            });
        }
    }
    out
}

#[derive(Default)]
struct MethodStats {
    scores: Scores,
    secs: f64,
    covered: usize,
    points: usize,
    per_series: BTreeMap<String, Scores>,
}

fn score(w: &Window, f: &[f64], m: usize, st: &mut MethodStats) -> bool {
    let Some(mase) = m4::mase(&w.insample, &w.actual, f, m) else {
        return false;
    };
    let smape = m4::smape(&w.actual, f);
    st.scores.add(smape, mase);
    let file = w.id.split('@').next().unwrap_or_default().to_string();
    st.per_series.entry(file).or_default().add(smape, mase);
    true
}

fn export(dir: &Path, res: &str, ws: &[Window]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let train: Vec<Series> = ws
        .iter()
        .map(|w| Series {
            id: w.id.clone(),
            timestamps: w.insample_ts.clone(),
            values: w.insample.clone(),
            step_seconds: Some(w.step),
        })
        .collect();
    let path = dir.join(format!("windows_{res}.csv"));
    let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    io::write_long_csv(f, &train).map_err(|e| e.to_string())?;
    eprintln!("exported {} windows to {}", ws.len(), path.display());
    Ok(())
}

/// External forecasts keyed by model, then window id.
type External = BTreeMap<String, HashMap<String, Vec<f64>>>;

fn read_external(paths: &[PathBuf]) -> Result<External, String> {
    let mut out: External = BTreeMap::new();
    for p in paths {
        let mut rdr = csv::Reader::from_path(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut rows: BTreeMap<(String, String), Vec<(i64, f64)>> = BTreeMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| format!("{}: row {}: {e}", p.display(), i + 1))?;
            let bad = |what: &str| format!("{}: row {}: bad {what}", p.display(), i + 1);
            let id = rec.get(0).ok_or_else(|| bad("series_id"))?.to_string();
            let ts = rec
                .get(1)
                .and_then(io::parse_timestamp)
                .ok_or_else(|| bad("timestamp"))?;
            let v: f64 = rec
                .get(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("point"))?;
            let model = rec.get(5).ok_or_else(|| bad("model"))?.to_string();
            rows.entry((model, id)).or_default().push((ts, v));
        }
        for ((model, id), mut pts) in rows {
            pts.sort_by_key(|p| p.0);
            out.entry(model)
                .or_default()
                .insert(id, pts.into_iter().map(|p| p.1).collect());
        }
    }
    Ok(out)
}

fn plot_window(dir: &Path, w: &Window, f: &tocsin_forecast::Forecast) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // The last week of history is enough context for a 48-step forecast.
    let keep = w.insample.len().min((7 * 86_400 / w.step.max(1)) as usize);
    let start = w.insample.len() - keep;
    let history: Vec<(i64, f64)> = w.insample_ts[start..]
        .iter()
        .copied()
        .zip(w.insample[start..].iter().copied())
        .collect();
    let ts: Vec<i64> = (0..f.point.len() as i64)
        .map(|k| w.start_ts + k * w.step)
        .collect();
    let limit = w.insample.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let path = dir.join(format!("{}.svg", w.id.replace('@', "_")));
    tocsin_forecast::plot::plot_svg(&path, &history, &ts, f, Some(limit), &w.id)
        .map_err(|e| e.to_string())
}

fn run(args: &Args) -> Result<(), String> {
    let dir = data_dir(args);
    if !dir.exists() {
        return Err(format!("data directory {} not found", dir.display()));
    }
    let sets = set_dirs(&dir, &args.extra_set);
    let series = load(&sets)?;
    let mut set_names: Vec<&str> = Vec::new();
    for (set, _) in &sets {
        if !set_names.contains(&set.as_str()) {
            set_names.push(set);
        }
    }
    let external = read_external(&args.score_external)?;
    let mut forecast_rows: Vec<(String, i64, i64, tocsin_forecast::Forecast)> = Vec::new();
    for res in args.resolutions.split(',').map(str::trim) {
        let (step, m) = match res {
            "hourly" => (3600u64, 24usize),
            "5min" => (300, 288),
            other => return Err(format!("unknown resolution `{other}`")),
        };
        let ws = windows(&series, res, args);
        if let Some(d) = &args.export_dir {
            export(d, res, &ws)?;
        }
        let config = ForecastConfig {
            horizon: args.horizon,
            season_candidates: season_candidates_for_step(step),
            ..ForecastConfig::default()
        };
        for &set in &set_names {
            let mut stats: BTreeMap<String, MethodStats> = BTreeMap::new();
            let mut models: BTreeMap<String, usize> = BTreeMap::new();
            let (mut used, mut skipped, mut lens) = (0usize, 0usize, 0usize);
            for w in ws.iter().filter(|w| w.set == set) {
                if !m4::mase_scale(&w.insample, m).is_finite()
                    || m4::mase_scale(&w.insample, m) <= 0.0
                {
                    skipped += 1;
                    continue;
                }
                used += 1;
                lens += w.insample.len();
                let t = Instant::now();
                let n2 = m4::naive2(&w.insample, args.horizon, m);
                let st = stats.entry("Naive2".into()).or_default();
                st.secs += t.elapsed().as_secs_f64();
                score(w, &n2, m, st);

                let t = Instant::now();
                let th = m4::theta_classic(&w.insample, args.horizon, m);
                let st = stats.entry("Theta".into()).or_default();
                st.secs += t.elapsed().as_secs_f64();
                score(w, &th, m, st);

                let t = Instant::now();
                let ours = forecast(&w.insample, &config).map_err(|e| format!("{}: {e}", w.id))?;
                let st = stats.entry("tocsin".into()).or_default();
                st.secs += t.elapsed().as_secs_f64();
                score(w, &ours.point, m, st);
                st.points += w.actual.len();
                st.covered += w
                    .actual
                    .iter()
                    .zip(ours.lower.iter().zip(&ours.upper))
                    .filter(|(a, (lo, up))| lo <= a && a <= up)
                    .count();
                *models.entry(ours.model.clone()).or_default() += 1;
                if set == "resource" {
                    if let Some(dir) = args.plot_dir.as_deref().filter(|_| w.id.ends_with("@0")) {
                        plot_window(dir, w, &ours)?;
                    }
                    forecast_rows.push((w.id.clone(), w.start_ts, w.step, ours));
                }
                for (name, by_id) in &external {
                    let st = stats.entry(name.clone()).or_default();
                    match by_id.get(&w.id) {
                        Some(f) if f.len() == w.actual.len() => {
                            score(w, f, m, st);
                        }
                        _ => {
                            return Err(format!(
                                "{name}: no {}-step forecast for window {}",
                                w.actual.len(),
                                w.id
                            ));
                        }
                    }
                }
            }
            if used == 0 {
                continue;
            }
            let naive = stats.get("Naive2").map(|s| s.scores).unwrap_or_default();
            println!(
                "\n== {res} / {set}: {used} windows (skipped {skipped} with zero MASE scale), \
                 mean history {:.0}, horizon {}, m = {m}",
                lens as f64 / used as f64,
                args.horizon
            );
            println!(
                "{:<12} {:>9} {:>9} {:>7} {:>12}",
                "method", "sMAPE", "MASE", "OWA", "series/s"
            );
            for (name, st) in &stats {
                let rate = if st.secs > 0.0 {
                    format!("{:.0}", st.scores.count as f64 / st.secs)
                } else {
                    "-".into()
                };
                println!(
                    "{:<12} {:>9.3} {:>9.4} {:>7.4} {:>12}",
                    name,
                    st.scores.smape(),
                    st.scores.mase(),
                    st.scores.owa(&naive),
                    rate
                );
                if st.points > 0 {
                    println!(
                        "{:<12} 95% interval coverage {:.3}",
                        "",
                        st.covered as f64 / st.points as f64
                    );
                }
            }
            if args.per_series {
                let files: Vec<&String> =
                    stats.values().flat_map(|st| st.per_series.keys()).collect();
                let mut files: Vec<&String> = files.into_iter().collect();
                files.sort();
                files.dedup();
                for file in files {
                    let cells: Vec<String> = stats
                        .iter()
                        .filter_map(|(name, st)| {
                            let sc = st.per_series.get(file)?;
                            Some(format!("{name} {:>7.2}/{:<7.3}", sc.smape(), sc.mase()))
                        })
                        .collect();
                    println!("  {file:<36} {}", cells.join("  "));
                }
            }
            let mut top: Vec<_> = models.into_iter().collect();
            top.sort_by_key(|b| std::cmp::Reverse(b.1));
            let shown: Vec<String> = top
                .iter()
                .take(6)
                .map(|(k, v)| format!("{k}×{v}"))
                .collect();
            println!("models chosen: {}", shown.join(", "));
        }
    }
    if let Some(p) = &args.write_forecasts {
        let recs: Vec<io::ForecastRecord<'_>> = forecast_rows
            .iter()
            .map(|(id, start, step, f)| io::ForecastRecord {
                series_id: id,
                start: *start,
                step_seconds: *step,
                forecast: f,
            })
            .collect();
        let f = std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?;
        io::write_forecasts_csv(f, &recs).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("m4-eval: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_sets_are_name_equals_dir() {
        assert_eq!(
            parse_extra_set("public=/tmp/x=y").unwrap(),
            ("public".to_owned(), PathBuf::from("/tmp/x=y"))
        );
        assert!(parse_extra_set("public").is_err());
        assert!(parse_extra_set("=dir").is_err());
        assert!(parse_extra_set("name=").is_err());
    }

    #[test]
    fn extra_sets_are_scored_hourly_only() {
        let dir = tempfile::tempdir().unwrap();
        let csv: String = std::iter::once("timestamp,value\n".to_owned())
            .chain((0..600).map(|i| {
                format!(
                    "2001-01-{:02} {:02}:{:02}:00,{}\n",
                    1 + i / 288,
                    (i % 288) / 12,
                    (i % 12) * 5,
                    10 + i % 7
                )
            }))
            .collect();
        std::fs::write(dir.path().join("s.csv"), csv).unwrap();
        let sets = vec![("public".to_owned(), dir.path().to_path_buf())];
        let series = load(&sets).unwrap();
        assert_eq!(series.len(), 1);
        let args = Args::parse_from(["m4-eval", "--horizon", "8", "--every", "8"]);
        let hourly = windows(&series, "hourly", &args);
        assert!(!hourly.is_empty());
        assert!(hourly.iter().all(|w| w.set == "public" && w.step == 3600));
        assert!(windows(&series, "5min", &args).is_empty());
    }
}
