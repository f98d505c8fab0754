//! Prints the detector's per-row internals for one NAB-style CSV file:
//! `cargo run --release --example trace -- <file.csv> [from] [to]`.

use tocsin_anomaly::nab::load_series;
use tocsin_anomaly::{DetectorConfig, SeriesDetector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: trace <file.csv> [from] [to]")?;
    let from: usize = args.get(2).map_or(Ok(0), |s| s.parse())?;
    let to: usize = args.get(3).map_or(Ok(usize::MAX), |s| s.parse())?;
    let cfg: DetectorConfig = match std::env::var("DETECTOR_CONFIG") {
        Ok(j) => serde_json::from_str(&j)?,
        Err(_) => DetectorConfig::default(),
    };
    let s = load_series(std::path::Path::new(path))?;
    let mut d = SeriesDetector::new(&cfg);
    for (i, (&t, &x)) in s.ts_ns.iter().zip(&s.values).enumerate() {
        let sc = d.update(t, x);
        if i >= from && i < to {
            let g = d.diagnostics();
            println!(
                "{i} {x:.3} exp {:.3} score {:.3} {:?} {} acf {:.2} sp {:.3} p {:.1e} {:.1e} {:.1e} {:.1e} st {:.2} {:.2} {:.2} {:.2} tail {:.2} {:.2}",
                sc.expected,
                sc.score,
                sc.direction,
                g.baseline,
                g.acf_daily,
                g.spread,
                g.p_values[0],
                g.p_values[1],
                g.p_values[2],
                g.p_values[3],
                g.stats[0],
                g.stats[1],
                g.stats[2],
                g.stats[3],
                g.point_tail.0,
                g.point_tail.1
            );
        }
    }
    Ok(())
}
