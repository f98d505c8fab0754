//! Seeded synthetic scan streams with ground truth, for tests and
//! `patch-bench`.
//!
//! Each target is scanned once a day at its own time of day (plus jitter).
//! It starts with some findings, gains new CVEs and has CVEs fixed from day
//! to day; a few CVEs are on the KEV list, a few get the scanner's exploited
//! flag part-way through an episode (so their priority rises), some targets
//! are internet-facing, some CVEs span several packages and some rows are
//! duplicated. Watermarks come every `watermark_step_ns`.
//!
//! The ground truth is derived from the tracker's *contract* (module doc of
//! [`crate::tracker`] and the rule table of [`crate::priority`]), computed
//! here independently of the tracker's code: which episodes open, which are
//! resolved, and which must breach, at which watermark.

mod score;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use score::{Score, score};

use crate::config::PatchConfig;
use crate::finding::Finding;
use crate::kev::Kev;
use crate::priority::Priority;

const DAY: i64 = 86_400_000_000_000;
const EXPOSED_GLOB: &str = "*/public/*";

/// Knobs of a synthetic stream.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// RNG seed; same seed, same stream.
    pub seed: u64,
    /// Number of scanned targets.
    pub targets: usize,
    /// Days of daily scans.
    pub days: usize,
    /// Findings per target at day 0 (mean).
    pub initial_findings: usize,
    /// New CVEs per target per day (mean).
    pub new_per_day: f64,
    /// Chance per day that an open finding is fixed.
    pub fix_prob: f64,
    /// Size of the CVE universe.
    pub catalog: usize,
    /// Fraction of CVEs on the KEV list.
    pub kev_fraction: f64,
    /// Fraction of episodes where the scanner starts flagging the CVE as
    /// exploited part-way through.
    pub flag_fraction: f64,
    /// Fraction of internet-facing targets.
    pub exposed_fraction: f64,
    /// Chance a finding spans a second package / gets a duplicate row.
    pub extra_row_prob: f64,
    /// Spacing of watermarks, ns (must be shorter than a day minus the
    /// scan grace, so every scan is closed by the watermark).
    pub watermark_step_ns: i64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 7,
            targets: 100,
            days: 30,
            initial_findings: 20,
            new_per_day: 1.0,
            fix_prob: 0.08,
            catalog: 5_000,
            kev_fraction: 0.03,
            flag_fraction: 0.02,
            exposed_fraction: 0.3,
            extra_row_prob: 0.2,
            watermark_step_ns: 3_600_000_000_000,
        }
    }
}

/// One row, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRow {
    /// Scan time.
    pub ts: i64,
    /// Target.
    pub target: String,
    /// Package.
    pub package: String,
    /// Fixed version.
    pub fixed_version: Option<String>,
    /// CVE ("" on markers).
    pub cve: String,
    /// CVSS.
    pub cvss: Option<f64>,
    /// Severity word.
    pub severity: &'static str,
    /// Scanner exploited flag.
    pub known_exploited: Option<bool>,
    /// EPSS.
    pub epss: Option<f64>,
    /// Service.
    pub service: Option<String>,
}

impl GenRow {
    /// Borrowed view for the tracker.
    pub fn as_finding(&self) -> Finding<'_> {
        Finding {
            ts: self.ts,
            scanner: "trivy",
            target: &self.target,
            package: &self.package,
            installed_version: Some("1.0.0"),
            fixed_version: self.fixed_version.as_deref(),
            cve: &self.cve,
            cvss: self.cvss,
            severity: self.severity,
            known_exploited: self.known_exploited,
            epss: self.epss,
            service: self.service.as_deref(),
        }
    }
}

/// Stream element, in delivery order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A row.
    Row(GenRow),
    /// The event-time watermark advanced to this instant.
    Watermark(i64),
}

/// What must have happened to one (target, CVE) episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Target.
    pub target: String,
    /// CVE.
    pub cve: String,
    /// First scan with it.
    pub first_seen: i64,
    /// Scan that no longer had it; `None` = still open at the end.
    pub fixed_at: Option<i64>,
    /// Priority at the end of the episode.
    pub priority: Priority,
    /// Whether its priority rose part-way (one `Update`).
    pub updated: bool,
    /// `Some(due)` when a breach must be emitted, with the due it carries.
    pub breach_due: Option<i64>,
}

/// A generated stream with its ground truth.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Rows and watermarks in delivery order.
    pub items: Vec<Item>,
    /// The KEV list to give the tracker.
    pub kev: Kev,
    /// The configuration the truth assumes (defaults + exposure glob).
    pub config: PatchConfig,
    /// One entry per episode.
    pub truth: Vec<Expected>,
    /// Number of rows.
    pub rows: usize,
}

struct Cve {
    id: String,
    cvss: f64,
    epss: f64,
    kev: bool,
}

/// The rule table of [`crate::priority`] restated for the generator's
/// inputs (CVSS always present), kept separate on purpose: it is the oracle.
fn oracle_priority(cvss: f64, exploited: bool, exposed: bool, epss: f64) -> Priority {
    let likely = epss >= 0.1;
    match () {
        _ if exploited && exposed => Priority::Critical,
        _ if cvss >= 9.0 && (exposed || likely) => Priority::Critical,
        _ if exploited || cvss >= 9.0 => Priority::High,
        _ if cvss >= 7.0 && (exposed || likely) => Priority::High,
        _ if cvss >= 4.0 || likely => Priority::Medium,
        _ => Priority::Low,
    }
}

fn severity_word(cvss: f64) -> &'static str {
    match cvss {
        c if c >= 9.0 => "CRITICAL",
        c if c >= 7.0 => "High",
        c if c >= 4.0 => "medium",
        _ => "LOW",
    }
}

/// An episode while it is being generated.
struct Live {
    cve: usize,
    first_seen: i64,
    flag_from: Option<i64>,
    /// Time of the first scan whose rows carry the flag.
    flag_seen: Option<i64>,
    two_packages: bool,
}

/// Generates a scenario.
pub fn generate(g: &GenConfig) -> Scenario {
    let mut rng = SmallRng::seed_from_u64(g.seed);
    let cvss_choices = [9.8, 9.1, 8.1, 7.5, 6.5, 5.3, 4.3, 3.1, 2.0];
    let catalog: Vec<Cve> = (0..g.catalog.max(1))
        .map(|i| Cve {
            id: format!("CVE-20{:02}-{:05}", 15 + i % 11, 10_000 + i),
            cvss: cvss_choices[rng.random_range(0..cvss_choices.len())],
            // Kept clear of the 0.1 threshold so float noise cannot matter.
            epss: if rng.random_bool(0.2) {
                rng.random_range(0.12..0.95)
            } else {
                rng.random_range(0.0005..0.08)
            },
            kev: rng.random_bool(g.kev_fraction),
        })
        .collect();
    let kev = Kev::from_ids(catalog.iter().filter(|c| c.kev).map(|c| c.id.as_str()));
    let config = PatchConfig {
        internet_facing: vec![EXPOSED_GLOB.to_string()],
        ..PatchConfig::default()
    };
    let grace = config.scan_grace_ns();
    let step = g.watermark_step_ns.clamp(1, DAY - grace - 1);

    let mut rows: Vec<GenRow> = Vec::new();
    let mut episodes: Vec<(String, bool, Live, Option<i64>)> = Vec::new();
    for t in 0..g.targets {
        let exposed = rng.random_bool(g.exposed_fraction);
        let zone = if exposed { "public" } else { "internal" };
        let target = format!("registry.example/{zone}/svc{t}:v{}", t % 7);
        let service = format!("svc{t}");
        let offset = rng.random_range(0..DAY / 2);
        let mut live: Vec<Live> = Vec::new();
        let mut used = std::collections::HashSet::new();
        for day in 0..g.days {
            let ts = day as i64 * DAY + offset + rng.random_range(0..DAY / 4);
            if day > 0 {
                let mut i = 0;
                while i < live.len() {
                    if rng.random_bool(g.fix_prob) {
                        let l = live.swap_remove(i);
                        episodes.push((target.clone(), exposed, l, Some(ts)));
                    } else {
                        i += 1;
                    }
                }
            }
            let new = if day == 0 {
                g.initial_findings
            } else {
                rng.random_range(0.0..2.0 * g.new_per_day).round() as usize
            };
            for _ in 0..new {
                let c = rng.random_range(0..catalog.len());
                if used.insert(c) {
                    let flag_from = rng
                        .random_bool(g.flag_fraction)
                        .then(|| ts + rng.random_range(0..5) * DAY);
                    live.push(Live {
                        cve: c,
                        first_seen: ts,
                        flag_from,
                        flag_seen: None,
                        two_packages: rng.random_bool(g.extra_row_prob),
                    });
                }
            }
            let start = rows.len();
            for l in &mut live {
                let c = &catalog[l.cve];
                let flagged = l.flag_from.is_some_and(|f| ts >= f);
                if flagged && l.flag_seen.is_none() {
                    l.flag_seen = Some(ts);
                }
                let mk = |pkg: String| GenRow {
                    ts,
                    target: target.clone(),
                    package: pkg,
                    fixed_version: Some("1.0.1".into()),
                    cve: c.id.clone(),
                    cvss: Some(c.cvss),
                    severity: severity_word(c.cvss),
                    known_exploited: Some(flagged),
                    epss: Some(c.epss),
                    service: Some(service.clone()),
                };
                rows.push(mk(format!("pkg{}", l.cve % 97)));
                if l.two_packages {
                    rows.push(mk(format!("lib{}", l.cve % 89)));
                }
                if rng.random_bool(g.extra_row_prob / 4.0) {
                    rows.push(mk(format!("pkg{}", l.cve % 97)));
                }
            }
            if rows.len() == start {
                rows.push(GenRow {
                    ts,
                    target: target.clone(),
                    package: String::new(),
                    fixed_version: None,
                    cve: String::new(),
                    cvss: None,
                    severity: "none",
                    known_exploited: None,
                    epss: None,
                    service: Some(service.clone()),
                });
            } else {
                // Scanners do not promise an order within a report.
                for i in (start + 1..rows.len()).rev() {
                    let j = rng.random_range(start..=i);
                    rows.swap(i, j);
                }
            }
        }
        for l in live {
            episodes.push((target.clone(), exposed, l, None));
        }
    }
    rows.sort_by_key(|r| r.ts);
    let end = g.days as i64 * DAY + step;
    let watermarks: Vec<i64> = (1..=end / step + 1).map(|k| k * step).collect();
    let mut items = Vec::with_capacity(rows.len() + watermarks.len());
    let n_rows = rows.len();
    let mut it = rows.into_iter().peekable();
    for &w in &watermarks {
        while let Some(r) = it.next_if(|r| r.ts <= w) {
            items.push(Item::Row(r));
        }
        items.push(Item::Watermark(w));
    }
    items.extend(it.map(Item::Row));

    // Index of the first watermark at or after `t` (the call that sees it).
    let idx = |t: i64| watermarks.partition_point(|&w| w < t);
    let close = |ts: i64| idx(ts.saturating_add(grace));
    let truth = episodes
        .into_iter()
        .map(|(target, exposed, l, fixed_at)| {
            let c = &catalog[l.cve];
            let from_start = l.flag_seen == Some(l.first_seen);
            let p0 = oracle_priority(c.cvss, c.kev || from_start, exposed, c.epss);
            let flag = l.flag_seen;
            let p1 = oracle_priority(c.cvss, c.kev || flag.is_some(), exposed, c.epss);
            let sla = |p| config.sla.for_priority_ns(p);
            let due0 = l.first_seen + sla(p0);
            let b0 = idx(due0);
            let (bidx, bdue) = match flag {
                Some(f) if p1 != p0 => {
                    let due1 = due0.min(l.first_seen + sla(p1));
                    let b1 = idx(due1).max(close(f));
                    if b1 <= b0 { (b1, due1) } else { (b0, due0) }
                }
                _ => (b0, due0),
            };
            let open_until = fixed_at.map_or(usize::MAX, close);
            let breach_due = (bidx < watermarks.len() && bidx < open_until).then_some(bdue);
            Expected {
                target,
                cve: c.id.clone(),
                first_seen: l.first_seen,
                fixed_at,
                priority: p1,
                updated: p1 != p0,
                breach_due,
            }
        })
        .collect();
    Scenario {
        items,
        kev,
        config,
        truth,
        rows: n_rows,
    }
}

/// Feeds a scenario through a fresh tracker, returning the events in
/// emission order.
pub fn replay(s: &Scenario) -> Result<Vec<crate::PatchEvent>, crate::ConfigError> {
    let mut t = crate::PatchTracker::new(s.config.clone(), s.kev.clone())?;
    let mut out = Vec::new();
    for item in &s.items {
        match item {
            Item::Row(r) => t.ingest(&r.as_finding(), &mut out),
            Item::Watermark(w) => t.on_watermark(*w, &mut out),
        }
    }
    t.flush(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::PatchEventKind;

    #[test]
    fn small_scenario_is_scored_perfect_and_deterministic() {
        let g = GenConfig {
            targets: 40,
            days: 40,
            kev_fraction: 0.1,
            flag_fraction: 0.2,
            ..GenConfig::default()
        };
        let s = generate(&g);
        let ev = replay(&s).unwrap();
        let sc = score(&s, &ev);
        assert!(sc.is_perfect(), "{sc:#?}");
        // The scenario exercises every path.
        assert!(sc.breaches_expected > 10, "{sc:?}");
        assert!(sc.resolves_expected > 10, "{sc:?}");
        assert!(sc.updates_expected > 3, "{sc:?}");
        assert!(sc.episodes > sc.resolves_expected);
        assert_eq!(replay(&generate(&g)).unwrap(), ev);
    }

    #[test]
    fn scorer_catches_a_dropped_breach_and_a_duplicate_open() {
        let s = generate(&GenConfig {
            targets: 10,
            days: 20,
            ..GenConfig::default()
        });
        let mut ev = replay(&s).unwrap();
        let b = ev
            .iter()
            .position(|e| e.kind == PatchEventKind::Breached)
            .unwrap();
        ev.remove(b);
        let o = ev
            .iter()
            .position(|e| e.kind == PatchEventKind::Open)
            .unwrap();
        ev.insert(o, ev[o].clone());
        let sc = score(&s, &ev);
        assert_eq!(sc.missed_breaches, 1);
        assert_eq!(sc.duplicate_opens, 1);
        assert!(!sc.is_perfect());
    }
}
