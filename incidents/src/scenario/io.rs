//! JSON-lines files of a scenario.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use super::{AlertLine, Scenario};
use crate::error::Error;

fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_ts(s: &str) -> Result<i64, Error> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| Error::Invalid(format!("bad timestamp {s:?}: {e}")))?
        .timestamp_nanos_opt()
        .ok_or_else(|| Error::Invalid(format!("timestamp out of range: {s}")))
}

#[derive(Serialize, Deserialize)]
struct Annotations {
    summary: String,
}

/// The wire format of `alerts.jsonl` (read by the Alertmanager bench too).
#[derive(Serialize, Deserialize)]
struct AlertJson {
    ts: String,
    status: String,
    labels: BTreeMap<String, String>,
    annotations: Annotations,
    starts_at: String,
    ends_at: Option<String>,
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    ts: String,
    kind: &'a str,
    service: &'a str,
    env: &'a str,
    version: &'a str,
    actor: &'a str,
    id: &'a str,
    details: BTreeMap<String, String>,
}

fn create(path: &Path) -> Result<BufWriter<fs::File>, Error> {
    fs::File::create(path)
        .map(BufWriter::new)
        .map_err(|e| Error::io(path.display().to_string(), e))
}

/// Writes `alerts.jsonl`, `changes.jsonl`, `truth.json` and `topology.json`
/// into `dir` (created if missing).
pub fn write_scenario(sc: &Scenario, dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    let io = |p: &Path, e| Error::io(p.display().to_string(), e);
    let p = dir.join("alerts.jsonl");
    let mut w = create(&p)?;
    for a in &sc.alerts {
        let j = AlertJson {
            ts: rfc3339(a.ts_ns),
            status: a.status.clone(),
            labels: a.labels.clone(),
            annotations: Annotations {
                summary: a.summary.clone(),
            },
            starts_at: rfc3339(a.starts_at_ns),
            ends_at: a.ends_at_ns.map(rfc3339),
        };
        serde_json::to_writer(&mut w, &j)?;
        w.write_all(b"\n").map_err(|e| io(&p, e))?;
    }
    w.flush().map_err(|e| io(&p, e))?;
    let p = dir.join("changes.jsonl");
    let mut w = create(&p)?;
    for c in &sc.changes {
        let j = ChangeJson {
            ts: rfc3339(c.ts_ns),
            kind: &c.kind,
            service: &c.service,
            env: &c.env,
            version: &c.version,
            actor: &c.actor,
            id: &c.id,
            details: BTreeMap::new(),
        };
        serde_json::to_writer(&mut w, &j)?;
        w.write_all(b"\n").map_err(|e| io(&p, e))?;
    }
    w.flush().map_err(|e| io(&p, e))?;
    let p = dir.join("truth.json");
    fs::write(&p, serde_json::to_vec_pretty(&sc.truth)?).map_err(|e| io(&p, e))?;
    let p = dir.join("topology.json");
    fs::write(&p, serde_json::to_vec_pretty(&sc.topology)?).map_err(|e| io(&p, e))?;
    Ok(())
}

/// Reads an `alerts.jsonl` file back into lines.
pub fn read_alert_lines(path: &Path) -> Result<Vec<AlertLine>, Error> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let j: AlertJson = serde_json::from_str(line)?;
        out.push(AlertLine {
            ts_ns: parse_ts(&j.ts)?,
            status: j.status,
            labels: j.labels,
            summary: j.annotations.summary,
            starts_at_ns: parse_ts(&j.starts_at)?,
            ends_at_ns: j.ends_at.as_deref().map(parse_ts).transpose()?,
        });
    }
    Ok(out)
}
