//! Offline mining of a file: read lines (raw or Loghub structured CSV), run
//! the miner, write `LineId,EventId,EventTemplate`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use crate::error::PatternError;
use crate::miner::{MinerConfig, PatternMiner};

/// Input format of [`read_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One log line per line; line ids are 1-based line numbers.
    Raw,
    /// Loghub structured CSV: `LineId` and `Content` columns, optionally
    /// `EventId`/`EventTemplate` ground truth; an optional `Namespace` column.
    Csv,
}

/// One input line.
#[derive(Debug, Clone, PartialEq)]
pub struct InputLine {
    /// Line id as written in the output.
    pub line_id: String,
    /// Namespace; empty when the input has none.
    pub namespace: String,
    /// The log message.
    pub content: String,
    /// Ground truth `(EventId, EventTemplate)` when the input carries it.
    pub truth: Option<(String, String)>,
}

/// One output row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputRow {
    /// Line id from the input.
    pub line_id: String,
    /// Group id (pattern id or ground-truth event id).
    pub event_id: String,
    /// Template of the group.
    pub template: String,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> PatternError + '_ {
    move |source| PatternError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> PatternError + '_ {
    move |e| PatternError::Csv {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Reads an input file.
pub fn read_input(path: &Path, format: InputFormat) -> Result<Vec<InputLine>, PatternError> {
    let file = File::open(path).map_err(io_err(path))?;
    match format {
        InputFormat::Raw => {
            let mut out = Vec::new();
            for (i, line) in BufReader::new(file).lines().enumerate() {
                let line = line.map_err(io_err(path))?;
                out.push(InputLine {
                    line_id: (i + 1).to_string(),
                    namespace: String::new(),
                    content: line.trim_end_matches('\r').to_string(),
                    truth: None,
                });
            }
            Ok(out)
        }
        InputFormat::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(BufReader::new(file));
            let headers = rdr.headers().map_err(csv_err(path))?.clone();
            let col = |name: &str| headers.iter().position(|h| h.trim() == name);
            let content = col("Content").ok_or_else(|| {
                PatternError::Input(format!("{}: no Content column", path.display()))
            })?;
            let (line_id, ns) = (col("LineId"), col("Namespace"));
            let truth = col("EventId").zip(col("EventTemplate"));
            let mut out = Vec::new();
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.map_err(csv_err(path))?;
                let get = |c: usize| rec.get(c).unwrap_or("").to_string();
                out.push(InputLine {
                    line_id: line_id.map_or_else(|| (i + 1).to_string(), get),
                    namespace: ns.map_or_else(String::new, get),
                    content: get(content),
                    truth: truth.map(|(e, t)| (get(e), get(t))),
                });
            }
            Ok(out)
        }
    }
}

/// Result of [`mine`].
#[derive(Debug)]
pub struct MineResult {
    /// One row per input line, each with its template as it stood at the end.
    pub rows: Vec<OutputRow>,
    /// Seconds spent inside `observe`.
    pub observe_secs: f64,
    /// Templates at the end.
    pub patterns: usize,
}

/// Runs a fresh miner over the lines. Like Drain's offline output, each line
/// is reported with the final template of the group it was assigned to
/// (following merges); `default_namespace` stands in for missing namespaces.
pub fn mine(
    lines: &[InputLine],
    cfg: MinerConfig,
    default_namespace: &str,
) -> Result<MineResult, PatternError> {
    let mut miner = PatternMiner::new(cfg)?;
    let start = Instant::now();
    let ids: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let ns = if l.namespace.is_empty() {
                default_namespace
            } else {
                &l.namespace
            };
            miner.observe(ns, i as i64, &l.content).pattern_id
        })
        .collect();
    let observe_secs = start.elapsed().as_secs_f64();
    let rows = lines
        .iter()
        .zip(ids)
        .map(|(l, id)| {
            let id = miner.resolve(id).unwrap_or(id);
            let template = miner
                .pattern(id)
                .map(|p| p.template.clone())
                .unwrap_or_default();
            OutputRow {
                line_id: l.line_id.clone(),
                event_id: id.to_string(),
                template,
            }
        })
        .collect();
    Ok(MineResult {
        rows,
        observe_secs,
        patterns: miner.len(),
    })
}

/// The ground truth of CSV input as output rows, or `None` without labels.
pub fn truth_rows(lines: &[InputLine]) -> Option<Vec<OutputRow>> {
    lines
        .iter()
        .map(|l| {
            l.truth.as_ref().map(|(e, t)| OutputRow {
                line_id: l.line_id.clone(),
                event_id: e.clone(),
                template: t.clone(),
            })
        })
        .collect()
}

/// Writes `LineId,EventId,EventTemplate`.
pub fn write_rows(path: &Path, rows: &[OutputRow]) -> Result<(), PatternError> {
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    w.write_record(["LineId", "EventId", "EventTemplate"])
        .map_err(csv_err(path))?;
    for r in rows {
        w.write_record([&r.line_id, &r.event_id, &r.template])
            .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// Reads `LineId,EventId,EventTemplate` (extra columns are ignored).
pub fn read_rows(path: &Path) -> Result<Vec<OutputRow>, PatternError> {
    let lines = {
        let file = File::open(path).map_err(io_err(path))?;
        let mut rdr = csv::Reader::from_reader(BufReader::new(file));
        let headers = rdr.headers().map_err(csv_err(path))?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| PatternError::Input(format!("{}: no {name} column", path.display())))
        };
        let (l, e, t) = (col("LineId")?, col("EventId")?, col("EventTemplate")?);
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(csv_err(path))?;
            let get = |c: usize| rec.get(c).unwrap_or("").to_string();
            out.push(OutputRow {
                line_id: get(l),
                event_id: get(e),
                template: get(t),
            });
        }
        out
    };
    Ok(lines)
}

/// Writes a labelled corpus as Loghub structured CSV
/// (`LineId,Namespace,Level,Content,EventId,EventTemplate`).
pub fn write_corpus(
    path: &Path,
    lines: &[crate::corpus::LabelledLine],
) -> Result<(), PatternError> {
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    w.write_record([
        "LineId",
        "Namespace",
        "Level",
        "Content",
        "EventId",
        "EventTemplate",
    ])
    .map_err(csv_err(path))?;
    for (i, l) in lines.iter().enumerate() {
        let level = format!("{:?}", l.level).to_ascii_uppercase();
        w.write_record([
            &(i + 1).to_string(),
            l.namespace,
            &level,
            &l.line,
            &l.event_id,
            &l.template,
        ])
        .map_err(csv_err(path))?;
    }
    let mut inner = w
        .into_inner()
        .map_err(|e| PatternError::Input(e.to_string()))?;
    inner.flush().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_mining() {
        let dir =
            std::env::temp_dir().join(format!("tocsin-patterns-offline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let corpus = crate::corpus::generate(3, 500);
        let input = dir.join("in.csv");
        write_corpus(&input, &corpus).unwrap();
        let lines = read_input(&input, InputFormat::Csv).unwrap();
        assert_eq!(lines.len(), 500);
        assert_eq!(lines[0].content, corpus[0].line);
        assert_eq!(lines[0].namespace, corpus[0].namespace);
        let truth = truth_rows(&lines).unwrap();
        let res = mine(&lines, MinerConfig::default(), "default").unwrap();
        let out = dir.join("out.csv");
        write_rows(&out, &res.rows).unwrap();
        assert_eq!(read_rows(&out).unwrap(), res.rows);
        let s = crate::score::score(&truth, &res.rows).unwrap();
        assert!(s.grouping_accuracy > 0.9, "{s:?}");
        let raw = dir.join("raw.log");
        std::fs::write(&raw, "a 1\r\nb c\n").unwrap();
        let r = read_input(&raw, InputFormat::Raw).unwrap();
        assert_eq!((r[0].content.as_str(), r[1].line_id.as_str()), ("a 1", "2"));
        assert!(truth_rows(&r).is_none());
        assert!(read_input(&dir.join("missing"), InputFormat::Raw).is_err());
        std::fs::write(&raw, "LineId,Foo\n1,2\n").unwrap();
        assert!(read_input(&raw, InputFormat::Csv).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
