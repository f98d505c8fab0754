//! Loghub-style scoring of a template prediction against ground truth.
//!
//! * **Grouping accuracy** (Zhu et al., "Tools and Benchmarks for Automated
//!   Log Parsing", ICSE-SEIP 2019): a line is correct iff the set of lines
//!   sharing its predicted id equals the set sharing its true id.
//! * **Pairwise precision/recall/F1** over pairs of lines put in the same
//!   group, computed from the contingency table (`Σ C(n,2)`), not O(n²).
//!   With no predicted (true) pairs, precision (recall) is 1.
//! * **Template accuracy**: the share of lines whose predicted template equals
//!   the true template after [`normalize_template`]: whitespace-split, every
//!   token containing `<*>` becomes `<*>` (so `blk_<*>` = `<*>` = `/<*>:<*>`),
//!   runs of `<*>` collapse into one, tokens re-joined with one space.

use rustc_hash::FxHashMap;

use crate::error::PatternError;
use crate::offline::OutputRow;

/// Scores of one prediction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Lines scored.
    pub lines: usize,
    /// Distinct true groups.
    pub true_groups: usize,
    /// Distinct predicted groups.
    pub predicted_groups: usize,
    /// Loghub grouping accuracy.
    pub grouping_accuracy: f64,
    /// Pairwise precision.
    pub pairwise_precision: f64,
    /// Pairwise recall.
    pub pairwise_recall: f64,
    /// Pairwise F1.
    pub pairwise_f1: f64,
    /// Share of lines with the right normalised template.
    pub template_accuracy: f64,
}

/// Normalises a template for template accuracy (see the module docs).
pub fn normalize_template(t: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for tok in t.split_whitespace() {
        let tok = if tok.contains("<*>") { "<*>" } else { tok };
        if tok == "<*>" && out.last() == Some(&"<*>") {
            continue;
        }
        out.push(tok);
    }
    out.join(" ")
}

fn pairs(n: u64) -> f64 {
    (n as f64) * (n.saturating_sub(1) as f64) / 2.0
}

fn intern<'a>(map: &mut FxHashMap<&'a str, u32>, s: &'a str) -> u32 {
    let next = map.len() as u32;
    *map.entry(s).or_insert(next)
}

/// Scores `pred` against `truth`, joined on `LineId`. Every truth line must
/// be predicted exactly once and no other line may be.
pub fn score(truth: &[OutputRow], pred: &[OutputRow]) -> Result<Scores, PatternError> {
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, r) in truth.iter().enumerate() {
        if index.insert(r.line_id.as_str(), i).is_some() {
            return Err(PatternError::Input(format!(
                "duplicate LineId {} in truth",
                r.line_id
            )));
        }
    }
    if pred.len() != truth.len() {
        return Err(PatternError::Input(format!(
            "truth has {} lines, prediction {}",
            truth.len(),
            pred.len()
        )));
    }
    let mut seen = vec![false; truth.len()];
    let (mut tmap, mut pmap) = (FxHashMap::default(), FxHashMap::default());
    let mut cells: FxHashMap<(u32, u32), u64> = FxHashMap::default();
    let mut template_ok = 0usize;
    for p in pred {
        let Some(&i) = index.get(p.line_id.as_str()) else {
            return Err(PatternError::Input(format!(
                "LineId {} not in truth",
                p.line_id
            )));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(PatternError::Input(format!(
                "duplicate LineId {} in prediction",
                p.line_id
            )));
        }
        let t = &truth[i];
        let key = (
            intern(&mut pmap, &p.event_id),
            intern(&mut tmap, &t.event_id),
        );
        *cells.entry(key).or_default() += 1;
        if normalize_template(&p.template) == normalize_template(&t.template) {
            template_ok += 1;
        }
    }
    let mut psize = vec![0u64; pmap.len()];
    let mut tsize = vec![0u64; tmap.len()];
    for (&(p, t), &n) in &cells {
        psize[p as usize] += n;
        tsize[t as usize] += n;
    }
    let correct: u64 = cells
        .iter()
        .filter(|&(&(p, t), &n)| n == psize[p as usize] && n == tsize[t as usize])
        .map(|(_, &n)| n)
        .sum();
    let tp: f64 = cells.values().map(|&n| pairs(n)).sum();
    let pp: f64 = psize.iter().map(|&n| pairs(n)).sum();
    let tt: f64 = tsize.iter().map(|&n| pairs(n)).sum();
    let precision = if pp == 0.0 { 1.0 } else { tp / pp };
    let recall = if tt == 0.0 { 1.0 } else { tp / tt };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let n = truth.len().max(1) as f64;
    Ok(Scores {
        lines: truth.len(),
        true_groups: tmap.len(),
        predicted_groups: pmap.len(),
        grouping_accuracy: correct as f64 / n,
        pairwise_precision: precision,
        pairwise_recall: recall,
        pairwise_f1: f1,
        template_accuracy: template_ok as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(groups: &[(&str, &str)]) -> Vec<OutputRow> {
        groups
            .iter()
            .enumerate()
            .map(|(i, (e, t))| OutputRow {
                line_id: (i + 1).to_string(),
                event_id: e.to_string(),
                template: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn perfect_and_relabelled_prediction() {
        let truth = rows(&[
            ("A", "a <*>"),
            ("A", "a <*>"),
            ("B", "b"),
            ("C", "c blk_<*> /<*>:<*>"),
        ]);
        let pred = rows(&[("x", "a <*>"), ("x", "a <*>"), ("y", "b"), ("z", "c <*>")]);
        let s = score(&truth, &pred).unwrap();
        assert_eq!(
            (s.grouping_accuracy, s.pairwise_f1, s.template_accuracy),
            (1.0, 1.0, 1.0)
        );
        assert_eq!((s.true_groups, s.predicted_groups), (3, 3));
    }

    #[test]
    fn merged_and_split_groups() {
        // Truth: A={1,2,3}, B={4,5}, C={6}. Prediction merges B and C, splits A.
        let truth = rows(&[
            ("A", "a"),
            ("A", "a"),
            ("A", "a"),
            ("B", "b"),
            ("B", "b"),
            ("C", "c"),
        ]);
        let pred = rows(&[
            ("1", "a"),
            ("1", "a"),
            ("2", "a"),
            ("3", "b"),
            ("3", "b"),
            ("3", "c"),
        ]);
        let s = score(&truth, &pred).unwrap();
        // No predicted group equals a true group.
        assert_eq!(s.grouping_accuracy, 0.0);
        // True pairs: 3 + 1 = 4. Predicted pairs: 1 + 3 = 4. Shared: 1 (A) + 1 (B) = 2.
        assert!((s.pairwise_precision - 0.5).abs() < 1e-12);
        assert!((s.pairwise_recall - 0.5).abs() < 1e-12);
        assert!((s.pairwise_f1 - 0.5).abs() < 1e-12);
        assert!((s.template_accuracy - 1.0).abs() < 1e-12);
        // Fix the split only: lines 1-3 become correct.
        let pred = rows(&[
            ("1", "a"),
            ("1", "a"),
            ("1", "a"),
            ("3", "b"),
            ("3", "b"),
            ("3", "x"),
        ]);
        let s = score(&truth, &pred).unwrap();
        assert!((s.grouping_accuracy - 0.5).abs() < 1e-12);
        assert!((s.template_accuracy - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn singletons_and_errors() {
        let truth = rows(&[("A", "a"), ("B", "b")]);
        let s = score(&truth, &rows(&[("1", "a"), ("2", "b")])).unwrap();
        assert_eq!(
            (s.pairwise_precision, s.pairwise_recall, s.grouping_accuracy),
            (1.0, 1.0, 1.0)
        );
        let s = score(&truth, &rows(&[("1", "a"), ("1", "b")])).unwrap();
        assert_eq!(
            (s.pairwise_precision, s.pairwise_recall, s.pairwise_f1),
            (0.0, 1.0, 0.0)
        );
        assert!(score(&truth, &rows(&[("1", "a")])).is_err());
        let mut dup = rows(&[("1", "a"), ("1", "a")]);
        dup[1].line_id = "1".into();
        assert!(score(&truth, &dup).is_err());
        assert_eq!(normalize_template("  a  <*> <*>x  b "), "a <*> b");
    }
}
