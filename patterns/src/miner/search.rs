//! Candidate search helpers: group signatures and the similarity test.

use super::TTok;
use crate::mask::Token;

/// A template in its (namespace, length) group, with a 64-bit signature of
/// its constant words: one bit per word hash. A template word whose bit is
/// missing from the line's signature is certainly a mismatch, so whole-group
/// scans skip most templates without touching them (cache misses dominate
/// when a flood of unique lines makes every line a group scan).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupEntry {
    pub(super) slot: u32,
    pub(super) sig: u64,
}

pub(super) fn sig_bit(hash: u64) -> u64 {
    1u64 << (hash >> 58)
}

pub(super) fn template_sig(toks: &[TTok]) -> u64 {
    toks.iter()
        .filter(|t| !t.wild && !t.soft)
        .fold(0, |acc, t| acc | sig_bit(t.hash))
}

/// Constant words of a template certainly missing from a line.
pub(super) fn certain_misses(entry: &GroupEntry, line_sig: u64) -> u32 {
    (entry.sig & !line_sig).count_ones()
}

/// Similarity of a line to a template: (matched words, counted words).
/// Variables are skipped; a soft word counts only when it matches, so a
/// differing file or host name neither helps nor hurts.
pub(super) fn similarity(toks: &[TTok], line: &[Token], threshold: f64) -> Option<(u32, u32)> {
    let (mut hard, mut soft) = (0u32, 0u32);
    for t in toks {
        if t.soft {
            soft += 1;
        } else if !t.wild {
            hard += 1;
        }
    }
    // Stop once the misses rule the threshold out even if every soft word
    // matched.
    let best = hard + soft;
    let allowed = best - (threshold * f64::from(best)).ceil().min(f64::from(best)) as u32;
    let (mut miss, mut soft_miss) = (0u32, 0u32);
    for (t, l) in toks.iter().zip(line) {
        if t.hash != l.hash && !t.wild {
            if t.soft {
                soft_miss += 1;
            } else {
                miss += 1;
                if miss > allowed {
                    return None;
                }
            }
        }
    }
    let n = best - soft_miss;
    Some((n - miss, n))
}
