//! The checkpoint: how far each source is durable in the lake, and the
//! processors' state at exactly that point.
//!
//! Two kinds of file in the state directory. Each processor's state is
//! streamed into its own file, `processor-<name>-<epoch>.json`, and synced.
//! Then `checkpoint.json`, the header (positions, watermark, and which state
//! file belongs to which processor), replaces the previous one atomically
//! (temp file, fsync, rename, fsync of the directory); state files no header
//! names any more are removed after that. A crash at any point leaves the
//! previous header and the files it names intact.
//!
//! On start-up the header is the source of truth: lake files beyond it are
//! removed, messages before it are skipped, and processors resume from the
//! state files it names.
//!
//! The state is never held in memory as a whole: with 100,000 anomaly series
//! it is hundreds of MB, and building it as one string doubled peak memory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tocsin_processors::Processor;

/// The name under which derived files (decisions, raised alerts, pattern
/// rows) are tracked as a source: their "offsets" are flush epochs.
pub use tocsin_processors::output::DERIVED_SOURCE;

/// Prefix of processor state files.
const STATE_PREFIX: &str = "processor-";

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

/// A checkpoint header.
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
    /// Processor state files (in the state directory) by processor name.
    #[serde(default)]
    pub state_files: BTreeMap<String, String>,
    /// Processor state embedded in the header, as checkpoints written before
    /// state files held it. Kept (and written back by an intent header) until
    /// the first flush replaces it with state files.
    #[serde(
        default,
        rename = "processors",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub embedded_state: BTreeMap<String, Box<serde_json::value::RawValue>>,
}

/// Reads and writes the checkpoint files of a state directory.
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

    /// The last checkpoint header written, if any.
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

    /// The state `cp` holds for processor `name`, if any.
    pub fn read_state(&self, cp: &Checkpoint, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
        if let Some(file) = cp.state_files.get(name) {
            let path = self.dir.join(file);
            return fs::read(&path)
                .map(Some)
                .with_context(|| format!("reading processor state {}", path.display()));
        }
        Ok(cp
            .embedded_state
            .get(name)
            .map(|raw| raw.get().as_bytes().to_vec()))
    }

    /// Streams every processor's state into a synced file of `epoch`, and
    /// returns the files by processor name for the header.
    pub fn write_states(
        &self,
        epoch: u64,
        processors: &[Box<dyn Processor>],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let mut files = BTreeMap::new();
        for p in processors {
            let name = format!("{STATE_PREFIX}{}-{epoch}.json", p.name());
            let path = self.dir.join(&name);
            let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            p.snapshot(&mut w)?;
            w.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()
                .with_context(|| format!("syncing {}", path.display()))?;
            files.insert(p.name().to_owned(), name);
        }
        Ok(files)
    }

    /// Replaces the checkpoint header atomically, then removes the state
    /// files it no longer names.
    pub fn save(&self, cp: &Checkpoint) -> anyhow::Result<()> {
        let path = self.path();
        let tmp = self.dir.join(".checkpoint.json.tmp");
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        serde_json::to_writer(&mut f, cp).context("serialising the checkpoint")?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
        File::open(&self.dir)?.sync_all()?;
        self.remove_stale_states(cp);
        Ok(())
    }

    /// Removes state files `cp` does not name: those of older epochs, and
    /// those a crash left before their header was written. Best effort: a
    /// file left behind is removed at the next checkpoint.
    fn remove_stale_states(&self, cp: &Checkpoint) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(STATE_PREFIX)
                && !cp.state_files.values().any(|f| f == name)
                && let Err(e) = fs::remove_file(entry.path())
            {
                tracing::warn!(file = name, error = %e, "could not remove an old state file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_ingest::Table;
    use tocsin_processors::{Output, ProcessorError};

    /// A processor whose state is a fixed string.
    struct Fixed(&'static str, &'static str);

    impl Processor for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn inputs(&self) -> &'static [Table] {
            &[]
        }
        fn process(
            &mut self,
            _: Table,
            _: &arrow::array::RecordBatch,
            _: &mut Output,
        ) -> Result<(), ProcessorError> {
            Ok(())
        }
        fn on_watermark(&mut self, _: i64, _: &mut Output) {}
        fn snapshot(&self, out: &mut dyn Write) -> Result<(), ProcessorError> {
            out.write_all(self.1.as_bytes())
                .map_err(|e| ProcessorError::Snapshot {
                    processor: self.0.into(),
                    source: serde_json::Error::io(e),
                })
        }
        fn restore(&mut self, _: &[u8]) -> Result<(), ProcessorError> {
            Ok(())
        }
    }

    fn header(epoch: u64, state_files: BTreeMap<String, String>) -> Checkpoint {
        Checkpoint {
            epoch,
            sources: vec![SourcePosition {
                topic: "t".into(),
                partition: 1,
                next_offset: 42,
            }],
            max_event_ns: Some(7),
            watermark_ns: Some(2),
            state_files,
            embedded_state: BTreeMap::new(),
        }
    }

    fn state_files_on_disk(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(STATE_PREFIX))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn states_are_read_back_through_the_header_and_old_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let store = CheckpointStore::open(&state).unwrap();
        assert!(store.load().unwrap().is_none());
        let processors: Vec<Box<dyn Processor>> = vec![
            Box::new(Fixed("a", "{\"x\":1}")),
            Box::new(Fixed("b", "[]")),
        ];

        let files = store.write_states(1, &processors).unwrap();
        store.save(&header(1, files)).unwrap();
        let cp = store.load().unwrap().unwrap();
        assert_eq!((cp.epoch, cp.sources[0].next_offset), (1, 42));
        assert_eq!(
            store.read_state(&cp, "a").unwrap().as_deref(),
            Some(&b"{\"x\":1}"[..])
        );
        assert_eq!(
            store.read_state(&cp, "b").unwrap().as_deref(),
            Some(&b"[]"[..])
        );
        assert_eq!(store.read_state(&cp, "c").unwrap(), None);

        // A crash after writing epoch 2's states but before its header: the
        // header still names epoch 1's files, which are still there.
        store.write_states(2, &processors).unwrap();
        let cp = store.load().unwrap().unwrap();
        assert_eq!(
            store.read_state(&cp, "b").unwrap().as_deref(),
            Some(&b"[]"[..])
        );

        // The next complete checkpoint leaves only its own files.
        let files = store.write_states(3, &processors).unwrap();
        store.save(&header(3, files)).unwrap();
        assert_eq!(
            state_files_on_disk(&state),
            vec!["processor-a-3.json", "processor-b-3.json"]
        );

        fs::write(store.path(), b"{").unwrap();
        assert!(store.load().is_err());
    }

    #[test]
    fn a_header_naming_a_missing_state_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let cp = header(
            1,
            BTreeMap::from([("a".into(), "processor-a-1.json".into())]),
        );
        store.save(&cp).unwrap();
        let err = store.read_state(&cp, "a").unwrap_err();
        assert!(format!("{err:#}").contains("processor-a-1.json"), "{err:#}");
    }

    #[test]
    fn state_embedded_by_older_versions_is_read_and_kept_until_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        fs::write(
            store.path(),
            br#"{"epoch":4,"sources":[],"max_event_ns":null,"processors":{"a":{"x":[1,2]}}}"#,
        )
        .unwrap();
        let cp = store.load().unwrap().unwrap();
        assert_eq!(
            store.read_state(&cp, "a").unwrap().as_deref(),
            Some(&br#"{"x":[1,2]}"#[..])
        );
        // An intent header written before the first flush keeps it.
        store.save(&cp).unwrap();
        let again = store.load().unwrap().unwrap();
        assert_eq!(
            store.read_state(&again, "a").unwrap().as_deref(),
            Some(&br#"{"x":[1,2]}"#[..])
        );
    }
}
