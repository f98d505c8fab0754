//! SVG chart of a history, its forecast, the interval band and an optional limit.

use std::path::Path;

use plotters::prelude::*;

use crate::config::Forecast;
use crate::io::format_timestamp;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing to draw, or the forecast and its timestamps disagree in length.
    #[error("invalid plot input: {0}")]
    Input(&'static str),
    /// The drawing backend failed (usually writing the file).
    #[error("drawing failed: {0}")]
    Draw(String),
}

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Draws `history` (Unix seconds, value), the forecast at `forecast_ts` with
/// its interval band, and a horizontal `limit` line, to an 1000×500 SVG file.
pub fn plot_svg(
    path: &Path,
    history: &[(i64, f64)],
    forecast_ts: &[i64],
    forecast: &Forecast,
    limit: Option<f64>,
    title: &str,
) -> Result<(), PlotError> {
    let h = forecast_ts.len();
    if forecast.point.len() != h || forecast.lower.len() != h || forecast.upper.len() != h {
        return Err(PlotError::Input("forecast_ts and forecast lengths differ"));
    }
    if history.is_empty() && h == 0 {
        return Err(PlotError::Input("nothing to draw"));
    }
    let xs = history
        .iter()
        .map(|p| p.0)
        .chain(forecast_ts.iter().copied());
    let (x0, x1) = xs.fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let ys = history
        .iter()
        .map(|p| p.1)
        .chain(forecast.lower.iter().copied())
        .chain(forecast.upper.iter().copied())
        .chain(limit)
        .filter(|v| v.is_finite());
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !(y0.is_finite() && y1.is_finite()) {
        return Err(PlotError::Input("no finite values"));
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let x1 = if x1 > x0 { x1 } else { x0 + 1 };

    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0 as f64..x1 as f64, (y0 - pad)..(y1 + pad))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| {
            let s = format_timestamp(*x as i64);
            s.get(..16).unwrap_or(&s).replace('T', " ")
        })
        .draw()
        .map_err(draw_err)?;

    let band: Vec<(f64, f64)> = forecast_ts
        .iter()
        .zip(&forecast.upper)
        .map(|(&t, &u)| (t as f64, u))
        .chain(
            forecast_ts
                .iter()
                .zip(&forecast.lower)
                .rev()
                .map(|(&t, &l)| (t as f64, l)),
        )
        .collect();
    if !band.is_empty() {
        chart
            .draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.2).filled())))
            .map_err(draw_err)?
            .label("interval")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], BLUE.mix(0.2).filled()));
    }
    chart
        .draw_series(LineSeries::new(
            history.iter().map(|&(t, v)| (t as f64, v)),
            &BLACK,
        ))
        .map_err(draw_err)?
        .label("history")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
    chart
        .draw_series(LineSeries::new(
            forecast_ts
                .iter()
                .zip(&forecast.point)
                .map(|(&t, &v)| (t as f64, v)),
            BLUE.stroke_width(2),
        ))
        .map_err(draw_err)?
        .label(format!("forecast ({})", forecast.model))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE));
    if let Some(l) = limit {
        chart
            .draw_series(LineSeries::new(
                [(x0 as f64, l), (x1 as f64, l)],
                RED.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label("limit")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_well_formed_svg() {
        let dir = std::env::temp_dir().join(format!("tocsin-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart.svg");
        let history: Vec<(i64, f64)> = (0..48)
            .map(|i| (i * 3600, (i as f64 / 4.0).sin() + 2.0))
            .collect();
        let ts: Vec<i64> = (48..60).map(|i| i * 3600).collect();
        let f = Forecast {
            point: vec![2.0; 12],
            lower: vec![1.0; 12],
            upper: vec![3.0; 12],
            model: "ses".into(),
            season: None,
        };
        plot_svg(&path, &history, &ts, &f, Some(3.5), "test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<polygon") || svg.contains("<path"));
        assert!(svg.contains("limit"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            plot_svg(&path, &history, &ts[..3], &f, None, "x"),
            Err(PlotError::Input(_))
        ));
    }
}
