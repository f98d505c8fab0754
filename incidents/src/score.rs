//! Scorers: pairwise grouping precision/recall/F1 and adjusted Rand index,
//! notification reduction, coverage and top-k accuracy.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// Pairwise agreement of a predicted clustering with the true one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairScores {
    /// Items scored.
    pub n: usize,
    /// Same-group pairs in the truth.
    pub true_pairs: u64,
    /// Same-group pairs in the prediction.
    pub pred_pairs: u64,
    /// Pairs together in both.
    pub both_pairs: u64,
    /// both / pred (1 when no predicted pairs).
    pub precision: f64,
    /// both / true (1 when no true pairs).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Adjusted Rand index (Hubert & Arabie).
    pub ari: f64,
}

fn c2(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Scores `pred` against `truth`; item `i` has true label `truth[i]` and
/// predicted label `pred[i]`. Extra items of the longer slice are ignored.
pub fn pairwise<A: Hash + Eq, B: Hash + Eq>(truth: &[A], pred: &[B]) -> PairScores {
    let n = truth.len().min(pred.len());
    let mut t_ids: HashMap<&A, usize> = HashMap::new();
    let mut p_ids: HashMap<&B, usize> = HashMap::new();
    let mut cell: HashMap<(usize, usize), u64> = HashMap::new();
    let mut a_sz: Vec<u64> = Vec::new();
    let mut b_sz: Vec<u64> = Vec::new();
    for i in 0..n {
        let nt = t_ids.len();
        let t = *t_ids.entry(&truth[i]).or_insert(nt);
        let np = p_ids.len();
        let p = *p_ids.entry(&pred[i]).or_insert(np);
        if t == a_sz.len() {
            a_sz.push(0);
        }
        if p == b_sz.len() {
            b_sz.push(0);
        }
        a_sz[t] += 1;
        b_sz[p] += 1;
        *cell.entry((t, p)).or_default() += 1;
    }
    let both: u64 = cell.values().map(|v| c2(*v)).sum();
    let tp: u64 = a_sz.iter().map(|v| c2(*v)).sum();
    let pp: u64 = b_sz.iter().map(|v| c2(*v)).sum();
    let precision = if pp == 0 {
        1.0
    } else {
        both as f64 / pp as f64
    };
    let recall = if tp == 0 {
        1.0
    } else {
        both as f64 / tp as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let total = c2(n as u64) as f64;
    let expected = if total == 0.0 {
        0.0
    } else {
        tp as f64 * pp as f64 / total
    };
    let max = 0.5 * (tp as f64 + pp as f64);
    let ari = if (max - expected).abs() < f64::EPSILON {
        1.0
    } else {
        (both as f64 - expected) / (max - expected)
    };
    PairScores {
        n,
        true_pairs: tp,
        pred_pairs: pp,
        both_pairs: both,
        precision,
        recall,
        f1,
        ari,
    }
}

/// `1 − notifications / raw`: the share of raw alert lines that did not
/// become a notification.
pub fn reduction(raw: usize, notifications: usize) -> f64 {
    if raw == 0 {
        0.0
    } else {
        1.0 - notifications as f64 / raw as f64
    }
}

/// Whether `truth` is among the first `k` of `ranking`.
pub fn in_top_k<S: AsRef<str>>(ranking: &[S], truth: &str, k: usize) -> bool {
    ranking.iter().take(k).any(|r| r.as_ref() == truth)
}

/// `hits / total`, 0 when nothing was scored.
pub fn ratio(hits: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_all_singletons() {
        let s = pairwise(&[1, 1, 2, 2], &["a", "a", "b", "b"]);
        assert_eq!((s.precision, s.recall, s.f1, s.ari), (1.0, 1.0, 1.0, 1.0));
        let s = pairwise(&[1, 1, 2, 2], &[1, 2, 3, 4]);
        assert_eq!(s.pred_pairs, 0);
        assert_eq!(s.recall, 0.0);
        assert_eq!(s.ari, 0.0);
    }

    #[test]
    fn hand_computed_example() {
        // truth: {0,1,2} {3,4}; pred: {0,1} {2,3,4}
        // true pairs 3+1=4, pred pairs 1+3=4, both: (0,1),(3,4) = 2
        // P=R=F1=0.5; C(5,2)=10; expected=4*4/10=1.6; max=4
        // ARI=(2-1.6)/(4-1.6)=0.1666…
        let s = pairwise(&[0, 0, 0, 1, 1], &[0, 0, 1, 1, 1]);
        assert_eq!((s.true_pairs, s.pred_pairs, s.both_pairs), (4, 4, 2));
        assert!((s.precision - 0.5).abs() < 1e-12);
        assert!((s.recall - 0.5).abs() < 1e-12);
        assert!((s.f1 - 0.5).abs() < 1e-12);
        assert!((s.ari - 0.4 / 2.4).abs() < 1e-12);
    }

    #[test]
    fn second_hand_example() {
        // truth {0,1,2,3} {4,5}; pred {0,1,2} {3,4,5}
        // true 6+1=7, pred 3+3=6, both 3 (0-1,0-2,1-2) + 1 (4-5) = 4
        // P=4/6, R=4/7, C(6,2)=15, exp=42/15=2.8, max=6.5, ARI=1.2/3.7
        let s = pairwise(&[0, 0, 0, 0, 1, 1], &[5, 5, 5, 6, 6, 6]);
        assert!((s.precision - 4.0 / 6.0).abs() < 1e-12);
        assert!((s.recall - 4.0 / 7.0).abs() < 1e-12);
        let f1 = 2.0 * (4.0 / 6.0) * (4.0 / 7.0) / (4.0 / 6.0 + 4.0 / 7.0);
        assert!((s.f1 - f1).abs() < 1e-12);
        assert!((s.ari - 1.2 / 3.7).abs() < 1e-12);
    }

    #[test]
    fn reduction_and_topk() {
        assert!((reduction(1000, 50) - 0.95).abs() < 1e-12);
        assert_eq!(reduction(0, 0), 0.0);
        assert!(in_top_k(&["a", "b", "c"], "c", 3));
        assert!(!in_top_k(&["a", "b", "c"], "c", 2));
        assert_eq!(ratio(1, 4), 0.25);
    }
}
