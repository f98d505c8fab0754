//! `nab-score`: runs the tocsin detector over a NAB-layout corpus (optional)
//! and prints the normalised NAB scores of the three standard profiles.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tocsin_anomaly::DetectorConfig;
use tocsin_anomaly::nab::{self, score};

/// Score anomaly detector output against NAB windows.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// NAB data directory (`<category>/<file>.csv`).
    #[arg(long)]
    data: PathBuf,
    /// Windows JSON file (combined_windows.json).
    #[arg(long)]
    windows: PathBuf,
    /// Directory with score CSVs; with --detect it is written there (a
    /// temporary directory is used when omitted).
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Run the detector first.
    #[arg(long)]
    detect: bool,
    /// Detector configuration as a JSON file (defaults otherwise).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where detectors get each series' value range: `harness` hands them
    /// the file's min and max up front, as NAB's own harness does for every
    /// detector; `streaming` gives them only what a live series has.
    #[arg(long, value_enum, default_value_t = nab::RangeSource::Harness)]
    range: nab::RangeSource,
    /// Score every profile at this fixed detection threshold instead of the
    /// corpus-wide best one NAB's optimiser finds, e.g. to check a
    /// threshold found on one corpus against another.
    #[arg(long)]
    threshold: Option<f64>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`nab-score ... | head`) is not a failure.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nab-score: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(t) = args.threshold
        && !t.is_finite()
    {
        return Err(format!("--threshold must be a finite number, got {t}").into());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let cfg: DetectorConfig = match &args.config {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => DetectorConfig::default(),
    };
    let _tmp;
    let scores_dir = match (&args.scores, args.detect) {
        (Some(d), _) => d.clone(),
        (None, true) => {
            let t = tempfile::tempdir()?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
        (None, false) => return Err("--scores is required without --detect".into()),
    };
    if args.detect {
        let st = nab::detect_directory(&args.data, &scores_dir, &cfg, args.range)?;
        writeln!(
            out,
            "detector ({:?} value range): {} files, {} points, {:.3} s in detector, {:.0} points/s",
            args.range,
            st.files,
            st.points,
            st.detect_time.as_secs_f64(),
            st.points_per_sec()
        )?;
    }
    let files = nab::load_corpus(&args.data, &args.windows, &scores_dir)?;
    writeln!(
        out,
        "{:<14} {:>8} {:>10} {:>5} {:>5} {:>6}",
        "profile", "score", "threshold", "TP", "FN", "FP"
    )?;
    let mut results = Vec::new();
    for p in score::PROFILES {
        let r = match args.threshold {
            Some(t) => score::evaluate_corpus(&files, t, &p),
            None => score::best_threshold(&files, &p),
        };
        writeln!(
            out,
            "{:<14} {:>8.2} {:>10.4} {:>5} {:>5} {:>6}",
            p.name,
            r.score(),
            r.threshold,
            r.total.tp,
            r.total.fn_,
            r.total.fp
        )?;
        results.push(r);
    }
    let std_r = &results[0];
    writeln!(
        out,
        "\nper category (standard profile, {} threshold {:.4}):",
        if args.threshold.is_some() {
            "fixed"
        } else {
            "corpus"
        },
        std_r.threshold
    )?;
    for (cat, o) in &std_r.per_category {
        let norm = o
            .normalised()
            .map_or_else(|| "n/a".to_string(), |v| format!("{v:.2}"));
        writeln!(
            out,
            "  {:<24} score {:>7} TP {:>3} FN {:>3} FP {:>4} FP/1k {:.3}",
            cat,
            norm,
            o.tp,
            o.fn_,
            o.fp,
            o.fp_per_1000()
        )?;
    }
    if let Some(o) = std_r.per_category.get("artificialNoAnomaly") {
        writeln!(
            out,
            "\nfalse alarms on artificialNoAnomaly at the standard threshold: {} in {} scored points = {:.3} per 1,000",
            o.fp,
            o.scored,
            o.fp_per_1000()
        )?;
    }
    Ok(())
}
