//! The checkpoint: how far each source is durable in the lake, and the
//! processors' state at exactly that point.
//!
//! Two files in the state directory. Every processor's state is streamed
//! into `processor-state-<epoch>.jsonl`, one JSON document per line, and the
//! file is synced. Then `checkpoint.json`, the header (positions, watermark,
//! and where in the state file each processor's state lies), replaces the
//! previous one atomically (temp file, fsync, rename, fsync of the
//! directory); state files the header does not name are removed after that.
//! A crash at any point leaves the previous header and its state file intact.
//! One state file, not one per processor, so a flush syncs once.
//!
//! On start-up the header is the source of truth: lake files beyond it are
//! removed, messages before it are skipped, and processors resume from the
//! state files it names.
//!
//! The state is never held in memory as a whole: with 100,000 anomaly series
//! it is hundreds of MB, and building it as one string doubled peak memory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tocsin_processors::Processor;

/// The name under which derived files (decisions, raised alerts, pattern
/// rows) are tracked as a source: their "offsets" are flush epochs.
pub use tocsin_processors::output::DERIVED_SOURCE;

/// Prefix of processor state files.
const STATE_PREFIX: &str = "processor-state-";

/// Where one processor's state lies in the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRange {
    /// Byte offset of its first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

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
    /// The file (in the state directory) holding the processors' state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<String>,
    /// Where each processor's state lies in `state_file`, by processor name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub states: BTreeMap<String, StateRange>,
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
        if let (Some(file), Some(range)) = (&cp.state_file, cp.states.get(name)) {
            let path = self.dir.join(file);
            let read = || -> std::io::Result<Vec<u8>> {
                let mut f = File::open(&path)?;
                f.seek(SeekFrom::Start(range.offset))?;
                let len = usize::try_from(range.len).map_err(std::io::Error::other)?;
                let mut buf = vec![0; len];
                f.read_exact(&mut buf)?;
                Ok(buf)
            };
            return read().map(Some).with_context(|| {
                format!(
                    "reading the state of processor {name} from {} (bytes {}..{})",
                    path.display(),
                    range.offset,
                    range.offset.saturating_add(range.len)
                )
            });
        }
        Ok(cp
            .embedded_state
            .get(name)
            .map(|raw| raw.get().as_bytes().to_vec()))
    }

    /// Streams every processor's state into the synced state file of
    /// `epoch`; returns its name and where each processor's state lies.
    pub fn write_states(
        &self,
        epoch: u64,
        processors: &[Box<dyn Processor>],
    ) -> anyhow::Result<(String, BTreeMap<String, StateRange>)> {
        let name = format!("{STATE_PREFIX}{epoch}.jsonl");
        let path = self.dir.join(&name);
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = CountingWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, f),
            written: 0,
        };
        let mut states = BTreeMap::new();
        for p in processors {
            let offset = w.written;
            p.snapshot(&mut w)?;
            let len = w.written - offset;
            w.write_all(b"\n")
                .with_context(|| format!("writing {}", path.display()))?;
            states.insert(p.name().to_owned(), StateRange { offset, len });
        }
        w.inner
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
        let f = w.inner.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
            .with_context(|| format!("syncing {}", path.display()))?;
        Ok((name, states))
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
                && cp.state_file.as_deref() != Some(name)
                && let Err(e) = fs::remove_file(entry.path())
            {
                tracing::warn!(file = name, error = %e, "could not remove an old state file");
            }
        }
    }
}

/// Counts the bytes written through it, to record where each state lies.
struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
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

    fn header(epoch: u64, states: (String, BTreeMap<String, StateRange>)) -> Checkpoint {
        Checkpoint {
            epoch,
            sources: vec![SourcePosition {
                topic: "t".into(),
                partition: 1,
                next_offset: 42,
            }],
            max_event_ns: Some(7),
            watermark_ns: Some(2),
            state_file: Some(states.0),
            states: states.1,
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

        let states = store.write_states(1, &processors).unwrap();
        store.save(&header(1, states)).unwrap();
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

        // A crash after writing epoch 2's state but before its header: the
        // header still names epoch 1's file, which is still there.
        store.write_states(2, &processors).unwrap();
        let cp = store.load().unwrap().unwrap();
        assert_eq!(
            store.read_state(&cp, "b").unwrap().as_deref(),
            Some(&b"[]"[..])
        );

        // The next complete checkpoint leaves only its own file.
        let states = store.write_states(3, &processors).unwrap();
        store.save(&header(3, states)).unwrap();
        assert_eq!(state_files_on_disk(&state), vec!["processor-state-3.jsonl"]);

        fs::write(store.path(), b"{").unwrap();
        assert!(store.load().is_err());
    }

    #[test]
    fn a_header_naming_a_missing_or_short_state_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let range = StateRange { offset: 0, len: 4 };
        let cp = header(
            1,
            (
                "processor-state-1.jsonl".into(),
                BTreeMap::from([("a".into(), range)]),
            ),
        );
        store.save(&cp).unwrap();
        let err = store.read_state(&cp, "a").unwrap_err();
        assert!(
            format!("{err:#}").contains("processor-state-1.jsonl"),
            "{err:#}"
        );
        fs::write(dir.path().join("processor-state-1.jsonl"), b"[]").unwrap();
        let err = store.read_state(&cp, "a").unwrap_err();
        assert!(format!("{err:#}").contains("bytes 0..4"), "{err:#}");
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
