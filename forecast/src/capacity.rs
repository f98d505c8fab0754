//! Capacity decisions from forecasts and utilisation samples: when a limit
//! will be hit, how much to provision, right-sizing and idle detection.

use crate::config::Forecast;

/// Which forecast curve crossed the limit first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The point forecast (expected exhaustion).
    Point,
    /// The upper interval bound (exhaustion is plausible at the interval's level).
    Upper,
}

/// When the forecast reaches a limit, in steps after the end of the history (1 = next step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhaustion {
    /// Earliest crossing of either curve.
    pub steps: usize,
    /// Curve that crossed at `steps` (`Point` when both cross at the same step).
    pub bound: Bound,
    /// First crossing of the point forecast, if within the horizon.
    pub point_steps: Option<usize>,
    /// First crossing of the upper bound, if within the horizon.
    pub upper_steps: Option<usize>,
}

/// First step (1-based) at which `values` reach or exceed `limit`.
pub fn first_crossing(values: &[f64], limit: f64) -> Option<usize> {
    values.iter().position(|&v| v >= limit).map(|i| i + 1)
}

/// First crossing of `limit` by the point forecast and by the upper bound;
/// `None` when neither reaches it within the horizon (or the limit is NaN).
pub fn time_to_exhaustion(forecast: &Forecast, limit: f64) -> Option<Exhaustion> {
    if limit.is_nan() {
        return None;
    }
    let point_steps = first_crossing(&forecast.point, limit);
    let upper_steps = first_crossing(&forecast.upper, limit);
    let (steps, bound) = match (point_steps, upper_steps) {
        (Some(p), Some(u)) if u < p => (u, Bound::Upper),
        (Some(p), _) => (p, Bound::Point),
        (None, Some(u)) => (u, Bound::Upper),
        (None, None) => return None,
    };
    Some(Exhaustion {
        steps,
        bound,
        point_steps,
        upper_steps,
    })
}

/// Capacity to provision: the peak of the upper bound over the horizon times
/// `headroom` (e.g. 1.2 for 20% spare). `None` for an empty forecast or a
/// non-finite result.
pub fn recommended_capacity(forecast: &Forecast, headroom: f64) -> Option<f64> {
    let peak = forecast.upper.iter().copied().reduce(f64::max)?;
    let cap = peak * headroom;
    cap.is_finite().then_some(cap)
}

/// Inputs of [`rightsize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RightsizeParams {
    /// Size currently provisioned, in capacity units (vCPUs, GiB, …).
    pub current_size: f64,
    /// Utilisation the resized resource should stay under at the chosen quantile (e.g. 0.7).
    pub target_utilisation: f64,
    /// Quantile of demand to size for (e.g. 0.95).
    pub quantile: f64,
    /// Sizes come in multiples of this (e.g. 1 vCPU); must be positive.
    pub granularity: f64,
    /// Smallest size allowed.
    pub min_size: f64,
    /// Cost of one unit per billing period.
    pub cost_per_unit: f64,
}

/// A right-sizing suggestion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rightsize {
    /// Demand at the chosen quantile, in capacity units.
    pub demand: f64,
    /// Suggested size.
    pub suggested_size: f64,
    /// Cost saved per billing period (negative: the resource should grow).
    pub saving: f64,
}

/// Why a capacity computation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CapacityError {
    /// No finite samples were given.
    #[error("no finite utilisation samples")]
    NoSamples,
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParam(&'static str),
}

/// Linear-interpolation quantile of the finite values of `samples`.
fn sample_quantile(samples: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// Suggests a size from utilisation samples given as fractions of the current
/// size (0.35 = 35%): size for the `quantile` of demand at `target_utilisation`,
/// rounded up to the granularity, never below `min_size`.
pub fn rightsize(utilisation: &[f64], p: &RightsizeParams) -> Result<Rightsize, CapacityError> {
    if !(p.current_size.is_finite() && p.current_size > 0.0) {
        return Err(CapacityError::InvalidParam("current_size must be positive"));
    }
    if !(p.target_utilisation > 0.0 && p.target_utilisation <= 1.0) {
        return Err(CapacityError::InvalidParam(
            "target_utilisation must be in (0, 1]",
        ));
    }
    if !(0.0..=1.0).contains(&p.quantile) {
        return Err(CapacityError::InvalidParam("quantile must be in [0, 1]"));
    }
    if !(p.granularity.is_finite() && p.granularity > 0.0) {
        return Err(CapacityError::InvalidParam("granularity must be positive"));
    }
    let q = sample_quantile(utilisation, p.quantile).ok_or(CapacityError::NoSamples)?;
    let demand = q.max(0.0) * p.current_size;
    let raw = demand / p.target_utilisation;
    // Tiny epsilon so an exact multiple is not bumped up by rounding noise.
    let units = (raw / p.granularity - 1e-9).ceil().max(0.0);
    let suggested_size = (units * p.granularity).max(p.min_size);
    Ok(Rightsize {
        demand,
        suggested_size,
        saving: (p.current_size - suggested_size) * p.cost_per_unit,
    })
}

/// A resource is idle when the `quantile` of its utilisation samples is below
/// `threshold` (e.g. the 95th percentile of CPU under 2%). No samples: not idle.
pub fn is_idle(utilisation: &[f64], threshold: f64, quantile: f64) -> bool {
    sample_quantile(utilisation, quantile).is_some_and(|q| q < threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(point: &[f64], upper: &[f64]) -> Forecast {
        Forecast {
            point: point.to_vec(),
            lower: point.iter().map(|v| v - 1.0).collect(),
            upper: upper.to_vec(),
            model: "test".into(),
            season: None,
        }
    }

    #[test]
    fn exhaustion_reports_both_bounds() {
        let f = fc(&[1.0, 2.0, 3.0, 4.0], &[2.0, 3.5, 4.5, 5.5]);
        let e = time_to_exhaustion(&f, 3.0).unwrap();
        assert_eq!(e.steps, 2);
        assert_eq!(e.bound, Bound::Upper);
        assert_eq!(e.point_steps, Some(3));
        assert_eq!(e.upper_steps, Some(2));
        let e = time_to_exhaustion(&f, 5.0).unwrap();
        assert_eq!((e.steps, e.bound, e.point_steps), (4, Bound::Upper, None));
        assert!(time_to_exhaustion(&f, 10.0).is_none());
        // Both at the same step: the point forecast is the stronger statement.
        let e = time_to_exhaustion(&f, 1.0).unwrap();
        assert_eq!((e.steps, e.bound), (1, Bound::Point));
        assert!(time_to_exhaustion(&f, f64::NAN).is_none());
    }

    #[test]
    fn recommended_capacity_is_peak_upper_times_headroom() {
        let f = fc(&[1.0, 2.0], &[3.0, 5.0]);
        assert!((recommended_capacity(&f, 1.2).unwrap() - 6.0).abs() < 1e-12);
        assert!(recommended_capacity(&fc(&[], &[]), 1.2).is_none());
    }

    #[test]
    fn rightsize_hand_computed() {
        // 8 vCPUs, p95 of 0.1..1.0 step 0.1... use 11 samples 0.0..0.5:
        // quantile 0.9 of [0,0.05,..,0.5] = 0.45 -> demand 3.6 vCPU,
        // /0.6 target = 6.0 -> 6 vCPUs, saving 2 * 10 = 20.
        let s: Vec<f64> = (0..=10).map(|i| i as f64 * 0.05).collect();
        let p = RightsizeParams {
            current_size: 8.0,
            target_utilisation: 0.6,
            quantile: 0.9,
            granularity: 1.0,
            min_size: 1.0,
            cost_per_unit: 10.0,
        };
        let r = rightsize(&s, &p).unwrap();
        assert!((r.demand - 3.6).abs() < 1e-9, "{r:?}");
        assert_eq!(r.suggested_size, 6.0);
        assert!((r.saving - 20.0).abs() < 1e-9);
        // Overloaded: grows, negative saving.
        let r = rightsize(&[0.95, 1.0], &p).unwrap();
        assert_eq!(r.suggested_size, 14.0);
        assert!(r.saving < 0.0);
        // Idle resource floors at min_size.
        assert_eq!(rightsize(&[0.0; 5], &p).unwrap().suggested_size, 1.0);
        assert_eq!(rightsize(&[f64::NAN], &p), Err(CapacityError::NoSamples));
        let bad = RightsizeParams {
            granularity: 0.0,
            ..p
        };
        assert!(matches!(
            rightsize(&s, &bad),
            Err(CapacityError::InvalidParam(_))
        ));
    }

    #[test]
    fn idle_detection() {
        let mostly_idle: Vec<f64> = (0..100).map(|i| if i == 50 { 0.9 } else { 0.01 }).collect();
        assert!(is_idle(&mostly_idle, 0.02, 0.95));
        assert!(!is_idle(&mostly_idle, 0.02, 1.0));
        assert!(!is_idle(&[], 0.02, 0.95));
    }
}
