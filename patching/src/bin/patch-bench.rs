//! Runs a synthetic scan stream through `PatchTracker` and reports
//! throughput, events by kind and correctness against the ground truth.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use tocsin_patching::generator::{GenConfig, Item, generate, score};
use tocsin_patching::{PatchEventKind, PatchTracker};

/// Patch tracker benchmark on a generated fleet.
#[derive(Parser)]
struct Args {
    /// Scanned targets.
    #[arg(long, default_value_t = 1000)]
    targets: usize,
    /// Days of daily scans.
    #[arg(long, default_value_t = 30)]
    days: usize,
    /// Findings per target at day 0.
    #[arg(long, default_value_t = 20)]
    initial: usize,
    /// RNG seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also checkpoint (snapshot JSON + restore) once mid-stream.
    #[arg(long)]
    checkpoint: bool,
}

/// CPU time of this (single-threaded) process in ns, from Linux's
/// schedstat: the machine is shared, so wall time alone overstates cost.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() -> ExitCode {
    let a = Args::parse();
    let g = GenConfig {
        seed: a.seed,
        targets: a.targets,
        days: a.days,
        initial_findings: a.initial,
        ..GenConfig::default()
    };
    let t0 = Instant::now();
    let s = generate(&g);
    println!(
        "generated {} rows, {} episodes, {} KEV ids in {:.2?}",
        s.rows,
        s.truth.len(),
        s.kev.len(),
        t0.elapsed()
    );
    let mut tr = match PatchTracker::new(s.config.clone(), s.kev.clone()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut events = Vec::new();
    let mid = s.items.len() / 2;
    let mut ckpt = None;
    let c0 = cpu_ns();
    let t0 = Instant::now();
    for (i, item) in s.items.iter().enumerate() {
        if a.checkpoint && i == mid {
            let c0 = Instant::now();
            let json = match tr.snapshot_json() {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("snapshot: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tr = match PatchTracker::restore_json(s.config.clone(), s.kev.clone(), &json) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("restore: {e}");
                    return ExitCode::FAILURE;
                }
            };
            ckpt = Some((json.len(), c0.elapsed()));
        }
        match item {
            Item::Row(r) => tr.ingest(&r.as_finding(), &mut events),
            Item::Watermark(w) => tr.on_watermark(*w, &mut events),
        }
    }
    tr.flush(&mut events);
    let el = t0.elapsed();
    let cpu = c0
        .zip(cpu_ns())
        .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9);
    println!(
        "tracker: {} rows in {:.3} s = {:.0} findings/s ({} scans closed, {} tracked at end)",
        s.rows,
        el.as_secs_f64(),
        s.rows as f64 / el.as_secs_f64(),
        tr.stats().scans_closed,
        tr.tracked()
    );
    if let Some(cpu) = cpu {
        println!(
            "tracker CPU time: {cpu:.3} s = {:.0} findings/s per core",
            s.rows as f64 / cpu
        );
    }
    if let Some((bytes, d)) = ckpt {
        println!("checkpoint: {bytes} bytes JSON, snapshot+restore {d:.2?}");
    }
    let kinds = [
        PatchEventKind::Open,
        PatchEventKind::Update,
        PatchEventKind::Resolve,
        PatchEventKind::AtRisk,
        PatchEventKind::Breached,
        PatchEventKind::Evicted,
    ];
    let counts: Vec<String> = kinds
        .iter()
        .map(|k| {
            format!(
                "{}={}",
                k.as_str(),
                events.iter().filter(|e| e.kind == *k).count()
            )
        })
        .collect();
    println!("events: {} ({})", events.len(), counts.join(" "));
    let sc = score(&s, &events);
    println!(
        "truth: opens {}/{} (dup {}), resolves {}/{} (wrong {}), breaches {}/{} (wrong {}, due mismatch {}), updates {} (wrong {}), at-risk errors {}, order/key errors {}, unknown {}, priority mismatches {}",
        sc.opens_expected - sc.missed_opens,
        sc.opens_expected,
        sc.duplicate_opens,
        sc.resolves_expected - sc.missed_resolves,
        sc.resolves_expected,
        sc.wrong_resolves,
        sc.breaches_expected - sc.missed_breaches,
        sc.breaches_expected,
        sc.wrong_breaches,
        sc.breach_due_mismatches,
        sc.updates_expected,
        sc.wrong_updates,
        sc.wrong_at_risk,
        sc.order_or_key_errors,
        sc.unknown_events,
        sc.priority_mismatches
    );
    if sc.is_perfect() {
        println!("correctness: PASS");
        ExitCode::SUCCESS
    } else {
        println!("correctness: FAIL");
        ExitCode::FAILURE
    }
}
