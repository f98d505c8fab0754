//! Checks on the shared NAB data (skipped with a note when it is absent).

use std::path::PathBuf;

use tocsin_forecast::io::read_series_csv;
use tocsin_forecast::windows::{origins, resample_mean};
use tocsin_forecast::{ForecastConfig, forecast, m4, season_candidates_for_step};

fn nab_dir() -> Option<PathBuf> {
    let root = std::env::var("TOCSIN_SHARED_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into());
    let dir = PathBuf::from(root).join("nab/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} not found, skipping NAB test", dir.display());
        None
    }
}

#[test]
fn every_nab_file_reads_with_a_five_minute_step() {
    let Some(dir) = nab_dir() else { return };
    let mut count = 0;
    for sub in [
        "realAWSCloudwatch",
        "artificialNoAnomaly",
        "artificialWithAnomaly",
    ] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let s = read_series_csv(std::fs::File::open(&path).unwrap(), "x").unwrap();
            assert_eq!(s.step_seconds, Some(300), "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 28);
}

#[test]
fn beats_naive2_on_a_noisy_daily_pattern() {
    let Some(dir) = nab_dir() else { return };
    let path = dir.join("artificialNoAnomaly/art_daily_small_noise.csv");
    let s = read_series_csv(std::fs::File::open(path).unwrap(), "x").unwrap();
    let hourly = resample_mean(&s, 3600);
    let config = ForecastConfig {
        horizon: 48,
        season_candidates: season_candidates_for_step(3600),
        ..ForecastConfig::default()
    };
    let (mut ours, mut naive) = (m4::Scores::default(), m4::Scores::default());
    for o in origins(hourly.values.len(), 48, 48, 0.5) {
        let (ins, act) = (&hourly.values[..o], &hourly.values[o..o + 48]);
        let f = forecast(ins, &config).unwrap();
        assert_eq!(f.season, Some(24));
        ours.add(
            m4::smape(act, &f.point),
            m4::mase(ins, act, &f.point, 24).unwrap(),
        );
        let n2 = m4::naive2(ins, 48, 24);
        naive.add(m4::smape(act, &n2), m4::mase(ins, act, &n2, 24).unwrap());
    }
    assert!(ours.count >= 3);
    assert!(ours.owa(&naive) < 1.0, "OWA {}", ours.owa(&naive));
}
