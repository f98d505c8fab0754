//! `[patching]` configuration and the compiled exposure matcher.

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::priority::Priority;

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A number outside its documented range.
    #[error("{field} must be {expected}, got {value}")]
    OutOfRange {
        /// The offending key.
        field: &'static str,
        /// The accepted range, in words.
        expected: &'static str,
        /// What was configured.
        value: String,
    },
    /// An `internet_facing` entry that is not a valid glob.
    #[error("internet_facing entry {pattern:?} is not a valid glob: {source}")]
    Glob {
        /// The entry as written.
        pattern: String,
        /// The parser's complaint.
        source: globset::Error,
    },
}

/// Remediation deadline per priority, counted from the first scan that saw
/// the finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// Deadline for critical findings (default 24 h).
    #[serde(with = "humantime_serde")]
    pub critical: Duration,
    /// Deadline for high findings (default 7 days).
    #[serde(with = "humantime_serde")]
    pub high: Duration,
    /// Deadline for medium findings (default 30 days).
    #[serde(with = "humantime_serde")]
    pub medium: Duration,
    /// Deadline for low findings (default 90 days).
    #[serde(with = "humantime_serde")]
    pub low: Duration,
}

impl Default for SlaConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        SlaConfig {
            critical: Duration::from_secs(DAY),
            high: Duration::from_secs(7 * DAY),
            medium: Duration::from_secs(30 * DAY),
            low: Duration::from_secs(90 * DAY),
        }
    }
}

impl SlaConfig {
    /// The deadline for `priority`, in nanoseconds (saturating, so an absurd
    /// configured duration cannot wrap into the past).
    pub fn for_priority_ns(&self, priority: Priority) -> i64 {
        let d = match priority {
            Priority::Critical => self.critical,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        };
        i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// Settings of the patch prioritisation (`[processors.patching]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatchConfig {
    /// Whether the host runs the patch processor (default on: it only reads
    /// the `vulnerabilities` table).
    pub enabled: bool,
    /// Remediation deadline per priority.
    pub sla: SlaConfig,
    /// Fraction of the SLA after which an open finding is escalated as
    /// at risk, in (0, 1] (default 0.75).
    pub at_risk_fraction: f64,
    /// Globs naming what is reachable from the internet. Each entry is
    /// matched against the finding's service name AND its target (image
    /// ref, host…), so a plain name like `checkout` marks that service and
    /// `registry.example.com/public/*` marks targets.
    pub internet_facing: Vec<String>,
    /// How long after a scan's time its rows may still arrive; the scan is
    /// closed once the watermark passes `ts + scan_grace` (default 60 s).
    #[serde(with = "humantime_serde")]
    pub scan_grace: Duration,
    /// EPSS probability from which exploitation is considered likely, in
    /// [0, 1] (default 0.1).
    pub epss_threshold: f64,
    /// Path of a KEV list (CISA JSON catalog or one CVE id per line). The
    /// host reads it and hands the contents to [`crate::Kev::parse`].
    pub kev_file: Option<PathBuf>,
    /// Most findings tracked at once (default 1,000,000); past it the
    /// lowest-priority, longest-unseen findings are evicted and reported.
    pub max_tracked: usize,
}

impl Default for PatchConfig {
    fn default() -> Self {
        PatchConfig {
            enabled: true,
            sla: SlaConfig::default(),
            at_risk_fraction: 0.75,
            internet_facing: Vec::new(),
            scan_grace: Duration::from_secs(60),
            epss_threshold: 0.1,
            kev_file: None,
            max_tracked: 1_000_000,
        }
    }
}

impl PatchConfig {
    /// Checks ranges and compiles the exposure globs.
    pub fn validate(&self) -> Result<Exposure, ConfigError> {
        let f = self.at_risk_fraction;
        if !(f > 0.0 && f <= 1.0) {
            return Err(ConfigError::OutOfRange {
                field: "at_risk_fraction",
                expected: "in (0, 1]",
                value: f.to_string(),
            });
        }
        let t = self.epss_threshold;
        if !(0.0..=1.0).contains(&t) {
            return Err(ConfigError::OutOfRange {
                field: "epss_threshold",
                expected: "in [0, 1]",
                value: t.to_string(),
            });
        }
        if self.max_tracked == 0 {
            return Err(ConfigError::OutOfRange {
                field: "max_tracked",
                expected: "at least 1",
                value: "0".into(),
            });
        }
        for (field, d) in [
            ("sla.critical", self.sla.critical),
            ("sla.high", self.sla.high),
            ("sla.medium", self.sla.medium),
            ("sla.low", self.sla.low),
        ] {
            if d.is_zero() {
                return Err(ConfigError::OutOfRange {
                    field,
                    expected: "longer than zero",
                    value: "0s".into(),
                });
            }
        }
        Exposure::new(&self.internet_facing)
    }

    /// `scan_grace` in nanoseconds.
    pub fn scan_grace_ns(&self) -> i64 {
        i64::try_from(self.scan_grace.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// Compiled `internet_facing` globs.
#[derive(Debug, Clone)]
pub struct Exposure {
    set: GlobSet,
    patterns: Vec<String>,
}

impl Exposure {
    /// Compiles `patterns`; an empty list exposes nothing.
    pub fn new(patterns: &[String]) -> Result<Self, ConfigError> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let g = Glob::new(p).map_err(|source| ConfigError::Glob {
                pattern: p.clone(),
                source,
            })?;
            b.add(g);
        }
        let set = b.build().map_err(|source| ConfigError::Glob {
            pattern: patterns.join(","),
            source,
        })?;
        Ok(Exposure {
            set,
            patterns: patterns.to_vec(),
        })
    }

    /// The pattern that marks this finding as internet-facing, if any: the
    /// service is tried first because it is the operator's usual vocabulary.
    pub fn matching(&self, service: Option<&str>, target: &str) -> Option<&str> {
        if self.patterns.is_empty() {
            return None;
        }
        let hit = service
            .and_then(|s| self.set.matches(s).first().copied())
            .or_else(|| self.set.matches(target).first().copied())?;
        self.patterns.get(hit).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_durations_parse() {
        let c: PatchConfig = serde_json::from_str(
            r#"{"sla":{"critical":"12h"},"internet_facing":["api","*/public/*"]}"#,
        )
        .unwrap();
        assert_eq!(c.sla.critical, Duration::from_secs(12 * 3600));
        assert_eq!(c.sla.high, Duration::from_secs(7 * 86_400));
        assert_eq!(c.at_risk_fraction, 0.75);
        assert_eq!(c.scan_grace, Duration::from_secs(60));
        let e = c.validate().unwrap();
        assert_eq!(e.matching(Some("api"), "x"), Some("api"));
        assert_eq!(e.matching(None, "reg.io/public/web:1"), Some("*/public/*"));
        assert_eq!(e.matching(Some("db"), "reg.io/private/db:1"), None);
    }

    #[test]
    fn unknown_keys_and_bad_ranges_are_rejected() {
        assert!(serde_json::from_str::<PatchConfig>(r#"{"sla_hours":3}"#).is_err());
        let c = PatchConfig {
            at_risk_fraction: 1.5,
            ..PatchConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::OutOfRange { .. })));
        let c = PatchConfig {
            internet_facing: vec!["a[".into()],
            ..PatchConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::Glob { .. })));
    }
}
