//! The checkpoint: how far each source is durable in the lake, and the
//! processors' state at exactly that point.
//!
//! Written atomically (temp file, fsync, rename, fsync of the directory) after
//! every flush. On start-up it is the source of truth: lake files beyond it
//! are removed, messages before it are skipped, and processors resume from it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The name under which derived files (decisions, raised alerts, pattern
/// rows) are tracked as a source: their "offsets" are flush epochs.
pub use tocsin_processors::output::DERIVED_SOURCE;

/// Where one source partition resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    /// Topic or embedded source name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset not yet durable.
    pub next_offset: i64,
}

/// A checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last flush epoch that completed.
    pub epoch: u64,
    /// Resume positions.
    pub sources: Vec<SourcePosition>,
    /// Largest event time seen (restores the watermark).
    pub max_event_ns: Option<i64>,
    /// The watermark at this checkpoint (absent in checkpoints written
    /// before per-source clocks: then derived from `max_event_ns`).
    #[serde(default)]
    pub watermark_ns: Option<i64>,
    /// Processor state by processor name.
    pub processors: BTreeMap<String, tocsin_processors::ProcessorState>,
}

/// Reads and writes the checkpoint file of a state directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(CheckpointStore {
            dir: dir.to_owned(),
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }

    /// The last checkpoint written, if any.
    pub fn load(&self) -> anyhow::Result<Option<Checkpoint>> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("checkpoint {} is corrupt", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Replaces the checkpoint atomically.
    pub fn save(&self, cp: &Checkpoint) -> anyhow::Result<()> {
        let path = self.path();
        let tmp = self.dir.join(".checkpoint.json.tmp");
        let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        // Streamed: processor state can be tens of MB, not worth a copy.
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        serde_json::to_writer(&mut w, cp).context("serialising the checkpoint")?;
        w.flush()?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(&dir.path().join("state")).unwrap();
        assert!(store.load().unwrap().is_none());
        let cp = Checkpoint {
            epoch: 3,
            sources: vec![SourcePosition {
                topic: "t".into(),
                partition: 1,
                next_offset: 42,
            }],
            max_event_ns: Some(7),
            watermark_ns: Some(2),
            processors: BTreeMap::from([(
                "p".into(),
                serde_json::value::to_raw_value(&serde_json::json!({"a": 1})).unwrap(),
            )]),
        };
        store.save(&cp).unwrap();
        let text = |c: &Checkpoint| serde_json::to_string(c).unwrap();
        assert_eq!(store.load().unwrap().as_ref().map(text), Some(text(&cp)));
        fs::write(store.path(), b"{").unwrap();
        assert!(store.load().is_err());
    }
}
