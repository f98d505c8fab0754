//! Evaluation windows for backtests: resampling to a coarser step and cutting
//! rolling forecast origins in the last part of a series.

use crate::io::Series;

/// Resamples to `step` seconds by the mean of the points in each bucket
/// (buckets aligned to multiples of `step` since the Unix epoch). Empty
/// buckets inside the range repeat the previous bucket's mean, so the result
/// is regular.
pub fn resample_mean(series: &Series, step: i64) -> Series {
    let mut timestamps = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    if step <= 0 {
        return Series {
            id: series.id.clone(),
            timestamps,
            values,
            step_seconds: None,
        };
    }
    let mut current: Option<(i64, f64, usize)> = None;
    let push = |bucket: i64, mean: f64, timestamps: &mut Vec<i64>, values: &mut Vec<f64>| {
        if let (Some(&last_t), Some(&last_v)) = (timestamps.last(), values.last()) {
            let mut t = last_t + step;
            while t < bucket {
                timestamps.push(t);
                values.push(last_v);
                t += step;
            }
        }
        timestamps.push(bucket);
        values.push(mean);
    };
    for (&t, &v) in series.timestamps.iter().zip(&series.values) {
        let bucket = t.div_euclid(step) * step;
        match current {
            Some((b, sum, n)) if b == bucket => current = Some((b, sum + v, n + 1)),
            Some((b, sum, n)) => {
                push(b, sum / n as f64, &mut timestamps, &mut values);
                current = Some((bucket, v, 1));
            }
            None => current = Some((bucket, v, 1)),
        }
    }
    if let Some((b, sum, n)) = current {
        push(b, sum / n as f64, &mut timestamps, &mut values);
    }
    Series {
        id: series.id.clone(),
        step_seconds: Some(step),
        timestamps,
        values,
    }
}

/// Forecast origins (history lengths) for a backtest: `n − horizon`, then
/// every `every` steps earlier, as long as the history keeps at least
/// `(1 − tail_fraction)·n` points. Latest origin first.
pub fn origins(n: usize, horizon: usize, every: usize, tail_fraction: f64) -> Vec<usize> {
    let min_origin = ((1.0 - tail_fraction.clamp(0.0, 1.0)) * n as f64).ceil() as usize;
    let mut out = Vec::new();
    if n <= horizon || every == 0 {
        return out;
    }
    let mut o = n - horizon;
    while o >= min_origin.max(1) {
        out.push(o);
        if o < every {
            break;
        }
        o -= every;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_means_and_gap_filling() {
        let s = Series {
            id: "x".into(),
            // Two points in hour 0, one in hour 1, none in hour 2, one in hour 3.
            timestamps: vec![0, 1800, 3600, 3 * 3600 + 60],
            values: vec![1.0, 3.0, 5.0, 7.0],
            step_seconds: Some(1800),
        };
        let r = resample_mean(&s, 3600);
        assert_eq!(r.timestamps, vec![0, 3600, 7200, 10800]);
        assert_eq!(r.values, vec![2.0, 5.0, 5.0, 7.0]);
        assert_eq!(r.step_seconds, Some(3600));
    }

    #[test]
    fn origins_in_the_tail() {
        assert_eq!(origins(336, 48, 48, 0.5), vec![288, 240, 192]);
        assert_eq!(origins(40, 48, 48, 0.5), Vec::<usize>::new());
        assert_eq!(origins(100, 10, 0, 0.5), Vec::<usize>::new());
    }
}
