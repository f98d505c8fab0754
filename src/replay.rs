//! `tocsin replay`: runs the alert processors over history — the lake's
//! `alerts` and `changes` tables or JSON-lines files — and prints the
//! incidents and notifications that would have happened. Event time only,
//! so the same input and configuration give the same output.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow::datatypes::TimestampNanosecondType;
use tocsin_ingest::{
    DecodeLimits, LakeLayout, Lineage, Table, TableBuilder, decode_message, decoder_for,
};
use tocsin_processors::incidents::IncidentsProcessor;
use tocsin_processors::{Decision, Output, Processor};
use tocsin_queries::{HotStore, QueryEngine};

use crate::config::Config;

/// What to replay.
pub struct ReplayRequest<'a> {
    /// A lake directory (with `alerts/`) or an alerts JSON-lines file.
    pub from: &'a Path,
    /// Changes JSON-lines file (with a file `from`; a lake has its own).
    pub changes: Option<&'a Path>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<&'a str>,
    /// Only events before this time (RFC 3339).
    pub until: Option<&'a str>,
    /// An Alertmanager configuration to replay the same alerts through, for
    /// a side-by-side notification count.
    pub alertmanager: Option<&'a Path>,
    /// Print every decision as a JSON line instead of a sentence.
    pub json: bool,
}

/// Event-time step between watermarks: alerts within one step are one batch.
const STEP_NS: i64 = 5_000_000_000;

fn parse_bound(s: Option<&str>) -> anyhow::Result<Option<i64>> {
    s.map(|s| tocsin_ingest::decode::parse_timestamp_str(s).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()
}

/// Reads a JSON-lines file into one batch of `table`, refusing the file at
/// the first bad line (a backtest on silently partial input would mislead).
fn read_jsonl(path: &Path, table: Table) -> anyhow::Result<RecordBatch> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let decoder =
        decoder_for(table, "json", DecodeLimits::default()).map_err(anyhow::Error::msg)?;
    let mut b = TableBuilder::for_table(table).context("not an ingest table")?;
    for (i, line) in text.split(|&c| c == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let lineage = Lineage {
            topic: "replay",
            partition: 0,
            offset: i as i64,
            received_ns: 0,
        };
        decode_message(
            decoder.as_ref(),
            line,
            &lineage,
            &DecodeLimits::default(),
            &mut b,
        )
        .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))?;
    }
    Ok(b.finish()?)
}

/// Reads `table` from the lake at `root` (empty when it has none), only
/// the rows in `[since, until)`: the filter is pushed into the scan, so
/// row groups outside the range are skipped by their statistics.
async fn read_lake(
    root: &Path,
    table: Table,
    cfg: &Config,
    since: Option<i64>,
    until: Option<i64>,
) -> anyhow::Result<RecordBatch> {
    let engine = QueryEngine::try_new(
        &LakeLayout::new(root),
        Arc::new(HotStore::new()),
        &cfg.query,
    )?;
    let mut conditions = Vec::new();
    if let Some(s) = since {
        conditions.push(format!("ts >= to_timestamp_nanos({s})"));
    }
    if let Some(u) = until {
        conditions.push(format!("ts < to_timestamp_nanos({u})"));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let out = engine
        .query(&format!("SELECT * FROM {}{filter}", table.name()))
        .await?;
    // Query results read strings as views; the processors take the table's rows.
    let schema = table.schema();
    let batches = out
        .batches
        .iter()
        .map(|b| tocsin_queries::table::cast_to_schema(b, &schema))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(concat_batches(&schema, &batches)?)
}

/// Sorts by `ts` and keeps `[since, until)`.
fn in_time_order(
    batch: RecordBatch,
    since: Option<i64>,
    until: Option<i64>,
) -> anyhow::Result<RecordBatch> {
    let ts = batch
        .column_by_name("ts")
        .context("no ts column")?
        .as_primitive::<TimestampNanosecondType>()
        .clone();
    let keep: arrow::array::BooleanArray = ts
        .iter()
        .map(|t| t.map(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)))
        .collect();
    let batch = arrow::compute::filter_record_batch(&batch, &keep)?;
    let ts = batch.column_by_name("ts").context("no ts column")?;
    let order = sort_to_indices(ts, None, None)?;
    Ok(take_record_batch(&batch, &order)?)
}

/// The rows of `batch` with `ts < end`, from `*pos` on; advances `*pos`.
fn take_until(batch: &RecordBatch, pos: &mut usize, end: i64) -> Option<RecordBatch> {
    let ts = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let start = *pos;
    while *pos < batch.num_rows() && ts.value(*pos) < end {
        *pos += 1;
    }
    (*pos > start).then(|| batch.slice(start, *pos - start))
}

fn print_decision(d: &Decision, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(d)?);
    } else {
        println!(
            "{}  {:<7} {:<8} {}",
            tocsin_processors::decision::format_ts(d.ts),
            d.action.as_str(),
            d.severity.as_str(),
            d.reason
        );
    }
    Ok(())
}

/// Runs the replay and prints what it decided, then a summary.
pub async fn replay(cfg: &Config, req: &ReplayRequest<'_>) -> anyhow::Result<()> {
    let since = parse_bound(req.since)?;
    let until = parse_bound(req.until)?;
    let (alerts, changes) = if req.from.is_dir() {
        (
            read_lake(req.from, Table::Alerts, cfg, since, until).await?,
            read_lake(req.from, Table::Changes, cfg, since, until).await?,
        )
    } else {
        let changes = match req.changes {
            Some(p) => read_jsonl(p, Table::Changes)?,
            None => RecordBatch::new_empty(Table::Changes.schema()),
        };
        (read_jsonl(req.from, Table::Alerts)?, changes)
    };
    let alerts = in_time_order(alerts, since, until)?;
    let changes = in_time_order(changes, since, until)?;
    let Some(first) = [&alerts, &changes]
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            b.column(0)
                .as_primitive::<TimestampNanosecondType>()
                .value(0)
        })
        .min()
    else {
        println!("nothing to replay: no alerts or changes in the range");
        return Ok(());
    };
    let last = [&alerts, &changes]
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            b.column(0)
                .as_primitive::<TimestampNanosecondType>()
                .value(b.num_rows() - 1)
        })
        .max()
        .unwrap_or(first);

    // History has no silences of its own; today's would distort it.
    let mut icfg = cfg.processors.incidents.clone();
    icfg.silences_file = None;
    let mut incidents = IncidentsProcessor::new(icfg).map_err(anyhow::Error::msg)?;
    let mut am = match req.alertmanager {
        Some(p) => Some(AlertmanagerReplay::new(p)?),
        None => None,
    };

    let bar = indicatif::ProgressBar::new(alerts.num_rows() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} alerts {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let (mut apos, mut cpos) = (0, 0);
    let mut decisions = 0usize;
    let mut opened = 0usize;
    // Run past the last event by the longest wait, so trailing resolutions
    // and cool-downs complete.
    let end = last.saturating_add(3_600_000_000_000);
    let mut t = first - first.rem_euclid(STEP_NS) + STEP_NS;
    let mut out = Output::default();
    while t <= end {
        if let Some(b) = take_until(&changes, &mut cpos, t) {
            incidents.process(Table::Changes, &b, &mut out)?;
        }
        if let Some(b) = take_until(&alerts, &mut apos, t) {
            bar.inc(b.num_rows() as u64);
            if let Some(am) = am.as_mut() {
                am.ingest(&b)?;
            }
            incidents.process(Table::Alerts, &b, &mut out)?;
        }
        incidents.on_watermark(t, &mut out);
        if let Some(am) = am.as_mut() {
            am.advance(t);
        }
        for d in out.decisions.drain(..) {
            decisions += 1;
            if d.action == tocsin_processors::DecisionAction::Open {
                opened += 1;
            }
            bar.suspend(|| print_decision(&d, req.json))?;
        }
        out = Output::default();
        // Past the data, jump straight to the end in large steps.
        t += if apos >= alerts.num_rows() && cpos >= changes.num_rows() {
            60 * STEP_NS
        } else {
            STEP_NS
        };
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "alerts": alerts.num_rows(),
        "changes": changes.num_rows(),
        "incidents_opened": opened,
        "notifications": decisions,
        "suppressed_by_silence_or_inhibition": incidents.suppressed(),
        "alertmanager_notifications": am.as_ref().map(|a| a.notifications),
        "alerts_per_s": if secs > 0.0 { (alerts.num_rows() as f64 / secs).round() } else { 0.0 },
    });
    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// The same alerts through an Alertmanager-equivalent dispatcher (route
/// tree, grouping, inhibition), counting the notifications it would send.
struct AlertmanagerReplay {
    pipeline: tocsin_alerting::Pipeline,
    notifications: usize,
}

impl AlertmanagerReplay {
    fn new(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let am = tocsin_alerting::AlertmanagerConfig::from_yaml(&text)
            .with_context(|| format!("{}", path.display()))?;
        Ok(AlertmanagerReplay {
            pipeline: tocsin_alerting::Pipeline::new(
                tocsin_alerting::LifecycleConfig::passthrough(),
                am,
            ),
            notifications: 0,
        })
    }

    fn ingest(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        for ev in tocsin_processors::incidents::alert_events(batch)? {
            self.notifications += self.pipeline.push(&ev).len();
        }
        Ok(())
    }

    fn advance(&mut self, now: i64) {
        self.notifications += self.pipeline.advance(now).len();
    }
}
