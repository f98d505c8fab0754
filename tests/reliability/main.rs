//! The reliability suite: tocsin under crashes, a broker outage, a sink
//! outage, a flood of bad input, steady load and a soak, each against the
//! real binary, a real broker (tansu) and local HTTP receivers.
//!
//! By default every scenario runs in its quick form, sized for the regular
//! test command. `TOCSIN_RELIABILITY=full` runs the long form the figures in
//! `RELIABILITY.md` come from (`bash scripts/reliability.sh`). Scenarios run
//! one at a time (they measure throughput and latency, and share two cores),
//! and each prints one `[result]` line.

#[path = "../common/mod.rs"]
mod common;

mod broker_outage;
mod crashes;
mod flood;
mod load;
mod probe;
mod rebalance;
mod sink_outage;
mod soak;
mod workload;

use std::sync::LazyLock;

/// Held by each scenario for its whole run.
static ONE_AT_A_TIME: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Minutes in total, for the test command.
    Quick,
    /// The sizes the issue names (2 M events, 20 kills, 60 s outage, a
    /// 5-minute sink outage, a 30-minute soak with 100 K series).
    Full,
}

impl Scale {
    /// `TOCSIN_RELIABILITY=full` selects the long form.
    pub fn from_env() -> Scale {
        match std::env::var("TOCSIN_RELIABILITY").as_deref() {
            Ok("full") => Scale::Full,
            _ => Scale::Quick,
        }
    }

    /// `quick` or `full`, for result lines.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Full => "full",
        }
    }

    /// Picks the value for this scale.
    pub fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Scale::Quick => quick,
            Scale::Full => full,
        }
    }
}

/// Prints a scenario's result line (collected by `scripts/reliability.sh`).
pub fn result(scenario: &str, scale: Scale, text: &str) {
    eprintln!("[result] {scenario} ({}): {text}", scale.name());
}
