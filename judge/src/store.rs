//! Per (service, version, window) aggregates: request and error counts, an
//! HDR latency histogram, saturation samples and log-pattern counts.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Latency histogram in microseconds, serialised as its recorded `(value, count)` pairs.
/// Counters are `u32` (saturating) to halve the per-window footprint; a bucket
/// would need 4·10⁹ requests in one aggregate to saturate.
#[derive(Debug, Clone)]
pub struct LatencyHist {
    hist: Histogram<u32>,
    high: u64,
    sigfig: u8,
}

#[derive(Serialize, Deserialize)]
struct LatencyHistRepr {
    high: u64,
    sigfig: u8,
    counts: Vec<(u64, u64)>,
}

impl LatencyHist {
    /// Empty histogram covering 1 µs ..= `high` µs at `sigfig` significant digits
    /// (clamped to what the HDR format accepts).
    pub fn new(high: u64, sigfig: u8) -> Self {
        let sigfig = sigfig.clamp(1, 5);
        let high = high.max(2);
        // Bounds are clamped above to what `new_with_bounds` accepts (high ≥ 2·low,
        // sigfig ≤ 5), so construction cannot fail.
        #[allow(clippy::expect_used)]
        let hist =
            Histogram::new_with_bounds(1, high, sigfig).expect("clamped HDR bounds are valid");
        Self { hist, high, sigfig }
    }

    /// Records one latency in milliseconds (clamped into range; NaN is ignored).
    #[inline]
    pub fn record_ms(&mut self, latency_ms: f64) {
        if latency_ms.is_nan() {
            return;
        }
        let us = (latency_ms * 1000.0).round().max(1.0) as u64;
        self.hist.saturating_record(us);
    }

    /// Records `n` copies of a latency in milliseconds.
    pub fn record_ms_n(&mut self, latency_ms: f64, n: u64) {
        if latency_ms.is_nan() || n == 0 {
            return;
        }
        let us = (latency_ms * 1000.0).round().max(1.0) as u64;
        self.record_us_n(us, n);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &LatencyHist) {
        for v in other.hist.iter_recorded() {
            self.record_us_n(v.value_iterated_to(), u64::from(v.count_at_value()));
        }
    }

    fn record_us_n(&mut self, us: u64, n: u64) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        // Saturating: clamps into range and adds without overflow, so it cannot fail.
        self.hist
            .saturating_record_n(us.clamp(1, self.hist.high()), n);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// Quantile in milliseconds (`None` when empty).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.hist.is_empty() {
            None
        } else {
            Some(self.hist.value_at_quantile(q) as f64 / 1000.0)
        }
    }

    /// Number of values strictly above `ms` (bucket resolution).
    pub fn count_above_ms(&self, ms: f64) -> u64 {
        let us = (ms * 1000.0).round() as u64;
        let below = self.hist.count_between(0, us.min(self.hist.high()));
        self.hist.len().saturating_sub(below)
    }

    /// Number of values strictly below `ms` (bucket resolution).
    pub fn count_below_ms(&self, ms: f64) -> u64 {
        let us = (ms * 1000.0).round() as u64;
        if us <= 1 {
            return 0;
        }
        self.hist.count_between(0, us - 1)
    }

    /// Recorded buckets as ascending `(median-equivalent ms, count)` pairs.
    pub fn weighted_ms(&self) -> Vec<(f64, u64)> {
        self.hist
            .iter_recorded()
            .map(|v| {
                let us = self.hist.median_equivalent(v.value_iterated_to());
                (us as f64 / 1000.0, u64::from(v.count_at_value()))
            })
            .collect()
    }
}

impl Serialize for LatencyHist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LatencyHistRepr {
            high: self.high,
            sigfig: self.sigfig,
            counts: self
                .hist
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), u64::from(v.count_at_value())))
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LatencyHist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = LatencyHistRepr::deserialize(d)?;
        let mut h = LatencyHist::new(r.high, r.sigfig);
        for (v, c) in r.counts {
            h.record_us_n(v, c);
        }
        Ok(h)
    }
}

/// Counts of one log pattern.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PatternCount {
    /// Lines seen.
    pub count: u64,
    /// Whether the pattern processor flagged the pattern as never seen before.
    pub is_new: bool,
}

/// Aggregates of one (service, version) over one or more windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agg {
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Latency distribution.
    pub latency: LatencyHist,
    /// Saturation samples per metric name (capped).
    pub samples: BTreeMap<String, Vec<f64>>,
    /// Log lines per pattern id.
    pub logs: BTreeMap<String, PatternCount>,
    /// Log lines in total.
    pub log_lines: u64,
}

impl Agg {
    /// Empty aggregate with the given histogram shape.
    pub fn new(high_us: u64, sigfig: u8) -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency: LatencyHist::new(high_us, sigfig),
            samples: BTreeMap::new(),
            logs: BTreeMap::new(),
            log_lines: 0,
        }
    }

    /// Folds another aggregate in; samples stay capped at `cap` per metric.
    pub fn merge(&mut self, o: &Agg, cap: usize) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.latency.merge(&o.latency);
        for (k, v) in &o.samples {
            let dst = self.samples.entry(k.clone()).or_default();
            let room = cap.saturating_sub(dst.len());
            dst.extend(v.iter().take(room));
        }
        for (k, v) in &o.logs {
            let dst = self.logs.entry(k.clone()).or_default();
            dst.count += v.count;
            dst.is_new |= v.is_new;
        }
        self.log_lines += o.log_lines;
    }
}

/// Windows of one (service, version), keyed by window index.
pub type Series = BTreeMap<i64, Agg>;

/// All live windows: service → version → window → aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Store {
    #[serde(serialize_with = "sorted_map")]
    map: FxHashMap<String, FxHashMap<String, Series>>,
}

fn sorted_map<S: Serializer>(
    m: &FxHashMap<String, FxHashMap<String, Series>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let sorted: BTreeMap<&String, BTreeMap<&String, &Series>> =
        m.iter().map(|(k, v)| (k, v.iter().collect())).collect();
    sorted.serialize(s)
}

impl Store {
    /// Window aggregate for writing, created on first use.
    #[inline]
    pub fn slot(
        &mut self,
        service: &str,
        version: &str,
        window: i64,
        high_us: u64,
        sigfig: u8,
    ) -> &mut Agg {
        if !self.map.contains_key(service) {
            self.map.insert(service.to_owned(), FxHashMap::default());
        }
        let versions = self.map.get_mut(service).unwrap_or_else(|| unreachable!());
        if !versions.contains_key(version) {
            versions.insert(version.to_owned(), Series::new());
        }
        let series = versions.get_mut(version).unwrap_or_else(|| unreachable!());
        series
            .entry(window)
            .or_insert_with(|| Agg::new(high_us, sigfig))
    }

    /// Window aggregate for reading.
    pub fn get(&self, service: &str, version: &str, window: i64) -> Option<&Agg> {
        self.map.get(service)?.get(version)?.get(&window)
    }

    /// Drops windows older than `min_window` and empty series.
    pub fn prune(&mut self, min_window: i64) {
        for versions in self.map.values_mut() {
            for series in versions.values_mut() {
                while let Some((&k, _)) = series.first_key_value() {
                    if k >= min_window {
                        break;
                    }
                    series.pop_first();
                }
            }
            versions.retain(|_, s| !s.is_empty());
        }
        self.map.retain(|_, v| !v.is_empty());
    }

    /// Number of live (service, version, window) aggregates.
    pub fn live_windows(&self) -> usize {
        self.map
            .values()
            .flat_map(|v| v.values())
            .map(|s| s.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_roundtrip_and_quantiles() {
        let mut h = LatencyHist::new(3_600_000_000, 2);
        for i in 1..=1000 {
            h.record_ms(i as f64);
        }
        let p95 = h.quantile_ms(0.95).unwrap();
        assert!((p95 - 950.0).abs() / 950.0 < 0.01, "{p95}");
        assert!((h.count_above_ms(950.0) as i64 - 50).abs() <= 10);
        let json = serde_json::to_string(&h).unwrap();
        let back: LatencyHist = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), 1000);
        assert_eq!(back.quantile_ms(0.95), h.quantile_ms(0.95));
    }

    #[test]
    fn store_prunes_old_windows() {
        let mut s = Store::default();
        for w in 0..10 {
            s.slot("a", "v1", w, 1_000_000, 2).requests += 1;
        }
        s.prune(7);
        assert_eq!(s.live_windows(), 3);
        assert!(s.get("a", "v1", 6).is_none());
        s.prune(100);
        assert_eq!(s.live_windows(), 0);
    }
}
