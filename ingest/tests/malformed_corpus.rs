//! The malformed-input corpus: every sample in `tests/malformed/` must be
//! refused by its format's decoder with the reason `expected.tsv` names, and
//! must leave no row in the builder.
//!
//! Samples live at `tests/malformed/<table>.<format>/<name>`; the manifest
//! `tests/malformed/expected.tsv` has one row per sample: the path relative
//! to `tests/malformed`, the expected `DecodeReason::as_str()`, and a
//! one-line description (`#` starts a comment line). Large and binary
//! samples are written by `tests/malformed/generate.py`.
//!
//! Every sample is run and every mismatch reported in one failure, so a
//! change to a decoder shows its whole effect on the corpus at once. A
//! sample whose format is not registered in `decoder_for` fails the test:
//! a corpus for a format that does not exist is a mistake, not a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use tocsin_ingest::decode::{DecodeLimits, decode_message, decoder_for};
use tocsin_ingest::{Lineage, Table, TableBuilder};

mod common;

fn corpus() -> std::path::PathBuf {
    common::crate_path("tests/malformed")
}

/// 2026-11-26T08:30:00Z. RFC 3164 syslog timestamps take their year from the
/// receive time, so it is fixed rather than the clock's.
const RECEIVED_NS: i64 = 1_795_681_800_000_000_000;

/// One row of `expected.tsv`.
struct Sample {
    /// 1-based line in the manifest, for messages.
    line: usize,
    /// `<table>.<format>/<name>`, relative to the corpus directory.
    path: String,
    /// The expected `DecodeReason::as_str()`.
    reason: String,
    description: String,
}

fn manifest() -> Vec<Sample> {
    let path = corpus().join("expected.tsv");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let &[path, reason, description] = fields.as_slice() else {
            panic!(
                "expected.tsv line {}: {} tab-separated fields, expected 3 (path, reason, description)",
                i + 1,
                fields.len()
            );
        };
        samples.push(Sample {
            line: i + 1,
            path: path.to_owned(),
            reason: reason.to_owned(),
            description: description.to_owned(),
        });
    }
    assert!(!samples.is_empty(), "expected.tsv lists no sample");
    samples
}

/// Why a sample could not be run at all (as opposed to running and being
/// decoded differently than expected).
enum Setup {
    /// The table or format named by the directory has no decoder.
    Unregistered(String),
    /// Anything else: a malformed path, an unreadable file.
    Broken(String),
}

/// Decodes one sample; `Ok` when it is refused as expected and leaves no row.
fn run(sample: &Sample) -> Result<Result<(), String>, Setup> {
    let Some((dir, name)) = sample.path.split_once('/') else {
        return Err(Setup::Broken(
            "the path is not `<table>.<format>/<name>`".into(),
        ));
    };
    if name.is_empty() || name.contains('/') {
        return Err(Setup::Broken(
            "the path is not `<table>.<format>/<name>`".into(),
        ));
    }
    let Some((table_name, format)) = dir.split_once('.') else {
        return Err(Setup::Broken(format!(
            "directory `{dir}` is not `<table>.<format>`"
        )));
    };
    let table: Table = table_name.parse().map_err(Setup::Unregistered)?;
    let limits = DecodeLimits::default();
    let decoder = decoder_for(table, format, limits).map_err(Setup::Unregistered)?;
    let mut builder = TableBuilder::for_table(table)
        .ok_or_else(|| Setup::Unregistered(format!("table `{table}` has no row builder")))?;
    let file = corpus().join(&sample.path);
    let payload = fs::read(&file)
        .map_err(|e| Setup::Broken(format!("cannot read {}: {e}", file.display())))?;
    let lineage = Lineage {
        topic: "malformed-corpus",
        partition: 0,
        offset: i64::try_from(sample.line).unwrap_or(i64::MAX),
        received_ns: RECEIVED_NS,
    };
    let outcome = decode_message(&*decoder, &payload, &lineage, &limits, &mut builder);
    Ok(match outcome {
        Ok(rows) => Err(format!(
            "accepted ({rows} row(s)); expected `{}`",
            sample.reason
        )),
        Err(e) if e.reason.as_str() != sample.reason => Err(format!(
            "refused as `{}`, expected `{}`: {e}",
            e.reason.as_str(),
            sample.reason
        )),
        Err(_) if !builder.is_empty() => Err(format!(
            "refused as `{}` but {} row(s) were left in the builder",
            sample.reason,
            builder.len()
        )),
        Err(_) => Ok(()),
    })
}

/// Files in the sample directories that the manifest does not list: a sample
/// nobody runs is a sample that silently stopped testing anything.
fn unlisted(samples: &[Sample]) -> Vec<String> {
    let listed: BTreeSet<&str> = samples.iter().map(|s| s.path.as_str()).collect();
    let mut out = Vec::new();
    let dir = corpus();
    let entries =
        fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(dir_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !dir.is_dir() || !dir_name.contains('.') {
            continue;
        }
        let files =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let rel = format!("{dir_name}/{name}");
            if !listed.contains(rel.as_str()) {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_malformed_sample_is_refused_with_its_reason() {
    let samples = manifest();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    // Unregistered formats are reported once per directory, not once per sample.
    let mut unregistered: BTreeMap<&str, (usize, String)> = BTreeMap::new();

    for sample in &samples {
        if !seen.insert(sample.path.as_str()) {
            failures.push(format!(
                "{} (expected.tsv line {}): listed twice",
                sample.path, sample.line
            ));
            continue;
        }
        match run(sample) {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => failures.push(format!(
                "{} (line {}, {}): {problem}",
                sample.path, sample.line, sample.description
            )),
            Err(Setup::Broken(problem)) => failures.push(format!(
                "{} (expected.tsv line {}): {problem}",
                sample.path, sample.line
            )),
            Err(Setup::Unregistered(why)) => {
                let dir = sample
                    .path
                    .split('/')
                    .next()
                    .unwrap_or(sample.path.as_str());
                unregistered.entry(dir).or_insert((0, why)).0 += 1;
            }
        }
    }
    for (dir, (count, why)) in &unregistered {
        failures.push(format!(
            "{dir}/ ({count} sample(s)): not a registered table and format: {why}"
        ));
    }
    for path in unlisted(&samples) {
        failures.push(format!("{path}: not listed in expected.tsv"));
    }

    assert!(
        failures.is_empty(),
        "{} problem(s) in the malformed corpus ({} samples):\n  {}",
        failures.len(),
        samples.len(),
        failures.join("\n  ")
    );
}
