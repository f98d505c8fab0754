//! `patterns`: mine log templates from a file, score predictions the Loghub
//! way, or write a labelled corpus.
//!
//! ```text
//! patterns --input <file> [--format raw|csv] --out <file> [--config miner.json]
//! patterns score --truth <csv> --pred <csv>
//! patterns gen-corpus --lines <n> [--seed <s>] --out <csv>
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tocsin_patterns::offline::{self, InputFormat};
use tocsin_patterns::{MinerConfig, PatternError, corpus, score};

#[derive(Parser)]
#[command(
    name = "patterns",
    about = "Online log template mining, offline",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    mine: MineArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Score a prediction (`LineId,EventId,EventTemplate`) against ground truth.
    Score {
        /// Ground truth CSV (a Loghub structured CSV works: extra columns are ignored).
        #[arg(long)]
        truth: PathBuf,
        /// Predicted CSV.
        #[arg(long)]
        pred: PathBuf,
        /// Print the scores as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a labelled corpus as structured CSV.
    GenCorpus {
        /// Number of lines.
        #[arg(long)]
        lines: usize,
        /// RNG seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Raw,
    Csv,
}

#[derive(Args)]
struct MineArgs {
    /// Input log file.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Input format: one line per log line, or Loghub structured CSV (`Content` column).
    #[arg(long, value_enum, default_value = "raw")]
    format: Format,
    /// Output CSV `LineId,EventId,EventTemplate`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Miner configuration as JSON (`MinerConfig`); defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Namespace for lines without one.
    #[arg(long, default_value = "default")]
    namespace: String,
}

fn run(cli: Cli) -> Result<(), PatternError> {
    match cli.cmd {
        Some(Cmd::Score { truth, pred, json }) => {
            let s = score::score(&offline::read_rows(&truth)?, &offline::read_rows(&pred)?)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&s).map_err(|e| PatternError::Input(e.to_string()))?
                );
            } else {
                print_scores(&s);
            }
            Ok(())
        }
        Some(Cmd::GenCorpus { lines, seed, out }) => {
            offline::write_corpus(&out, &corpus::generate(seed, lines))
        }
        None => {
            let a = cli.mine;
            let (Some(input), Some(out)) = (a.input, a.out) else {
                return Err(PatternError::Input(
                    "--input and --out are required (or use a subcommand)".into(),
                ));
            };
            let cfg = match a.config {
                None => MinerConfig::default(),
                Some(p) => {
                    let text = std::fs::read_to_string(&p).map_err(|source| PatternError::Io {
                        path: p.display().to_string(),
                        source,
                    })?;
                    serde_json::from_str(&text).map_err(|e| PatternError::Config(e.to_string()))?
                }
            };
            let format = match a.format {
                Format::Raw => InputFormat::Raw,
                Format::Csv => InputFormat::Csv,
            };
            let lines = offline::read_input(&input, format)?;
            let res = offline::mine(&lines, cfg, &a.namespace)?;
            offline::write_rows(&out, &res.rows)?;
            eprintln!(
                "lines={} patterns={} observe_secs={:.3} lines_per_sec={:.0}",
                lines.len(),
                res.patterns,
                res.observe_secs,
                lines.len() as f64 / res.observe_secs.max(1e-9)
            );
            if let Some(truth) = offline::truth_rows(&lines) {
                print_scores(&score::score(&truth, &res.rows)?);
            }
            Ok(())
        }
    }
}

fn print_scores(s: &score::Scores) {
    println!(
        "lines={} true_groups={} predicted_groups={} grouping_accuracy={:.4} pairwise_precision={:.4} pairwise_recall={:.4} pairwise_f1={:.4} template_accuracy={:.4}",
        s.lines,
        s.true_groups,
        s.predicted_groups,
        s.grouping_accuracy,
        s.pairwise_precision,
        s.pairwise_recall,
        s.pairwise_f1,
        s.template_accuracy
    );
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patterns: {e}");
            ExitCode::FAILURE
        }
    }
}
