//! Scanner reports into the `vulnerabilities` table, one row per finding:
//! Trivy's JSON report (`--format json`, schema version 2) and Grype's
//! (`-o json`).
//!
//! A report is one document. A report with no finding yields one marker row
//! with an empty `cve` and `package` and severity `none`: a clean scan is
//! news too (the patch processor resolves findings a later scan no longer
//! shows), so queries over findings filter `cve <> ''`.

use serde_json::Value;

use super::document::{as_object, at, parse_document, str_at, time_at, type_name, value_text};
use super::json::wrong_builder;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, TableBuilder, VulnerabilityRow};
use crate::catalog::Table;

/// Which scanner wrote the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    /// Aqua Security's Trivy.
    Trivy,
    /// Anchore's Grype.
    Grype,
}

/// Decodes scanner reports.
#[derive(Debug, Clone)]
pub struct ScanReportDecoder {
    limits: DecodeLimits,
    scanner: Scanner,
}

impl ScanReportDecoder {
    /// A decoder for `scanner` reports with the given limits.
    pub fn new(limits: DecodeLimits, scanner: Scanner) -> Self {
        ScanReportDecoder { limits, scanner }
    }
}

/// One finding, owned (fields come from several levels of the report).
#[derive(Debug, Default)]
struct Finding {
    target: String,
    package: String,
    installed_version: Option<String>,
    fixed_version: Option<String>,
    cve: String,
    cvss: Option<f64>,
    severity: String,
    known_exploited: Option<bool>,
    epss: Option<f64>,
    attributes: Vec<(String, String)>,
}

/// A report's findings, its scan time and the service it names.
struct Report {
    /// What was scanned, for the marker row of a clean report.
    target: String,
    ts: Option<i64>,
    service: Option<String>,
    findings: Vec<Finding>,
}

/// Lower-cases severities and folds the scanners' spellings together.
fn normalize_severity(raw: Option<&str>) -> String {
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some(s @ ("critical" | "high" | "medium" | "low" | "negligible")) => s.to_string(),
        Some("moderate") => "medium".into(),
        _ => "unknown".into(),
    }
}

fn array_at<'v>(v: &'v Value, key: &str, what: &str) -> Result<&'v [Value], DecodeError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(DecodeError::new(
            DecodeReason::InvalidType,
            format!(
                "`{key}` of {what} must be an array, found {}",
                type_name(other)
            ),
        )),
    }
}

fn required(v: &Value, key: &str, what: &str) -> Result<String, DecodeError> {
    str_at(v, &[key]).map(str::to_owned).ok_or_else(|| {
        DecodeError::new(DecodeReason::MissingField, format!("{what} has no `{key}`"))
    })
}

/// Trivy's CVSS is keyed by source (`nvd`, `redhat`, `ghsa`); NVD's v3
/// score is the one most tools agree on, then any v3, then any v2.
fn trivy_cvss(v: &Value) -> Option<f64> {
    let cvss = v.get("CVSS")?.as_object()?;
    let score = |src: &Value, key: &str| src.get(key).and_then(Value::as_f64);
    cvss.get("nvd")
        .and_then(|n| score(n, "V3Score"))
        .or_else(|| cvss.values().find_map(|s| score(s, "V3Score")))
        .or_else(|| cvss.values().find_map(|s| score(s, "V2Score")))
}

fn decode_trivy(doc: &Value) -> Result<Report, DecodeError> {
    as_object(doc, "a Trivy report")?;
    if let Some(v) = doc.get("SchemaVersion").and_then(Value::as_i64)
        && v != 2
    {
        return Err(DecodeError::new(
            DecodeReason::InvalidValue,
            format!("Trivy SchemaVersion {v}; tocsin reads version 2"),
        ));
    }
    if doc.get("Results").is_none() && doc.get("ArtifactName").is_none() {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "not a Trivy report (no `ArtifactName` or `Results`)",
        ));
    }
    let artifact = str_at(doc, &["ArtifactName"]);
    let labels = at(doc, &["Metadata", "ImageConfig", "config", "Labels"]);
    let service = labels.and_then(|l| {
        [
            "service",
            "app.kubernetes.io/name",
            "org.opencontainers.image.title",
        ]
        .iter()
        .find_map(|k| l.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
    });
    let mut findings = Vec::new();
    for result in array_at(doc, "Results", "a Trivy report")? {
        let result_target = str_at(result, &["Target"]);
        for v in array_at(result, "Vulnerabilities", "a Trivy result")? {
            as_object(v, "a Trivy vulnerability")?;
            let mut attributes = Vec::new();
            for (key, name) in [
                ("Title", "title"),
                ("PrimaryURL", "primary_url"),
                ("PkgPath", "pkg_path"),
                ("PkgID", "pkg_id"),
                ("SeveritySource", "severity_source"),
                ("PublishedDate", "published"),
                ("Status", "status"),
            ] {
                if let Some(s) = v.get(key).and_then(value_text) {
                    attributes.push((name.to_string(), s));
                }
            }
            for (key, name) in [
                ("Target", "result_target"),
                ("Class", "class"),
                ("Type", "type"),
            ] {
                if let Some(s) = result.get(key).and_then(value_text) {
                    attributes.push((name.to_string(), s));
                }
            }
            findings.push(Finding {
                target: artifact.or(result_target).unwrap_or("unknown").to_owned(),
                package: required(v, "PkgName", "a Trivy vulnerability")?,
                installed_version: str_at(v, &["InstalledVersion"]).map(str::to_owned),
                fixed_version: str_at(v, &["FixedVersion"]).map(str::to_owned),
                cve: required(v, "VulnerabilityID", "a Trivy vulnerability")?,
                cvss: trivy_cvss(v),
                severity: normalize_severity(str_at(v, &["Severity"])),
                known_exploited: None,
                epss: None,
                attributes,
            });
        }
    }
    Ok(Report {
        target: artifact
            .or_else(|| {
                doc.get("Results")
                    .and_then(Value::as_array)
                    .and_then(|r| r.first())
                    .and_then(|r| str_at(r, &["Target"]))
            })
            .unwrap_or("unknown")
            .to_owned(),
        ts: time_at(doc, &["CreatedAt"])?,
        service,
        findings,
    })
}

/// Grype lists CVSS entries per source and version; the highest v3 base
/// score is the conservative pick, else the highest of any version.
fn grype_cvss(vuln: &Value) -> Option<f64> {
    let entries = vuln.get("cvss")?.as_array()?;
    let score = |e: &Value| at(e, &["metrics", "baseScore"]).and_then(Value::as_f64);
    let v3 = entries
        .iter()
        .filter(|e| str_at(e, &["version"]).is_some_and(|v| v.starts_with('3')))
        .filter_map(score)
        .reduce(f64::max);
    v3.or_else(|| entries.iter().filter_map(score).reduce(f64::max))
}

fn decode_grype(doc: &Value) -> Result<Report, DecodeError> {
    as_object(doc, "a Grype report")?;
    if doc.get("matches").is_none() {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "not a Grype report (no `matches`)",
        ));
    }
    let target = str_at(doc, &["source", "target", "userInput"])
        .or(str_at(doc, &["source", "target"]))
        .unwrap_or("unknown")
        .to_owned();
    let mut findings = Vec::new();
    for m in array_at(doc, "matches", "a Grype report")? {
        as_object(m, "a Grype match")?;
        let vuln = m.get("vulnerability").ok_or_else(|| {
            DecodeError::new(
                DecodeReason::MissingField,
                "a Grype match has no `vulnerability`",
            )
        })?;
        let artifact = m.get("artifact").ok_or_else(|| {
            DecodeError::new(
                DecodeReason::MissingField,
                "a Grype match has no `artifact`",
            )
        })?;
        let mut attributes = Vec::new();
        for (path, name) in [
            (&["artifact", "type"][..], "type"),
            (&["artifact", "purl"][..], "purl"),
            (&["vulnerability", "dataSource"][..], "data_source"),
            (&["vulnerability", "namespace"][..], "namespace"),
            (&["vulnerability", "fix", "state"][..], "fix_state"),
        ] {
            if let Some(s) = str_at(m, path) {
                attributes.push((name.to_string(), s.to_owned()));
            }
        }
        // A GHSA id whose related record is a CVE is kept findable by CVE.
        let related: Vec<&str> = m
            .get("relatedVulnerabilities")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|v| str_at(v, &["id"])).collect())
            .unwrap_or_default();
        if !related.is_empty() {
            attributes.push(("related".into(), related.join(",")));
        }
        let epss = vuln.get("epss").and_then(Value::as_array).and_then(|a| {
            a.iter()
                .filter_map(|e| e.get("epss").and_then(Value::as_f64))
                .reduce(f64::max)
        });
        let known_exploited = vuln
            .get("knownExploited")
            .map(|k| k.as_array().is_some_and(|a| !a.is_empty()));
        findings.push(Finding {
            target: target.clone(),
            package: required(artifact, "name", "a Grype artifact")?,
            installed_version: str_at(artifact, &["version"]).map(str::to_owned),
            fixed_version: at(vuln, &["fix", "versions"])
                .and_then(Value::as_array)
                .and_then(|v| v.first())
                .and_then(Value::as_str)
                .map(str::to_owned),
            cve: required(vuln, "id", "a Grype vulnerability")?,
            cvss: grype_cvss(vuln),
            severity: normalize_severity(str_at(vuln, &["severity"])),
            known_exploited,
            epss,
            attributes,
        });
    }
    Ok(Report {
        target,
        ts: time_at(doc, &["descriptor", "timestamp"])?,
        service: None,
        findings,
    })
}

impl Decoder for ScanReportDecoder {
    fn table(&self) -> Table {
        Table::Vulnerabilities
    }

    fn format(&self) -> &'static str {
        match self.scanner {
            Scanner::Trivy => "trivy",
            Scanner::Grype => "grype",
        }
    }

    fn whole_message(&self) -> bool {
        true
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Vulnerabilities(b) = out else {
            return Err(wrong_builder("vulnerabilities"));
        };
        let doc = parse_document(record)?;
        let report = match self.scanner {
            Scanner::Trivy => decode_trivy(&doc)?,
            Scanner::Grype => decode_grype(&doc)?,
        };
        let max = self.limits.max_fields_per_row;
        if report.findings.is_empty() {
            b.push(
                &VulnerabilityRow {
                    ts: report.ts.unwrap_or(lineage.received_ns),
                    scanner: self.format(),
                    target: &report.target,
                    package: "",
                    installed_version: None,
                    fixed_version: None,
                    cve: "",
                    cvss: None,
                    severity: "none",
                    known_exploited: None,
                    epss: None,
                    service: report.service.as_deref(),
                },
                lineage,
            );
        }
        for f in &report.findings {
            for (k, v) in f.attributes.iter().take(max) {
                b.attributes.push_entry(k, v);
            }
            b.push(
                &VulnerabilityRow {
                    ts: report.ts.unwrap_or(lineage.received_ns),
                    scanner: self.format(),
                    target: &f.target,
                    package: &f.package,
                    installed_version: f.installed_version.as_deref(),
                    fixed_version: f.fixed_version.as_deref(),
                    cve: &f.cve,
                    cvss: f.cvss,
                    severity: &f.severity,
                    known_exploited: f.known_exploited,
                    epss: f.epss,
                    service: report.service.as_deref(),
                },
                lineage,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
