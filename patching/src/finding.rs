//! One row of the `vulnerabilities` table, borrowed from the host's batch.

/// A scanner finding as the tracker reads it. Fields borrow from the host's
/// columns so that rows of findings already tracked cost no allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding<'a> {
    /// Scan time, ns since the epoch; rows with the same `(target, ts)` are
    /// one scan.
    pub ts: i64,
    /// Scanner name (`trivy`, `grype`, …).
    pub scanner: &'a str,
    /// The scanned artifact (image ref, host, repository).
    pub target: &'a str,
    /// The vulnerable package.
    pub package: &'a str,
    /// Installed version of `package`.
    pub installed_version: Option<&'a str>,
    /// First version with the fix, when the scanner knows one.
    pub fixed_version: Option<&'a str>,
    /// Vulnerability id; empty on the marker row of a clean scan.
    pub cve: &'a str,
    /// CVSS base score.
    pub cvss: Option<f64>,
    /// Scanner severity (`CRITICAL`…`UNKNOWN`, any case; `none` on markers).
    pub severity: &'a str,
    /// The scanner's own known-exploited flag.
    pub known_exploited: Option<bool>,
    /// EPSS exploitation probability in [0, 1].
    pub epss: Option<f64>,
    /// Owning service, when the report names one.
    pub service: Option<&'a str>,
}

impl Finding<'_> {
    /// Whether this row only says "this target was scanned": the clean-scan
    /// marker (`cve = ""`, `severity = "none"`). A row without a CVE id is
    /// treated the same whatever its severity, since it cannot be tracked.
    pub fn is_marker(&self) -> bool {
        self.cve.trim().is_empty()
    }
}

/// Scanner severity, folded over the scanners' spellings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Unknown or missing.
    Unknown,
    /// Grype's `negligible`.
    Negligible,
    /// `low`.
    Low,
    /// `medium` / `moderate`.
    Medium,
    /// `high` / `important`.
    High,
    /// `critical`.
    Critical,
}

impl Severity {
    /// Parses any case; unrecognised words are `Unknown`.
    pub fn parse(raw: &str) -> Self {
        let s = raw.trim();
        let is = |w: &str| s.eq_ignore_ascii_case(w);
        if is("critical") {
            Severity::Critical
        } else if is("high") || is("important") {
            Severity::High
        } else if is("medium") || is("moderate") {
            Severity::Medium
        } else if is("low") {
            Severity::Low
        } else if is("negligible") {
            Severity::Negligible
        } else {
            Severity::Unknown
        }
    }

    /// The word used in reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_spellings() {
        assert_eq!(Severity::parse("CRITICAL"), Severity::Critical);
        assert_eq!(Severity::parse(" High "), Severity::High);
        assert_eq!(Severity::parse("Moderate"), Severity::Medium);
        assert_eq!(Severity::parse("negligible"), Severity::Negligible);
        assert_eq!(Severity::parse("none"), Severity::Unknown);
        assert!(Severity::Critical > Severity::High);
    }
}
