//! The linear-trend check behind `scale`, next to the forecaster's.

/// Steps until an ordinary-least-squares line through `values` reaches
/// `limit`, when its slope is positive and at least three standard errors
/// from zero and the crossing is within `max_steps`; with the line's value
/// `max_steps` ahead.
pub(super) fn linear_crossing(
    values: &[f64],
    limit: f64,
    max_steps: usize,
) -> Option<(usize, f64)> {
    let n = values.len();
    if n < 8 {
        return None;
    }
    let nf = n as f64;
    let t_mean = (nf - 1.0) / 2.0;
    let y_mean = values.iter().sum::<f64>() / nf;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, y) in values.iter().enumerate() {
        let dt = t as f64 - t_mean;
        sxy += dt * (y - y_mean);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    let intercept = y_mean - slope * t_mean;
    let sse: f64 = values
        .iter()
        .enumerate()
        .map(|(t, y)| (y - intercept - slope * t as f64).powi(2))
        .sum();
    let se = (sse / (nf - 2.0)).sqrt() / sxx.sqrt();
    if !(slope > 0.0 && slope > 3.0 * se) {
        return None;
    }
    let now = intercept + slope * (nf - 1.0);
    let projected = now + slope * max_steps as f64;
    if now >= limit {
        return Some((1, projected));
    }
    let steps = ((limit - now) / slope).ceil();
    (steps.is_finite() && steps >= 1.0 && steps <= max_steps as f64)
        .then_some((steps as usize, projected))
}
