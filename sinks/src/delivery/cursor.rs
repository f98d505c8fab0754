//! A sink's position in the outbox, kept across restarts.
//!
//! Lanes finish out of order, so a single offset is not enough: per outbox
//! part the cursor keeps `through` (everything at or before it is done) and
//! the done positions above it (at most the in-flight window). On restart,
//! entries at or before `through` and those in `done` are skipped, so a
//! decision is neither lost nor delivered twice. The file is replaced
//! atomically (write, rename) after every change, which a killed process
//! cannot tear.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where an entry sits in the outbox: the Kafka partition and offset, or
/// (embedded) the flush epoch and the decision's index in that epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Kafka partition; 0 for the lake outbox.
    pub part: i32,
    /// Kafka offset, or the flush epoch.
    pub major: i64,
    /// 0 for Kafka, or the index of the decision within its epoch.
    pub minor: i64,
}

impl Position {
    fn key(self) -> (i64, i64) {
        (self.major, self.minor)
    }
}

/// The cursor of one outbox part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartCursor {
    /// Every entry at or before this (major, minor) is done.
    pub through: Option<(i64, i64)>,
    /// Done entries after `through`.
    pub done: BTreeSet<(i64, i64)>,
    /// Taken but not yet done (not persisted: they are redone after a restart).
    #[serde(skip)]
    pending: BTreeSet<(i64, i64)>,
}

impl PartCursor {
    fn is_done(&self, k: (i64, i64)) -> bool {
        self.through.is_some_and(|t| k <= t) || self.done.contains(&k)
    }

    fn advance(&mut self) {
        let low = self.pending.first().copied();
        while let Some(&first) = self.done.first() {
            if low.is_some_and(|l| first > l) {
                break;
            }
            self.done.pop_first();
            self.through = Some(self.through.map_or(first, |t| t.max(first)));
        }
    }
}

/// How many delivered decision ids a cursor remembers.
const RECENT_IDS: usize = 4096;

/// The cursor of every part of a sink's outbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Per part.
    pub parts: BTreeMap<i32, PartCursor>,
    /// Ids of the decisions delivered (or parked) last, oldest first. A
    /// pipeline killed after publishing a flush's decisions to the outbox
    /// but before its checkpoint publishes them again after the restart,
    /// at new outbox positions; the ids (deterministic) tell them apart.
    #[serde(default)]
    pub recent: VecDeque<String>,
}

impl Cursor {
    /// A cursor with everything at or before `p` done (where a sink with no
    /// saved state starts when it should skip history).
    pub fn starting_after(p: Position) -> Self {
        let mut c = Cursor::default();
        c.parts.entry(p.part).or_default().through = Some(p.key());
        c
    }

    /// Whether `p` was already done.
    pub fn is_done(&self, p: Position) -> bool {
        self.parts.get(&p.part).is_some_and(|c| c.is_done(p.key()))
    }

    /// Records that `p` was taken. Entries must be taken in order per part.
    pub fn take(&mut self, p: Position) {
        self.parts
            .entry(p.part)
            .or_default()
            .pending
            .insert(p.key());
    }

    /// Records that `p` is done (delivered, parked, folded or not routed).
    pub fn finish(&mut self, p: Position) {
        let c = self.parts.entry(p.part).or_default();
        c.pending.remove(&p.key());
        if !c.is_done(p.key()) {
            c.done.insert(p.key());
        }
        c.advance();
    }

    /// Whether the decision `id` was delivered (or parked) recently.
    pub fn delivered(&self, id: &str) -> bool {
        // Decisions are rare next to input rows: a scan of a few thousand
        // short strings per decision is cheaper than keeping an index.
        self.recent.iter().any(|r| r == id)
    }

    /// Records that `p`, the decision `id`, was delivered or parked.
    pub fn finish_delivered(&mut self, p: Position, id: &str) {
        self.finish(p);
        if !self.delivered(id) {
            if self.recent.len() == RECENT_IDS {
                self.recent.pop_front();
            }
            self.recent.push_back(id.to_owned());
        }
    }

    /// The done prefix of `part` (Kafka commits the offset after it).
    pub fn through(&self, part: i32) -> Option<(i64, i64)> {
        self.parts.get(&part).and_then(|c| c.through)
    }
}

/// The state file of one sink: its cursor and whatever the sink itself
/// keeps (e.g. ticket numbers per `dedup_key`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkState {
    /// Outbox position.
    pub cursor: Cursor,
    /// The sink's own state ([`crate::Sink::state`]).
    #[serde(default)]
    pub sink: serde_json::Value,
}

/// Reads and replaces one sink's state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// I/O.
    #[error("sink state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a state file (hand-edited or from another version).
    #[error("sink state {path} is not valid: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

impl StateFile {
    /// The state file at `path` (its directory is created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile { path: path.into() }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` if the sink has never run.
    pub fn load(&self) -> Result<Option<SinkState>, StateFileError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| StateFileError::Invalid {
                        path: self.path.clone(),
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateFileError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the file atomically.
    pub fn save(&self, state: &SinkState) -> Result<(), StateFileError> {
        let io = |source| StateFileError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec(state).map_err(|source| StateFileError::Invalid {
            path: self.path.clone(),
            source,
        })?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(major: i64, minor: i64) -> Position {
        Position {
            part: 0,
            major,
            minor,
        }
    }

    #[test]
    fn remembers_the_last_delivered_ids_across_a_save() {
        let mut c = Cursor::default();
        c.take(p(1, 0));
        c.finish_delivered(p(1, 0), "d-0");
        assert!(c.delivered("d-0") && !c.delivered("d-1"));
        let back: Cursor = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert!(back.delivered("d-0"));
        // Bounded: the oldest ids go first.
        for i in 1..=RECENT_IDS {
            c.finish_delivered(p(2, i as i64), &format!("d-{i}"));
        }
        assert!(
            !c.delivered("d-0") && c.delivered("d-1") && c.delivered(&format!("d-{RECENT_IDS}"))
        );
        assert_eq!(c.recent.len(), RECENT_IDS);
        // State files from before the field still load.
        let old: Cursor = serde_json::from_str(r#"{"parts":{}}"#).unwrap();
        assert!(old.recent.is_empty());
    }

    #[test]
    fn out_of_order_completion_keeps_a_done_prefix() {
        let mut c = Cursor::default();
        for i in 0..4 {
            c.take(p(1, i));
        }
        c.finish(p(1, 2));
        c.finish(p(1, 3));
        assert_eq!(c.through(0), None);
        assert!(c.is_done(p(1, 2)) && !c.is_done(p(1, 0)));
        c.finish(p(1, 0));
        assert_eq!(c.through(0), Some((1, 0)));
        c.finish(p(1, 1));
        assert_eq!(c.through(0), Some((1, 3)));
        assert!(c.parts[&0].done.is_empty());
        // Gaps in positions (empty epochs, Kafka offsets) do not stall it.
        c.take(p(5, 0));
        c.finish(p(5, 0));
        assert_eq!(c.through(0), Some((5, 0)));
    }

    #[test]
    fn state_survives_a_restart_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("sinks/pd.json"));
        assert_eq!(f.load().unwrap(), None);
        let mut c = Cursor::starting_after(p(3, i64::MAX));
        c.take(p(4, 0));
        c.take(p(4, 1));
        c.finish(p(4, 1));
        let st = SinkState {
            cursor: c,
            sink: serde_json::json!({"k": 7}),
        };
        f.save(&st).unwrap();
        let back = f.load().unwrap().unwrap();
        assert!(back.cursor.is_done(p(4, 1)));
        assert!(
            !back.cursor.is_done(p(4, 0)),
            "in flight at the crash: redone"
        );
        assert!(back.cursor.is_done(p(2, 9)));
        assert_eq!(back.sink["k"], 7);
        std::fs::write(f.path(), "{nope").unwrap();
        assert!(matches!(f.load(), Err(StateFileError::Invalid { .. })));
    }
}
