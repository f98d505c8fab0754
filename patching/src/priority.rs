//! The priority rule: CVSS (or scanner severity), known exploitation, EPSS
//! and exposure → a priority, the reasons for it and a risk score.
//!
//! Let `s` be the CVSS base score, or when it is missing the scanner
//! severity mapped to critical 9.0, high 7.0, medium 5.0, low 2.0,
//! negligible 0.0 and unknown 5.0 (an unscored finding is not a safe one).
//! *Exploited* = the row's flag or the KEV list; *exposed* = an
//! `internet_facing` glob matches the service or target; *likely* = EPSS ≥
//! `epss_threshold`. The first rule that holds wins:
//!
//! | priority | rule |
//! |---|---|
//! | critical | exploited and exposed |
//! | critical | s ≥ 9 and (exposed or likely) |
//! | high | exploited |
//! | high | s ≥ 9 |
//! | high | s ≥ 7 and (exposed or likely) |
//! | medium | s ≥ 4 |
//! | medium | likely |
//! | low | otherwise |
//!
//! The risk score orders findings: `(rank + inner) / 4` where rank is 0 for
//! low … 3 for critical and `inner` ∈ [0, 1) blends `0.55·s/10 + 0.25·epss +
//! 0.1·exploited + 0.1·exposed`, so any critical outranks any high.

use serde::{Deserialize, Serialize};

use crate::config::Exposure;
use crate::finding::Severity;
use crate::kev::Kev;

/// Patch priority, ordered low < medium < high < critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Patch within the low SLA.
    Low,
    /// Patch within the medium SLA.
    Medium,
    /// Patch within the high SLA.
    High,
    /// Patch within the critical SLA.
    Critical,
}

impl Priority {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    fn rank(self) -> f64 {
        match self {
            Priority::Low => 0.0,
            Priority::Medium => 1.0,
            Priority::High => 2.0,
            Priority::Critical => 3.0,
        }
    }
}

/// What the rule reads about one (target, CVE) in one scan.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    /// The scanned artifact.
    pub target: &'a str,
    /// The owning service.
    pub service: Option<&'a str>,
    /// The vulnerability id.
    pub cve: &'a str,
    /// CVSS base score.
    pub cvss: Option<f64>,
    /// Scanner severity.
    pub severity: Severity,
    /// The scanner's known-exploited flag.
    pub known_exploited: bool,
    /// EPSS probability.
    pub epss: Option<f64>,
}

/// The decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The priority.
    pub priority: Priority,
    /// Short human-readable reasons; the first names the rule that fired.
    pub reasons: Vec<String>,
    /// Risk in [0, 1] for ordering.
    pub risk: f64,
    /// The score used (CVSS or the severity's stand-in).
    pub score: f64,
    /// Known exploited (row flag or KEV).
    pub exploited: bool,
    /// On the KEV list.
    pub in_kev: bool,
    /// Internet-facing.
    pub exposed: bool,
}

/// The rule with its inputs that do not change per row.
#[derive(Debug, Clone)]
pub struct Prioritizer {
    /// EPSS threshold for "likely exploited".
    pub epss_threshold: f64,
    /// Compiled `internet_facing`.
    pub exposure: Exposure,
    /// Known-exploited list.
    pub kev: Kev,
}

fn valid_cvss(c: Option<f64>) -> Option<f64> {
    c.filter(|c| c.is_finite() && (0.0..=10.0).contains(c))
}

impl Prioritizer {
    /// Applies the rule (see the module doc).
    pub fn assess(&self, s: &Signals<'_>) -> Assessment {
        let mut facts = Vec::with_capacity(4);
        let score = match valid_cvss(s.cvss) {
            Some(c) => {
                facts.push(format!("CVSS {c:.1}"));
                c
            }
            None => {
                let v = match s.severity {
                    Severity::Critical => 9.0,
                    Severity::High => 7.0,
                    Severity::Medium | Severity::Unknown => 5.0,
                    Severity::Low => 2.0,
                    Severity::Negligible => 0.0,
                };
                facts.push(format!(
                    "no CVSS; scanner severity {} scored {v:.1}",
                    s.severity.as_str()
                ));
                v
            }
        };
        let kev_entry = self.kev.get(s.cve);
        let in_kev = kev_entry.is_some();
        let exploited = in_kev || s.known_exploited;
        if let Some(e) = kev_entry {
            let mut f = String::from("known exploited (KEV");
            if let Some(d) = &e.date_added {
                f.push_str(", added ");
                f.push_str(d);
            }
            if e.ransomware {
                f.push_str(", ransomware use");
            }
            f.push(')');
            facts.push(f);
        } else if s.known_exploited {
            facts.push("known exploited (scanner flag)".into());
        }
        let exposed_by = self.exposure.matching(s.service, s.target);
        if let Some(p) = exposed_by {
            facts.push(format!("internet-facing (matches {p:?})"));
        }
        let exposed = exposed_by.is_some();
        let epss = s.epss.filter(|e| e.is_finite()).map(|e| e.clamp(0.0, 1.0));
        let likely = epss.is_some_and(|e| e >= self.epss_threshold);
        if let Some(e) = epss {
            let cmp = if likely { "≥" } else { "<" };
            facts.push(format!("EPSS {e:.3} {cmp} {:.3}", self.epss_threshold));
        }

        let (priority, rule) = if exploited && exposed {
            (Priority::Critical, "known exploited and internet-facing")
        } else if score >= 9.0 && exposed {
            (Priority::Critical, "score ≥ 9 and internet-facing")
        } else if score >= 9.0 && likely {
            (
                Priority::Critical,
                "score ≥ 9 and exploitation likely (EPSS)",
            )
        } else if exploited {
            (Priority::High, "known exploited")
        } else if score >= 9.0 {
            (Priority::High, "score ≥ 9")
        } else if score >= 7.0 && exposed {
            (Priority::High, "score ≥ 7 and internet-facing")
        } else if score >= 7.0 && likely {
            (Priority::High, "score ≥ 7 and exploitation likely (EPSS)")
        } else if score >= 4.0 {
            (Priority::Medium, "score ≥ 4")
        } else if likely {
            (
                Priority::Medium,
                "exploitation likely (EPSS) despite score < 4",
            )
        } else {
            (Priority::Low, "score < 4, not exploited, not likely")
        };
        let mut reasons = Vec::with_capacity(facts.len() + 1);
        reasons.push(format!("{}: {rule}", priority.as_str()));
        reasons.extend(facts);

        let inner = 0.55 * score / 10.0
            + 0.25 * epss.unwrap_or(0.0)
            + if exploited { 0.1 } else { 0.0 }
            + if exposed { 0.1 } else { 0.0 };
        let risk = (priority.rank() + inner.clamp(0.0, 0.999)) / 4.0;
        Assessment {
            priority,
            reasons,
            risk,
            score,
            exploited,
            in_kev,
            exposed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(kev: &[&str]) -> Prioritizer {
        Prioritizer {
            epss_threshold: 0.1,
            exposure: Exposure::new(&["web".to_string(), "reg/public/*".to_string()]).unwrap(),
            kev: Kev::from_ids(kev),
        }
    }

    fn sig(
        cvss: Option<f64>,
        exploited: bool,
        epss: Option<f64>,
        exposed: bool,
    ) -> Signals<'static> {
        Signals {
            target: if exposed {
                "reg/public/app:1"
            } else {
                "reg/internal/app:1"
            },
            service: Some("batch"),
            cve: "CVE-2024-0001",
            cvss,
            severity: Severity::Unknown,
            known_exploited: exploited,
            epss,
        }
    }

    fn p(s: Signals<'_>) -> Assessment {
        rules(&[]).assess(&s)
    }

    #[test]
    fn each_branch() {
        use Priority::*;
        let cases = [
            (
                sig(Some(5.0), true, None, true),
                Critical,
                "known exploited and internet-facing",
            ),
            (
                sig(Some(9.1), false, None, true),
                Critical,
                "score ≥ 9 and internet-facing",
            ),
            (
                sig(Some(9.1), false, Some(0.2), false),
                Critical,
                "score ≥ 9 and exploitation likely",
            ),
            (
                sig(Some(3.0), true, None, false),
                High,
                "high: known exploited",
            ),
            (sig(Some(9.1), false, Some(0.01), false), High, "score ≥ 9"),
            (
                sig(Some(7.5), false, None, true),
                High,
                "score ≥ 7 and internet-facing",
            ),
            (
                sig(Some(7.5), false, Some(0.5), false),
                High,
                "score ≥ 7 and exploitation likely",
            ),
            (
                sig(Some(7.5), false, Some(0.05), false),
                Medium,
                "score ≥ 4",
            ),
            (sig(Some(4.0), false, None, true), Medium, "score ≥ 4"),
            (
                sig(Some(2.0), false, Some(0.3), false),
                Medium,
                "despite score < 4",
            ),
            (sig(Some(3.9), false, Some(0.01), true), Low, "score < 4"),
        ];
        for (i, (s, want, rule)) in cases.into_iter().enumerate() {
            let a = p(s);
            assert_eq!(a.priority, want, "case {i}: {:?}", a.reasons);
            assert!(a.reasons[0].contains(rule), "case {i}: {:?}", a.reasons);
            assert!((0.0..=1.0).contains(&a.risk));
        }
    }

    #[test]
    fn severity_stands_in_for_missing_cvss() {
        let mut s = sig(None, false, None, false);
        s.severity = Severity::Critical;
        let a = p(s);
        assert_eq!(a.priority, Priority::High);
        assert!(
            a.reasons[1].contains("severity critical"),
            "{:?}",
            a.reasons
        );
        s.severity = Severity::Unknown;
        assert_eq!(p(s).priority, Priority::Medium);
        s.severity = Severity::Low;
        assert_eq!(p(s).priority, Priority::Low);
        // An out-of-range CVSS is ignored rather than trusted.
        s.cvss = Some(42.0);
        s.severity = Severity::High;
        assert_eq!(p(s).score, 7.0);
    }

    #[test]
    fn kev_list_counts_as_exploited_and_exposure_by_service() {
        let r = rules(&["cve-2024-0001"]);
        let mut s = sig(Some(3.0), false, None, false);
        let a = r.assess(&s);
        assert_eq!(a.priority, Priority::High);
        assert!(a.in_kev && a.exploited);
        assert!(a.reasons.iter().any(|r| r.contains("KEV")));
        s.service = Some("web");
        let a = r.assess(&s);
        assert_eq!(a.priority, Priority::Critical);
        assert!(
            a.reasons.iter().any(|r| r.contains("\"web\"")),
            "{:?}",
            a.reasons
        );
    }

    #[test]
    fn risk_orders_priorities() {
        let crit = p(sig(Some(9.0), true, Some(0.0), true)).risk;
        let high = p(sig(Some(10.0), true, Some(0.09), false)).risk;
        let low = p(sig(Some(0.0), false, None, false)).risk;
        assert!(crit > high && high > low, "{crit} {high} {low}");
        assert_eq!(low, 0.0);
    }
}
