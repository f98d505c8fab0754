//! [`MinerConfig`]: the miner's knobs, with defaults and validation.

use serde::{Deserialize, Serialize};

use crate::error::PatternError;
use crate::mask::MaskConfig;

/// Configuration of a [`PatternMiner`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Minimum share of a template's constant tokens a line must repeat to
    /// join it (within its prefix leaf).
    pub similarity_threshold: f64,
    /// The same share required to join a template found under another
    /// prefix of the same length; above 1.0 disables the cross-prefix search.
    pub cross_prefix_threshold: f64,
    /// How many leading tokens route a line to a leaf. Drain uses two; one
    /// keeps `user alice …` and `user bob …` in the same leaf, and the
    /// similarity test does the separating.
    pub prefix_depth: usize,
    /// Bound on live templates per miner; least recently used are evicted.
    pub max_patterns: usize,
    /// Tokens kept per line; the rest of a longer line folds into one `<*>`.
    pub max_tokens: usize,
    /// Bytes of the example line kept per template.
    pub max_example_bytes: usize,
    /// Leaves one template may be aliased into by the cross-prefix search.
    pub max_aliases: usize,
    /// Distinct words at one position that turn it into a variable by
    /// merging sibling templates; below 2 disables merging.
    pub merge_min_values: usize,
    /// Variable masking.
    pub mask: MaskConfig,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            similarity_threshold: 0.82,
            cross_prefix_threshold: 0.9,
            prefix_depth: 1,
            max_patterns: 10_000,
            max_tokens: 128,
            max_example_bytes: 512,
            max_aliases: 32,
            merge_min_values: 3,
            mask: MaskConfig::default(),
        }
    }
}

impl MinerConfig {
    pub(super) fn validate(&self) -> Result<(), PatternError> {
        let bad = |m: &str| Err(PatternError::Config(m.to_string()));
        if !(0.0..=1.0).contains(&self.similarity_threshold) {
            return bad("similarity_threshold must be within [0, 1]");
        }
        if self.cross_prefix_threshold.is_nan() || self.cross_prefix_threshold < 0.0 {
            return bad("cross_prefix_threshold must be >= 0");
        }
        if self.prefix_depth > 16 {
            return bad("prefix_depth must be <= 16");
        }
        if self.max_patterns == 0 {
            return bad("max_patterns must be >= 1");
        }
        if self.max_tokens < 2 {
            return bad("max_tokens must be >= 2");
        }
        Ok(())
    }
}
