//! Properties of the tracker over random scan streams.

use std::collections::HashMap;

use proptest::prelude::*;
use tocsin_patching::{Finding, Kev, PatchConfig, PatchEvent, PatchEventKind, PatchTracker};

const H: i64 = 3_600_000_000_000;

#[derive(Debug, Clone)]
enum Step {
    /// A scan of target `t` after `dt` hours, with these CVE indices (and a
    /// cvss index per CVE); an empty set is a clean scan.
    Scan {
        t: usize,
        dt: i64,
        cves: Vec<(usize, usize)>,
        exploited: bool,
    },
    /// The watermark moves `dt` hours past the newest scan time.
    Watermark { dt: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..48i64, prop::collection::vec((0..6usize, 0..4usize), 0..5), any::<bool>())
            .prop_map(|(t, dt, cves, exploited)| Step::Scan { t, dt, cves, exploited }),
        1 => prop_oneof![0..30i64, 100..3000i64].prop_map(|dt| Step::Watermark { dt }),
    ]
}

const TARGETS: [&str; 3] = ["reg/public/a", "reg/internal/b", "c"];
const CVES: [&str; 6] = ["CVE-1", "CVE-2", "CVE-3", "CVE-4", "CVE-5", "CVE-6"];
const CVSS: [f64; 4] = [9.8, 7.5, 5.0, 2.0];

fn run(steps: &[Step], snapshot_at: Option<usize>, max_tracked: usize) -> Vec<PatchEvent> {
    let cfg = PatchConfig {
        internet_facing: vec!["*/public/*".into()],
        max_tracked,
        ..PatchConfig::default()
    };
    let kev = Kev::from_ids(["CVE-6"]);
    let mut tr = PatchTracker::new(cfg.clone(), kev.clone()).unwrap();
    let mut now = 0i64;
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if snapshot_at == Some(i) {
            let json = tr.snapshot_json().unwrap();
            tr = PatchTracker::restore_json(cfg.clone(), kev.clone(), &json).unwrap();
        }
        match s {
            Step::Scan {
                t,
                dt,
                cves,
                exploited,
            } => {
                now += dt * H + 1;
                let mk = |cve: &'static str, cvss: f64| Finding {
                    ts: now,
                    scanner: "grype",
                    target: TARGETS[*t],
                    package: "p",
                    installed_version: None,
                    fixed_version: None,
                    cve,
                    cvss: Some(cvss),
                    severity: "unknown",
                    known_exploited: Some(*exploited),
                    epss: None,
                    service: None,
                };
                if cves.is_empty() {
                    tr.ingest(&mk("", f64::NAN), &mut out);
                }
                for (c, v) in cves {
                    tr.ingest(&mk(CVES[*c], CVSS[*v]), &mut out);
                }
            }
            Step::Watermark { dt } => tr.on_watermark(now + dt * H, &mut out),
        }
    }
    tr.flush(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_are_well_formed(
        steps in prop::collection::vec(step(), 1..60),
        cut in 0usize..60,
        cap in prop_oneof![Just(3usize), Just(1_000_000)],
    ) {
        let ev = run(&steps, None, cap);
        // Same input, same events; and a checkpoint anywhere changes nothing.
        prop_assert_eq!(&run(&steps, None, cap), &ev);
        prop_assert_eq!(&run(&steps, Some(cut), cap), &ev);

        // Per key: episodes of Open (Update|AtRisk|Breached)* [Resolve|Evicted],
        // each kind at most once per episode except Update, AtRisk never after
        // Breached.
        let mut state: HashMap<&str, Option<Vec<PatchEventKind>>> = HashMap::new();
        let mut opens: HashMap<&str, usize> = HashMap::new();
        let mut resolves: HashMap<&str, usize> = HashMap::new();
        for e in &ev {
            let ep = state.entry(&e.dedup_key).or_insert(None);
            match e.kind {
                PatchEventKind::Open => {
                    prop_assert!(ep.is_none(), "open while open: {:?}", e);
                    *ep = Some(vec![PatchEventKind::Open]);
                    *opens.entry(&e.dedup_key).or_default() += 1;
                }
                k => {
                    let Some(seen) = ep.as_mut() else {
                        return Err(TestCaseError::fail(format!("{k:?} before open: {e:?}")));
                    };
                    if k != PatchEventKind::Update {
                        prop_assert!(!seen.contains(&k), "{:?} twice in an episode", k);
                    }
                    if k == PatchEventKind::AtRisk {
                        prop_assert!(!seen.contains(&PatchEventKind::Breached));
                    }
                    seen.push(k);
                    if matches!(k, PatchEventKind::Resolve | PatchEventKind::Evicted) {
                        *ep = None;
                        *resolves.entry(&e.dedup_key).or_default() += 1;
                    }
                }
            }
        }
        // A key that never came back (one episode) has no duplicate event
        // kind at all, and its resolve comes after its open.
        for (k, n) in &opens {
            prop_assert!(*n >= resolves.get(k).copied().unwrap_or(0));
            if *n == 1 {
                let mut kinds: Vec<_> = ev.iter().filter(|e| &e.dedup_key == k && e.kind != PatchEventKind::Update).map(|e| e.kind).collect();
                let len = kinds.len();
                kinds.sort();
                kinds.dedup();
                prop_assert_eq!(kinds.len(), len);
            }
        }
        // Every breach is emitted: an episode open at the end whose due is
        // behind the last watermark must carry one.
        let last_wm = steps.iter().fold((0i64, i64::MIN), |(now, wm), s| match s {
            Step::Scan { dt, .. } => (now + dt * H + 1, wm),
            Step::Watermark { dt } => (now, wm.max(now + dt * H)),
        }).1;
        for (k, ep) in &state {
            if let Some(seen) = ep {
                let last = ev.iter().rev().find(|e| e.dedup_key == *k).unwrap();
                if last.due <= last_wm {
                    prop_assert!(seen.contains(&PatchEventKind::Breached), "{:?} {:?}", k, seen);
                }
            }
        }
    }
}
