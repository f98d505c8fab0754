//! NAB scoring: probationary period, scaled sigmoid window weighting, the three
//! standard application profiles, an exact corpus-wide threshold sweep and
//! normalisation against the null and perfect detectors.

use std::collections::BTreeMap;

/// Application profile: rewards and costs of the NAB score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Profile name.
    pub name: &'static str,
    /// Reward of a detection at a window's left edge.
    pub a_tp: f64,
    /// Cost of a window without detection.
    pub a_fn: f64,
    /// Cost of a false positive far from any window.
    pub a_fp: f64,
}

/// The standard profile.
pub const STANDARD: Profile = Profile {
    name: "standard",
    a_tp: 1.0,
    a_fn: 1.0,
    a_fp: 0.11,
};
/// The profile that punishes false positives harder.
pub const REWARD_LOW_FP: Profile = Profile {
    name: "reward_low_FP",
    a_tp: 1.0,
    a_fn: 1.0,
    a_fp: 0.22,
};
/// The profile that punishes missed windows harder.
pub const REWARD_LOW_FN: Profile = Profile {
    name: "reward_low_FN",
    a_tp: 1.0,
    a_fn: 2.0,
    a_fp: 0.11,
};
/// All three profiles.
pub const PROFILES: [Profile; 3] = [STANDARD, REWARD_LOW_FP, REWARD_LOW_FN];

/// Scaled sigmoid `2/(1+e^{5y}) − 1`.
pub fn sigmoid(y: f64) -> f64 {
    2.0 / (1.0 + (5.0 * y).exp()) - 1.0
}

/// Length of the probationary (unscored) prefix of an `n`-row file.
pub fn probation_rows(n: usize) -> usize {
    (n * 15 / 100).min(750)
}

/// Where a scored row sits relative to the windows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RowKind {
    /// Inside window `win` (file-local index), with sigmoid argument `y`.
    Inside { win: usize, y: f64 },
    /// After window, with sigmoid argument `y > 0`.
    After { y: f64 },
    /// Before any window.
    Before,
}

/// One file's detector scores aligned with its anomaly windows.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredFile {
    /// `category/file.csv`.
    pub key: String,
    /// Category (directory) name.
    pub category: String,
    /// Per-row anomaly scores.
    pub scores: Vec<f64>,
    /// Windows as inclusive row ranges, sorted.
    pub windows: Vec<(usize, usize)>,
    /// Rows before this index are not scored.
    pub probation: usize,
}

impl ScoredFile {
    /// Aligns `scores` (one per timestamp in `ts_ns`, sorted ascending) with
    /// windows given as inclusive `[start, end]` timestamps. Windows covering no
    /// row are dropped.
    pub fn new(key: &str, ts_ns: &[i64], windows: &[(i64, i64)], scores: Vec<f64>) -> Self {
        let mut rows: Vec<(usize, usize)> = windows
            .iter()
            .filter_map(|&(a, b)| {
                let l = ts_ns.partition_point(|&t| t < a);
                let r = ts_ns.partition_point(|&t| t <= b);
                (r > l).then(|| (l, r - 1))
            })
            .collect();
        rows.sort_unstable();
        Self {
            key: key.to_string(),
            category: key.split('/').next().unwrap_or_default().to_string(),
            probation: probation_rows(scores.len()),
            scores,
            windows: rows,
        }
    }

    /// Row kinds of all scored rows, in row order.
    fn row_kinds(&self) -> impl Iterator<Item = (usize, RowKind)> + '_ {
        let mut wi = 0usize;
        (self.probation..self.scores.len()).map(move |i| {
            while wi < self.windows.len() && self.windows[wi].1 < i {
                wi += 1;
            }
            let kind = match self.windows.get(wi) {
                Some(&(l, r)) if l <= i => {
                    let w = (r - l + 1) as f64;
                    RowKind::Inside {
                        win: wi,
                        y: -((r - i + 1) as f64) / w,
                    }
                }
                _ if wi > 0 => {
                    let (l, r) = self.windows[wi - 1];
                    let w = (r - l + 1) as f64;
                    RowKind::After {
                        y: (i - r) as f64 / (w - 1.0).max(1.0),
                    }
                }
                _ => RowKind::Before,
            };
            (i, kind)
        })
    }

    /// Scores this file at `threshold` under `profile`.
    pub fn evaluate(&self, threshold: f64, profile: &Profile) -> Outcome {
        let mut out = Outcome::default();
        let mut detected = vec![false; self.windows.len()];
        for (i, kind) in self.row_kinds() {
            if self.scores[i] < threshold {
                continue;
            }
            match kind {
                RowKind::Inside { win, y } => {
                    if !detected[win] {
                        detected[win] = true;
                        out.raw += tp_value(profile, y);
                        out.tp += 1;
                    }
                }
                RowKind::After { y } => {
                    out.raw += profile.a_fp * sigmoid(y);
                    out.fp += 1;
                }
                RowKind::Before => {
                    out.raw -= profile.a_fp;
                    out.fp += 1;
                }
            }
        }
        let missed = detected.iter().filter(|d| !**d).count();
        out.fn_ += missed;
        out.raw -= profile.a_fn * missed as f64;
        out.windows = self.windows.len();
        out.null = -profile.a_fn * self.windows.len() as f64;
        out.perfect = profile.a_tp * self.windows.len() as f64;
        out.scored = self.scores.len() - self.probation.min(self.scores.len());
        out
    }
}

fn tp_value(p: &Profile, y: f64) -> f64 {
    p.a_tp * sigmoid(y) / sigmoid(-1.0)
}

/// Raw NAB outcome of a file or a set of files.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Raw score.
    pub raw: f64,
    /// Raw score of the null detector.
    pub null: f64,
    /// Raw score of the perfect detector.
    pub perfect: f64,
    /// Windows with a detection.
    pub tp: usize,
    /// Windows without a detection.
    pub fn_: usize,
    /// Detections outside every window.
    pub fp: usize,
    /// Number of windows.
    pub windows: usize,
    /// Scored (post-probation) rows.
    pub scored: usize,
}

impl Outcome {
    /// Adds another outcome.
    pub fn add(&mut self, o: &Outcome) {
        self.raw += o.raw;
        self.null += o.null;
        self.perfect += o.perfect;
        self.tp += o.tp;
        self.fn_ += o.fn_;
        self.fp += o.fp;
        self.windows += o.windows;
        self.scored += o.scored;
    }

    /// Normalised NAB score, or `None` without windows (no denominator).
    pub fn normalised(&self) -> Option<f64> {
        let den = self.perfect - self.null;
        (den > 0.0).then(|| 100.0 * (self.raw - self.null) / den)
    }

    /// Detections outside windows per 1,000 scored rows.
    pub fn fp_per_1000(&self) -> f64 {
        1000.0 * self.fp as f64 / (self.scored.max(1) as f64)
    }
}

/// Corpus result of one profile at one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileResult {
    /// The profile.
    pub profile: Profile,
    /// Detection threshold (`score >= threshold`); infinite means "never".
    pub threshold: f64,
    /// Corpus totals.
    pub total: Outcome,
    /// Totals per category.
    pub per_category: BTreeMap<String, Outcome>,
}

impl ProfileResult {
    /// Normalised corpus score (0 when the corpus has no windows).
    pub fn score(&self) -> f64 {
        self.total.normalised().unwrap_or(0.0)
    }
}

/// Scores the corpus at a fixed threshold.
pub fn evaluate_corpus(files: &[ScoredFile], threshold: f64, profile: &Profile) -> ProfileResult {
    let mut total = Outcome::default();
    let mut per_category: BTreeMap<String, Outcome> = BTreeMap::new();
    for f in files {
        let o = f.evaluate(threshold, profile);
        total.add(&o);
        per_category.entry(f.category.clone()).or_default().add(&o);
    }
    ProfileResult {
        profile: *profile,
        threshold,
        total,
        per_category,
    }
}

/// Finds the corpus-wide threshold that maximises the raw score, exactly:
/// lowering the threshold past each distinct score value only adds rows, so
/// the raw score is updated incrementally (earliest detection per window, FP
/// weights summed). Ties go to the higher threshold (fewer detections).
pub fn best_threshold(files: &[ScoredFile], profile: &Profile) -> ProfileResult {
    struct Row {
        score: f64,
        win: Option<usize>,
        pos: usize,
        value: f64,
    }
    let mut rows = Vec::new();
    let mut win_base = 0usize;
    for f in files {
        for (i, kind) in f.row_kinds() {
            let s = f.scores[i];
            if s.is_nan() {
                continue;
            }
            let (win, value) = match kind {
                RowKind::Inside { win, y } => (Some(win_base + win), tp_value(profile, y)),
                RowKind::After { y } => (None, profile.a_fp * sigmoid(y)),
                RowKind::Before => (None, -profile.a_fp),
            };
            rows.push(Row {
                score: s,
                win,
                pos: i,
                value,
            });
        }
        win_base += f.windows.len();
    }
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Per window: (earliest detected row, its value).
    let mut earliest: Vec<Option<(usize, f64)>> = vec![None; win_base];
    let mut raw = -profile.a_fn * win_base as f64;
    let mut best_raw = raw;
    let mut best_thr = f64::INFINITY;
    let mut k = 0;
    while k < rows.len() {
        let s = rows[k].score;
        while k < rows.len() && rows[k].score == s {
            let r = &rows[k];
            match r.win {
                Some(w) => match earliest[w] {
                    None => {
                        raw += profile.a_fn + r.value;
                        earliest[w] = Some((r.pos, r.value));
                    }
                    Some((p, v)) if r.pos < p => {
                        raw += r.value - v;
                        earliest[w] = Some((r.pos, r.value));
                    }
                    Some(_) => {}
                },
                None => raw += r.value,
            }
            k += 1;
        }
        if raw > best_raw + 1e-12 {
            best_raw = raw;
            best_thr = s;
        }
    }
    evaluate_corpus(files, best_thr, profile)
}

#[cfg(test)]
#[path = "score_tests.rs"]
mod tests;
