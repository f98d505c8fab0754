//! Template merging beyond Drain's similarity test: sibling templates whose
//! differing slot has shown enough distinct words, and templates covered by
//! a newly generalised one.

use super::{
    MAX_ABSORBED, MAX_SLOT_DIFF, MIN_ANCHORS, PatternMiner, Sibling, certain_misses, render,
    wild_tok,
};
use crate::mask::Token;

impl PatternMiner {
    /// Looks for templates of the group that differ from the line in exactly
    /// one constant position; if one position has gathered enough distinct
    /// words, merges those templates into the oldest and returns its slot.
    pub(super) fn merge_siblings(
        &mut self,
        line: &[Token],
        line_sig: u64,
        group: u64,
        leaf: u64,
    ) -> Option<u32> {
        // (differing positions, seq, slot); a second position of usize::MAX
        // means a single difference.
        let mut siblings: Vec<Sibling> = Vec::new();
        let candidates = self.groups.get(&group)?.iter();
        for e in candidates.filter(|e| certain_misses(e, line_sig) <= MAX_SLOT_DIFF as u32) {
            let slot = e.slot;
            let Some(c) = self.slots[slot as usize].as_ref() else {
                continue;
            };
            let mut diff = (usize::MAX, usize::MAX);
            let mut n = 0;
            for (i, (t, l)) in c.toks.iter().zip(line).enumerate() {
                if !t.wild && !t.soft && t.hash != l.hash {
                    n += 1;
                    if n > MAX_SLOT_DIFF {
                        break;
                    }
                    if n == 1 { diff.0 = i } else { diff.1 = i }
                }
            }
            // Each differing slot must be anchored by more constant words
            // than it spans: "boot command" alone is too weak evidence.
            let anchors = c.toks.iter().filter(|t| !t.wild).count().saturating_sub(n);
            if (1..=MAX_SLOT_DIFF).contains(&n) && anchors >= MIN_ANCHORS + n - 1 {
                siblings.push((diff, c.seq, slot));
            }
        }
        siblings.sort_unstable();
        let mut chosen: Option<&[Sibling]> = None;
        // Every differing position must show enough distinct words on its
        // own: (Accepted|Failed, user) pairs are many, but the first word
        // only ever takes two values.
        let distinct = |run: &[Sibling], p: usize| {
            let mut values: Vec<u64> = run
                .iter()
                .filter_map(|&(_, _, s)| self.slots[s as usize].as_ref().map(|c| c.toks[p].hash))
                .collect();
            values.push(line[p].hash);
            values.sort_unstable();
            values.dedup();
            values.len()
        };
        for run in siblings.chunk_by(|a, b| a.0 == b.0) {
            let (p, q) = run[0].0;
            if distinct(run, p) >= self.cfg.merge_min_values
                && (q == usize::MAX || distinct(run, q) >= self.cfg.merge_min_values)
            {
                chosen = Some(run);
                break;
            }
        }
        let run: Vec<Sibling> = chosen?.to_vec();
        let survivor = run[0].2;
        for &(_, _, slot) in &run[1..] {
            self.absorb(survivor, slot);
        }
        self.alias(survivor, leaf);
        Some(survivor)
    }

    /// After `slot` generalised, absorbs every template of its group that it
    /// now covers (same words at all its constant positions), so a more
    /// specific twin stops competing for lines.
    pub(super) fn subsume(&mut self, slot: u32) {
        let Some(c) = self.slots[slot as usize].as_ref() else {
            return;
        };
        let Some(group) = self.groups.get(&c.group) else {
            return;
        };
        let covered: Vec<u32> = group
            .iter()
            .map(|e| e.slot)
            .filter(|&o| o != slot)
            .filter(|&o| {
                self.slots[o as usize].as_ref().is_some_and(|o| {
                    c.toks
                        .iter()
                        .zip(&o.toks)
                        .all(|(t, u)| t.wild || (t.hash == u.hash && !u.wild))
                })
            })
            .collect();
        for o in covered {
            self.absorb(slot, o);
        }
    }

    /// Moves template `other` into `survivor`: counts add up, differing
    /// positions become `<*>`, and `other`'s id redirects to the survivor.
    fn absorb(&mut self, survivor: u32, other: u32) {
        let Some(o) = self.take(other) else {
            return;
        };
        let Some(s) = self.slots[survivor as usize].as_mut() else {
            return;
        };
        s.info.count += o.info.count;
        s.info.first_seen_ns = s.info.first_seen_ns.min(o.info.first_seen_ns);
        s.info.last_seen_ns = s.info.last_seen_ns.max(o.info.last_seen_ns);
        s.last_used = s.last_used.max(o.last_used);
        let wild = wild_tok();
        let mut changed = false;
        for (t, u) in s.toks.iter_mut().zip(&o.toks) {
            if t.hash != u.hash && *t != wild {
                *t = wild;
                changed = true;
            }
        }
        if changed {
            s.info.template = render(&s.toks, &s.info.template);
        }
        let sid = s.info.id;
        let mut new_leaves = Vec::new();
        for leaf in o.leaves {
            if s.leaves.len() < self.cfg.max_aliases && !s.leaves.contains(&leaf) {
                s.leaves.push(leaf);
                new_leaves.push(leaf);
            }
        }
        for id in std::iter::once(o.info.id).chain(o.absorbed) {
            if s.absorbed.len() >= MAX_ABSORBED {
                let old = s.absorbed.remove(0);
                self.redirects.remove(&old);
            }
            s.absorbed.push(id);
            self.redirects.insert(id, sid);
        }
        for leaf in new_leaves {
            self.leaves.entry(leaf).or_default().push(survivor);
        }
        self.refresh_sig(survivor);
    }
}
