//! Builders of the event tables: `changes` and `vulnerabilities`.

use super::{Lineage, LineageColumns};
use crate::catalog::Table;
use crate::columns::{PrimitiveColumn, StringMapColumn, Utf8Column};
use arrow::array::RecordBatch;
use arrow::error::ArrowError;

/// One change event.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRow<'a> {
    /// When the change took effect, ns since the epoch.
    pub ts: i64,
    /// Stable id of the change (the event id of the shipper, or derived).
    pub id: &'a str,
    /// `deploy`, `rollback`, `flag`, `config`, `migration` or `infra`.
    pub kind: &'a str,
    /// The service changed.
    pub service: Option<&'a str>,
    /// Deployment environment.
    pub env: Option<&'a str>,
    /// New version (a release, a flag's new state, a config revision).
    pub version: Option<&'a str>,
    /// Who or what made the change.
    pub actor: Option<&'a str>,
    /// Everything else the event carried, as JSON.
    pub details: &'a str,
    /// The system that reported it (`github`, a CloudEvents `source`, …).
    pub source: &'a str,
}

table_builder! {
    /// Builds `changes` batches.
    ChangesBuilder for Table::Changes {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        id: Utf8Column => finish_utf8,
        kind: Utf8Column => finish_utf8,
        service: Utf8Column => finish_utf8,
        env: Utf8Column => finish_utf8,
        version: Utf8Column => finish_utf8,
        actor: Utf8Column => finish_utf8,
        details: Utf8Column => finish_utf8,
        source: Utf8Column => finish_utf8,
    }
}

impl ChangesBuilder {
    /// Appends a row.
    pub fn push(&mut self, row: &ChangeRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.id.push(row.id);
        self.kind.push(row.kind);
        self.service.push_opt(row.service);
        self.env.push_opt(row.env);
        self.version.push_opt(row.version);
        self.actor.push_opt(row.actor);
        self.details.push(row.details);
        self.source.push(row.source);
        self.lineage.push(lineage);
    }

    pub(super) fn data_len(&self) -> usize {
        self.details.data_len() + self.len() * 96
    }
}

/// One vulnerability finding.
#[derive(Debug, Clone, Copy)]
pub struct VulnerabilityRow<'a> {
    /// When the scan ran, ns since the epoch.
    pub ts: i64,
    /// `trivy`, `grype`, …
    pub scanner: &'a str,
    /// What was scanned: an image, a repository, a host.
    pub target: &'a str,
    /// The vulnerable package.
    pub package: &'a str,
    /// The version installed.
    pub installed_version: Option<&'a str>,
    /// The first version with a fix, when one exists.
    pub fixed_version: Option<&'a str>,
    /// CVE or other advisory id (GHSA-…, RUSTSEC-…).
    pub cve: &'a str,
    /// CVSS base score (v3 preferred).
    pub cvss: Option<f64>,
    /// Lower-case severity: `critical`, `high`, `medium`, `low`, `negligible`, `unknown`.
    pub severity: &'a str,
    /// On a known-exploited list (CISA KEV), when the scanner says.
    pub known_exploited: Option<bool>,
    /// EPSS probability of exploitation in the next 30 days, when known.
    pub epss: Option<f64>,
    /// The service the target belongs to, when the report says.
    pub service: Option<&'a str>,
}

table_builder! {
    /// Builds `vulnerabilities` batches.
    VulnerabilitiesBuilder for Table::Vulnerabilities {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        scanner: Utf8Column => finish_utf8,
        target: Utf8Column => finish_utf8,
        package: Utf8Column => finish_utf8,
        installed_version: Utf8Column => finish_utf8,
        fixed_version: Utf8Column => finish_utf8,
        cve: Utf8Column => finish_utf8,
        cvss: PrimitiveColumn<f64> => finish_f64,
        severity: Utf8Column => finish_utf8,
        known_exploited: PrimitiveColumn<bool> => finish_bool,
        epss: PrimitiveColumn<f64> => finish_f64,
        service: Utf8Column => finish_utf8,
        /// Other fields of the finding; push entries here before
        /// [`VulnerabilitiesBuilder::push`].
        pub attributes: StringMapColumn => finish,
    }
}

impl VulnerabilitiesBuilder {
    /// Appends a row; its attributes are the entries pushed since the last row.
    pub fn push(&mut self, row: &VulnerabilityRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.scanner.push(row.scanner);
        self.target.push(row.target);
        self.package.push(row.package);
        self.installed_version.push_opt(row.installed_version);
        self.fixed_version.push_opt(row.fixed_version);
        self.cve.push(row.cve);
        self.cvss.push_opt(row.cvss);
        self.severity.push(row.severity);
        self.known_exploited.push_opt(row.known_exploited);
        self.epss.push_opt(row.epss);
        self.service.push_opt(row.service);
        self.attributes.end_row();
        self.lineage.push(lineage);
    }

    pub(super) fn data_len(&self) -> usize {
        self.attributes.data_len() + self.len() * 128
    }
}
