//! The online template miner.
//!
//! Drain-style search: lines are grouped by namespace and token count, then
//! routed by their first `prefix_depth` tokens (variable tokens route to a
//! wildcard key). Inside a leaf the best template by similarity wins when it
//! reaches `similarity_threshold`. Two departures from Drain:
//!
//! * similarity is measured over the template's *constant* positions only
//!   (Drain divides by the line length, so heavily masked lines look alike
//!   whatever their words); compound words (`chrome.exe`, `yarn,curi`) count
//!   only when they agree. The default threshold 0.82 lets one differing
//!   word in six pass and stops one in five,
//! * when the leaf has no match, the whole (namespace, length) group is
//!   searched with the stricter `cross_prefix_threshold`, so a variable first
//!   word without digits (a program or user name) does not split a template.
//!   A hit is aliased into the leaf so the next such line is found at once.
//!
//! * a line that differs from existing templates of its group in exactly
//!   one constant position, where those templates already show
//!   `merge_min_values - 1` distinct words, merges them all into the oldest
//!   with `<*>` there: a slot that takes three different words is a
//!   variable even when no word repeats enough to pass the similarity test
//!   (two words are as often alternative constants, `NodeReady` and
//!   `NodeNotReady`). Up to two positions may differ, each needing that
//!   many distinct words, and the rest of the template must hold at least
//!   two constant words.
//!   Absorbed ids keep resolving to the survivor ([`PatternMiner::resolve`]).
//!
//! The table is bounded: past `max_patterns` the least recently used
//! templates are evicted (in small batches, so the cost is amortised).

mod config;
mod merge;
mod search;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::PatternError;
pub use config::MinerConfig;
use search::{GroupEntry, certain_misses, sig_bit, similarity, template_sig};

use crate::mask::{FNV_SEED, Masker, Token, WILDCARD, fnv1a, token_hash};

/// Stable identifier of a template: a hash of its namespace and the template
/// it had when created. Printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PatternId(pub u64);

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl From<PatternId> for String {
    fn from(id: PatternId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for PatternId {
    type Error = PatternError;
    fn try_from(s: String) -> Result<Self, PatternError> {
        u64::from_str_radix(&s, 16)
            .map(PatternId)
            .map_err(|e| PatternError::Input(format!("bad pattern id {s:?}: {e}")))
    }
}

/// What the miner knows about one template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternInfo {
    /// Stable id.
    pub id: PatternId,
    /// Namespace (service) the template belongs to.
    pub namespace: String,
    /// Current template; variables are `<*>`.
    pub template: String,
    /// Earliest event time seen (ns).
    pub first_seen_ns: i64,
    /// Latest event time seen (ns).
    pub last_seen_ns: i64,
    /// Lines matched since creation.
    pub count: u64,
    /// The first line seen, cut to `max_example_bytes`.
    pub example: String,
}

/// Result of [`PatternMiner::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Template the line belongs to.
    pub pattern_id: PatternId,
    /// The line created the template.
    pub is_new: bool,
    /// The line generalised an existing template.
    pub template_changed: bool,
}

/// A template token: its hash and whether it is a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TTok {
    hash: u64,
    wild: bool,
    soft: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    info: PatternInfo,
    toks: Vec<TTok>,
    seq: u64,
    last_used: u64,
    group: u64,
    leaves: Vec<u64>,
    absorbed: Vec<PatternId>,
}

/// Constant words besides the differing one a template needs before sibling
/// merging may turn that one into a variable.
const MIN_ANCHORS: usize = 2;

/// Sibling merging considers templates differing in up to this many words
/// (`from NEW to UNASSIGNED` / `from ASSIGNED to RUNNING`).
const MAX_SLOT_DIFF: usize = 2;

/// A sibling template: (differing positions, creation seq, slot).
type Sibling = ((usize, usize), u64, u32);

/// Absorbed ids remembered per surviving template.
const MAX_ABSORBED: usize = 256;

/// Online log template miner; see the module documentation.
#[derive(Debug, Clone)]
pub struct PatternMiner {
    cfg: MinerConfig,
    masker: Masker,
    slots: Vec<Option<Cluster>>,
    free: Vec<u32>,
    by_id: FxHashMap<PatternId, u32>,
    groups: FxHashMap<u64, Vec<GroupEntry>>,
    leaves: FxHashMap<u64, Vec<u32>>,
    redirects: FxHashMap<PatternId, PatternId>,
    live: usize,
    tick: u64,
    seq: u64,
    scratch: Vec<Token>,
}

const WILD_ROUTE: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(a: u64, b: u64) -> u64 {
    (a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .rotate_left(27)
        .wrapping_mul(0x0000_0100_0000_01b3)
}

fn wild_tok() -> TTok {
    TTok {
        hash: token_hash(WILDCARD.as_bytes()),
        wild: true,
        soft: false,
    }
}

/// Rebuilds a template token from its text, matching what the tokenizer
/// produces for the same masked token.
pub(crate) fn ttok_from_text(t: &str, compound_words: bool) -> TTok {
    let b = t.as_bytes();
    let wild = b
        .windows(3)
        .position(|w| w == WILDCARD.as_bytes())
        .is_some_and(|p| {
            b[..p]
                .iter()
                .chain(&b[p + 3..])
                .all(|c| !c.is_ascii_alphanumeric())
        });
    TTok {
        hash: token_hash(b),
        wild,
        soft: !wild && compound_words && crate::mask::is_compound(crate::mask::core_of(b)),
    }
}

/// The template text after some tokens became `<*>`.
fn render(toks: &[TTok], old: &str) -> String {
    let wild = wild_tok();
    let words = old.split(' ').chain(std::iter::repeat(""));
    let mut out = String::with_capacity(old.len());
    for (i, (t, w)) in toks.iter().zip(words).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(if *t == wild { WILDCARD } else { w });
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl PatternMiner {
    /// A miner with the given configuration.
    pub fn new(cfg: MinerConfig) -> Result<Self, PatternError> {
        cfg.validate()?;
        let masker = Masker::new(cfg.mask.clone())?;
        Ok(PatternMiner {
            cfg,
            masker,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: FxHashMap::default(),
            groups: FxHashMap::default(),
            leaves: FxHashMap::default(),
            redirects: FxHashMap::default(),
            live: 0,
            tick: 0,
            seq: 0,
            scratch: Vec::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &MinerConfig {
        &self.cfg
    }

    /// Number of live templates.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no template is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The live template an id stands for: itself, or the template it was
    /// merged into. `None` once evicted.
    pub fn resolve(&self, id: PatternId) -> Option<PatternId> {
        if self.by_id.contains_key(&id) {
            Some(id)
        } else {
            self.redirects.get(&id).copied()
        }
    }

    /// A live template by id (following merges, see [`Self::resolve`]).
    pub fn pattern(&self, id: PatternId) -> Option<&PatternInfo> {
        let slot = *self.by_id.get(&self.resolve(id)?)?;
        self.slots[slot as usize].as_ref().map(|c| &c.info)
    }

    /// All live templates, in no particular order.
    pub fn patterns(&self) -> impl Iterator<Item = &PatternInfo> {
        self.slots.iter().flatten().map(|c| &c.info)
    }

    /// Assigns `line` (from `namespace`, event time `ts_ns`) to a template,
    /// creating or generalising one as needed.
    pub fn observe(&mut self, namespace: &str, ts_ns: i64, line: &str) -> Observation {
        self.tick += 1;
        let mut toks = std::mem::take(&mut self.scratch);
        let rewritten = self.masker.rewrite(line);
        self.masker
            .tokenize(&rewritten, self.cfg.max_tokens, &mut toks);
        let group = mix(token_hash(namespace.as_bytes()), toks.len() as u64);
        let mut leaf = group;
        for t in toks.iter().take(self.cfg.prefix_depth) {
            leaf = mix(leaf, if t.wild || t.soft { WILD_ROUTE } else { t.hash });
        }
        let line_sig = toks.iter().fold(0, |acc, t| acc | sig_bit(t.hash));
        let mut found = self.best(
            self.leaves.get(&leaf).into_iter().flatten().copied(),
            &toks,
            self.cfg.similarity_threshold,
        );
        if found.is_none() && self.cfg.cross_prefix_threshold <= 1.0 {
            let th = self.cfg.cross_prefix_threshold;
            let max_miss = ((1.0 - th) * toks.len() as f64 + 1e-9).floor() as u32;
            let candidates = self
                .groups
                .get(&group)
                .into_iter()
                .flatten()
                .filter(|e| certain_misses(e, line_sig) <= max_miss)
                .map(|e| e.slot);
            found = self.best(candidates, &toks, th);
            if let Some(slot) = found {
                self.alias(slot, leaf);
            }
        }
        let mut merged = false;
        if found.is_none() && self.cfg.merge_min_values >= 2 {
            found = self.merge_siblings(&toks, line_sig, group, leaf);
            merged = found.is_some();
        }
        let obs = match found.and_then(|slot| Some((slot, self.update(slot, ts_ns, &toks)?))) {
            Some((slot, mut obs)) => {
                obs.template_changed |= merged;
                if obs.template_changed {
                    self.subsume(slot);
                }
                obs
            }
            None => {
                let obs = self.create(namespace, ts_ns, line, &toks, &rewritten, group, leaf);
                // A template born with a variable where an older twin has a
                // word ("user <*>" after "user webmaster") takes the twin in.
                if toks.iter().any(|t| t.wild)
                    && let Some(&slot) = self.by_id.get(&obs.pattern_id)
                {
                    self.subsume(slot);
                }
                obs
            }
        };
        drop(rewritten);
        self.scratch = toks;
        if self.live > self.cfg.max_patterns {
            self.evict();
        }
        obs
    }

    /// Best template among `slots` for the line: highest similarity, then
    /// most matched constants, then oldest — independent of slot order.
    fn best(
        &self,
        slots: impl Iterator<Item = u32>,
        line: &[Token],
        threshold: f64,
    ) -> Option<u32> {
        let mut best: Option<(f64, u32, u64, u32)> = None;
        for slot in slots {
            let Some(c) = self.slots[slot as usize].as_ref() else {
                continue;
            };
            let Some((m, n)) = similarity(&c.toks, line, threshold) else {
                continue;
            };
            let sim = if n == 0 {
                1.0
            } else {
                f64::from(m) / f64::from(n)
            };
            if sim < threshold {
                continue;
            }
            let better = match best {
                None => true,
                Some((bs, bm, bseq, _)) => {
                    sim > bs || (sim == bs && (m > bm || (m == bm && c.seq < bseq)))
                }
            };
            if better {
                best = Some((sim, m, c.seq, slot));
            }
        }
        best.map(|b| b.3)
    }

    fn alias(&mut self, slot: u32, leaf: u64) {
        let Some(c) = self.slots[slot as usize].as_mut() else {
            return;
        };
        if c.leaves.len() >= self.cfg.max_aliases || c.leaves.contains(&leaf) {
            return;
        }
        c.leaves.push(leaf);
        self.leaves.entry(leaf).or_default().push(slot);
    }

    fn update(&mut self, slot: u32, ts_ns: i64, line: &[Token]) -> Option<Observation> {
        let tick = self.tick;
        let c = self.slots[slot as usize].as_mut()?;
        c.last_used = tick;
        c.info.count += 1;
        c.info.first_seen_ns = c.info.first_seen_ns.min(ts_ns);
        c.info.last_seen_ns = c.info.last_seen_ns.max(ts_ns);
        let wild = wild_tok();
        let mut changed = false;
        for (t, l) in c.toks.iter_mut().zip(line) {
            if t.hash != l.hash && *t != wild {
                *t = wild;
                changed = true;
            }
        }
        if changed {
            c.info.template = render(&c.toks, &c.info.template);
            self.refresh_sig(slot);
        }
        let c = self.slots[slot as usize].as_ref()?;
        Some(Observation {
            pattern_id: c.info.id,
            is_new: false,
            template_changed: changed,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        namespace: &str,
        ts_ns: i64,
        raw: &str,
        line: &[Token],
        text: &str,
        group: u64,
        leaf: u64,
    ) -> Observation {
        let template: Vec<String> = line.iter().map(|t| t.text(text)).collect();
        let template = template.join(" ");
        let base = fnv1a(
            fnv1a(fnv1a(FNV_SEED, namespace.as_bytes()), &[0xff]),
            template.as_bytes(),
        );
        let mut id = PatternId(base);
        let mut salt = 0u64;
        while self.by_id.contains_key(&id) {
            salt += 1;
            id = PatternId(mix(base, salt));
        }
        self.seq += 1;
        let cluster = Cluster {
            info: PatternInfo {
                id,
                namespace: namespace.to_string(),
                template,
                first_seen_ns: ts_ns,
                last_seen_ns: ts_ns,
                count: 1,
                example: truncate(raw, self.cfg.max_example_bytes),
            },
            toks: line
                .iter()
                .map(|t| TTok {
                    hash: t.hash,
                    wild: t.wild,
                    soft: t.soft,
                })
                .collect(),
            seq: self.seq,
            last_used: self.tick,
            group,
            leaves: vec![leaf],
            absorbed: Vec::new(),
        };
        self.insert(cluster);
        Observation {
            pattern_id: id,
            is_new: true,
            template_changed: false,
        }
    }

    fn insert(&mut self, cluster: Cluster) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(cluster.info.id, slot);
        self.groups
            .entry(cluster.group)
            .or_default()
            .push(GroupEntry {
                slot,
                sig: template_sig(&cluster.toks),
            });
        for &leaf in &cluster.leaves {
            self.leaves.entry(leaf).or_default().push(slot);
        }
        self.slots[slot as usize] = Some(cluster);
        self.live += 1;
    }

    /// Recomputes a template's group signature after it generalised.
    fn refresh_sig(&mut self, slot: u32) {
        let Some(c) = self.slots[slot as usize].as_ref() else {
            return;
        };
        let sig = template_sig(&c.toks);
        if let Some(e) = self
            .groups
            .get_mut(&c.group)
            .and_then(|v| v.iter_mut().find(|e| e.slot == slot))
        {
            e.sig = sig;
        }
    }

    /// Evicts the least recently used templates down to 63/64 of the bound,
    /// so a scan of the table happens once per `max_patterns/64` creations.
    fn evict(&mut self) {
        let target = self.cfg.max_patterns - self.cfg.max_patterns / 64;
        let excess = self.live.saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut order: Vec<(u64, u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.last_used, c.seq, i as u32)))
            .collect();
        order.select_nth_unstable(excess - 1);
        for &(_, _, slot) in &order[..excess] {
            self.remove(slot);
        }
    }

    fn remove(&mut self, slot: u32) {
        if let Some(c) = self.take(slot) {
            for id in &c.absorbed {
                self.redirects.remove(id);
            }
        }
    }

    /// Unlinks a template from every index and returns it.
    fn take(&mut self, slot: u32) -> Option<Cluster> {
        let c = self.slots[slot as usize].take()?;
        self.by_id.remove(&c.info.id);
        if let Some(v) = self.groups.get_mut(&c.group) {
            v.retain(|e| e.slot != slot);
            if v.is_empty() {
                self.groups.remove(&c.group);
            }
        }
        for &leaf in &c.leaves {
            if let Some(v) = self.leaves.get_mut(&leaf) {
                v.retain(|&s| s != slot);
                if v.is_empty() {
                    self.leaves.remove(&leaf);
                }
            }
        }
        self.free.push(slot);
        self.live -= 1;
        Some(c)
    }
}
