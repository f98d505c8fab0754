//! The `tocsin` command: run the pipeline, query the lake, check a config.

mod checkpoint;
mod config;
mod delivery;
mod metrics;
mod offline;
mod pipeline;
mod receivers;
mod replay;
mod run;
mod server;
mod silences;
mod sql_cli;
mod tasks;

/// Decoding allocates many small strings (protobuf fields, labels) and
/// frees them at once; mimalloc does that about a third faster than the
/// system allocator (`BENCHMARKS.md`), as DataFusion's own CLI also uses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Streaming telemetry analysis: logs, metrics and alerts in; incidents and
/// other decisions out; everything kept in a Parquet lake you query in SQL.
#[derive(Parser, Debug)]
#[command(name = "tocsin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline (embedded mode with the quickstart config when no
    /// --config is given).
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Run a read-only SQL query against the running server, or the lake.
    Sql {
        /// The query.
        query: String,
        /// Configuration file (for the server address and the lake path).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Server URL (default: the configured HTTP listener).
        #[arg(long)]
        url: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: sql_cli::OutputFormat,
    },
    /// Score every row of metric series files for anomalies, with the
    /// detector the pipeline runs.
    Detect {
        /// Directory of series.
        #[arg(long)]
        input: PathBuf,
        /// Layout of the input.
        #[arg(long, value_enum, default_value = "nab")]
        format: offline::DetectFormat,
        /// Directory for the scores (same layout, `anomaly_score` column).
        #[arg(long)]
        out: PathBuf,
        /// Where the detector gets each series' value range: `harness` hands
        /// it the file's min and max up front, as NAB's harness does for
        /// every detector; `streaming` gives it only what a live series has
        /// (the configured `value_range`, if any).
        #[arg(long, value_enum, default_value = "harness")]
        range: tocsin_anomaly::nab::RangeSource,
        /// Configuration file (`[processors.anomaly.detector]`).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Mine log templates from a file, with the miner the pipeline runs.
    Patterns {
        /// Log file.
        #[arg(long)]
        input: PathBuf,
        /// Layout of the input.
        #[arg(long, value_enum, default_value = "raw")]
        format: offline::PatternsFormat,
        /// Output CSV (`LineId,EventId,EventTemplate`).
        #[arg(long)]
        out: PathBuf,
        /// Configuration file (`[processors.log_patterns.miner]`).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Forecast many series (long-format CSV), with prediction intervals;
    /// optionally draw one of them.
    Forecast {
        /// Input CSV with `series_id,timestamp,value`.
        #[arg(long)]
        input: PathBuf,
        /// Steps ahead (at each series' own sampling step).
        #[arg(long, default_value_t = 48)]
        horizon: usize,
        /// Prediction-interval coverage.
        #[arg(long, default_value_t = 0.95)]
        level: f64,
        /// Output CSV with `series_id,timestamp,point,lower,upper,model`.
        #[arg(long)]
        out: PathBuf,
        /// Draw history, forecast, interval and limit into this SVG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The series to draw (default: the first).
        #[arg(long)]
        series: Option<String>,
        /// Capacity limit: drawn, and the first crossing is reported.
        #[arg(long)]
        limit: Option<f64>,
    },
    /// Run the alert processors over history (the lake, or alert and change
    /// files) and print the incidents and notifications they would have
    /// produced; same input, same output.
    Replay {
        /// Configuration file (`[processors.incidents]`).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// A lake directory, or an alerts JSON-lines file (default: the
        /// configured lake).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Changes JSON-lines file, with a file `--from`.
        #[arg(long)]
        changes: Option<PathBuf>,
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only events before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Also count what this Alertmanager configuration would notify.
        #[arg(long)]
        alertmanager: Option<PathBuf>,
        /// Print decisions as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file and explain what it will do.
    Validate {
        /// Configuration file (TOML).
        file: PathBuf,
    },
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run { config } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            init_logging(&cfg);
            rt.block_on(run::run(cfg))
        }
        Command::Sql {
            query,
            config,
            url,
            format,
        } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            rt.block_on(sql_cli::run_sql(&cfg, &query, url.as_deref(), format))
        }
        Command::Detect {
            input,
            format,
            out,
            range,
            config,
        } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            offline::detect(&cfg, &input, format, range, &out)
        }
        Command::Patterns {
            input,
            format,
            out,
            config,
        } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            offline::patterns(&cfg, &input, format, &out)
        }
        Command::Forecast {
            input,
            horizon,
            level,
            out,
            plot,
            series,
            limit,
        } => offline::forecast(&offline::ForecastRequest {
            input: &input,
            horizon,
            level,
            out: &out,
            plot: plot.as_deref(),
            plot_series: series.as_deref(),
            limit,
        }),
        Command::Replay {
            config,
            from,
            changes,
            since,
            until,
            alertmanager,
            json,
        } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            let from = from.unwrap_or_else(|| cfg.lake_dir());
            rt.block_on(replay::replay(
                &cfg,
                &replay::ReplayRequest {
                    from: &from,
                    changes: changes.as_deref(),
                    since: since.as_deref(),
                    until: until.as_deref(),
                    alertmanager: alertmanager.as_deref(),
                    json,
                },
            ))
        }
        Command::Validate { file } => {
            let cfg = Config::load(Some(&file), std::env::vars())?;
            println!("{} is valid.\n\n{}", file.display(), cfg.explain());
            Ok(())
        }
    }
}
