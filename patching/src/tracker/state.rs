//! What the tracker keeps per target and per finding; all of it serialises
//! for checkpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::{Finding, Severity};
use crate::priority::{Assessment, Signals};

/// One CVE's rows within one scan, merged (several packages may carry the
/// same CVE; they are one finding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScanAgg {
    pub packages: Vec<String>,
    pub installed_versions: Vec<String>,
    pub fixed_versions: Vec<String>,
    pub cvss: Option<f64>,
    pub severity: Severity,
    pub known_exploited: bool,
    pub epss: Option<f64>,
    pub service: Option<String>,
    pub scanner: String,
}

/// Inserts into a sorted, duplicate-free list (lists are short: a handful of
/// packages per CVE).
fn insert_sorted(list: &mut Vec<String>, v: &str) {
    if let Err(i) = list.binary_search_by(|x| x.as_str().cmp(v)) {
        list.insert(i, v.to_string());
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b.filter(|x| x.is_finite())) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl ScanAgg {
    pub fn new(row: &Finding<'_>) -> Self {
        let mut a = ScanAgg {
            packages: Vec::new(),
            installed_versions: Vec::new(),
            fixed_versions: Vec::new(),
            cvss: None,
            severity: Severity::Unknown,
            known_exploited: false,
            epss: None,
            service: None,
            scanner: row.scanner.to_string(),
        };
        a.add(row);
        a
    }

    /// Merges a row: the worst of each signal wins, so a duplicate row
    /// never lowers the priority.
    pub fn add(&mut self, row: &Finding<'_>) {
        insert_sorted(&mut self.packages, row.package);
        if let Some(v) = row.installed_version {
            insert_sorted(&mut self.installed_versions, v);
        }
        if let Some(v) = row.fixed_version.filter(|v| !v.is_empty()) {
            insert_sorted(&mut self.fixed_versions, v);
        }
        self.cvss = max_opt(self.cvss, row.cvss.filter(|c| (0.0..=10.0).contains(c)));
        self.severity = self.severity.max(Severity::parse(row.severity));
        self.known_exploited |= row.known_exploited == Some(true);
        self.epss = max_opt(self.epss, row.epss);
        if self.service.is_none() {
            self.service = row.service.map(str::to_string);
        }
    }

    /// Whether the rule's inputs are the same (packages and versions do not
    /// move the priority).
    pub fn same_signals(&self, o: &ScanAgg) -> bool {
        self.cvss == o.cvss
            && self.severity == o.severity
            && self.known_exploited == o.known_exploited
            && self.epss == o.epss
            && self.service == o.service
    }

    pub fn signals<'a>(&'a self, target: &'a str, cve: &'a str) -> Signals<'a> {
        Signals {
            target,
            service: self.service.as_deref(),
            cve,
            cvss: self.cvss,
            severity: self.severity,
            known_exploited: self.known_exploited,
            epss: self.epss,
        }
    }
}

/// A scan still accepting rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingScan {
    pub ts: i64,
    pub findings: BTreeMap<String, ScanAgg>,
}

/// One open finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tracked {
    pub dedup_key: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub assessment: Assessment,
    pub due: i64,
    pub at_risk_at: i64,
    pub at_risk_sent: bool,
    pub breached_sent: bool,
    pub details: ScanAgg,
    /// Assessed by this process: false after a restore, so that a changed
    /// KEV list or configuration is applied at the next scan.
    #[serde(skip)]
    pub assessed: bool,
}

impl Tracked {
    /// When this finding next needs the watermark's attention.
    pub fn next_deadline(&self) -> Option<i64> {
        if self.breached_sent {
            None
        } else if self.at_risk_sent {
            Some(self.due)
        } else {
            Some(self.at_risk_at)
        }
    }
}

/// Everything known about one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetState {
    /// Time of the newest closed scan; rows at or before it are late.
    pub last_closed: Option<i64>,
    pub pending: Option<PendingScan>,
    pub findings: BTreeMap<String, Tracked>,
}

/// `tocsin-patch-` + the first 16 hex digits of SHA-256(target ␟ cve):
/// stable across processes, versions and platforms.
pub fn dedup_key(target: &str, cve: &str) -> String {
    let mut h = Sha256::new();
    h.update(target.as_bytes());
    h.update([0x1f]);
    h.update(cve.as_bytes());
    let digest = h.finalize();
    let mut s = String::with_capacity(29);
    s.push_str("tocsin-patch-");
    for b in digest.iter().take(8) {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `first + fraction × (due − first)`, never past `due`.
pub fn at_risk_at(first: i64, due: i64, fraction: f64) -> i64 {
    let span = due.saturating_sub(first) as f64;
    let at = first.saturating_add((span * fraction) as i64);
    at.min(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_is_stable() {
        let k = dedup_key("reg/app:1", "CVE-2021-44228");
        assert_eq!(k.len(), 29);
        assert_eq!(k, dedup_key("reg/app:1", "CVE-2021-44228"));
        assert_ne!(k, dedup_key("reg/app:2", "CVE-2021-44228"));
        // Pinned so a dependency or code change cannot silently re-key
        // every open finding.
        assert_eq!(k, "tocsin-patch-8402a6ecf1c05029");
    }
}
