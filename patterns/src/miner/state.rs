//! Checkpoint form of a [`PatternMiner`]: configuration, counters and the
//! templates with their LRU ticks and leaf aliases. Indexes are rebuilt on
//! restore; template token hashes are recomputed from the template text, so
//! the JSON stays readable and small.

use serde::{Deserialize, Serialize, Serializer};

use super::{Cluster, MinerConfig, PatternId, PatternInfo, PatternMiner, ttok_from_text};
use crate::error::PatternError;

#[derive(Serialize)]
struct ClusterRef<'a> {
    info: &'a PatternInfo,
    seq: u64,
    last_used: u64,
    group: u64,
    leaves: &'a [u64],
    absorbed: &'a [PatternId],
}

#[derive(Serialize)]
struct StateRef<'a> {
    config: &'a MinerConfig,
    tick: u64,
    seq: u64,
    patterns: Vec<ClusterRef<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterOwned {
    info: PatternInfo,
    seq: u64,
    last_used: u64,
    group: u64,
    leaves: Vec<u64>,
    absorbed: Vec<PatternId>,
}

/// Owned checkpoint state, the `try_from` source of `PatternMiner`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerState {
    config: MinerConfig,
    tick: u64,
    seq: u64,
    patterns: Vec<ClusterOwned>,
}

impl Serialize for PatternMiner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut patterns: Vec<ClusterRef<'_>> = self
            .slots
            .iter()
            .flatten()
            .map(|c| ClusterRef {
                info: &c.info,
                seq: c.seq,
                last_used: c.last_used,
                group: c.group,
                leaves: &c.leaves,
                absorbed: &c.absorbed,
            })
            .collect();
        // Slot order depends on history; sequence order makes equal states
        // serialise to equal JSON.
        patterns.sort_by_key(|c| c.seq);
        StateRef {
            config: &self.cfg,
            tick: self.tick,
            seq: self.seq,
            patterns,
        }
        .serialize(s)
    }
}

impl TryFrom<MinerState> for PatternMiner {
    type Error = PatternError;
    fn try_from(st: MinerState) -> Result<Self, PatternError> {
        let mut m = PatternMiner::new(st.config)?;
        m.tick = st.tick;
        m.seq = st.seq;
        for c in st.patterns {
            if m.by_id.contains_key(&c.info.id) {
                return Err(PatternError::Input(format!(
                    "duplicate pattern id {}",
                    c.info.id
                )));
            }
            let toks = if c.info.template.is_empty() {
                Vec::new()
            } else {
                c.info
                    .template
                    .split(' ')
                    .map(|t| ttok_from_text(t, m.cfg.mask.compound_words))
                    .collect()
            };
            for a in &c.absorbed {
                m.redirects.insert(*a, c.info.id);
            }
            m.insert(Cluster {
                info: c.info,
                toks,
                seq: c.seq,
                last_used: c.last_used,
                group: c.group,
                leaves: c.leaves,
                absorbed: c.absorbed,
            });
        }
        Ok(m)
    }
}

impl<'de> Deserialize<'de> for PatternMiner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let st = MinerState::deserialize(d)?;
        PatternMiner::try_from(st).map_err(serde::de::Error::custom)
    }
}
