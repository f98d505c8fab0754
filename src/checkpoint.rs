//! The checkpoint: how far each source is durable in the lake, and the
//! processors' state at exactly that point.
//!
//! Every flush streams the processors' state into
//! `processor-state-<epoch>.jsonl`, one JSON document per processor and line,
//! and syncs the file once. Then `checkpoint.json`, the header (positions,
//! watermark, and which state files make up the state), replaces the
//! previous one atomically (temp file, fsync, rename, fsync of the
//! directory); state files the header does not name are removed after that.
//! A crash at any point leaves the previous header and its files intact.
//!
//! A state file holds either a processor's whole state or, for processors
//! that support it, only what changed since the previous file: the header
//! lists a whole-state file followed by files of changes, applied in order
//! on restore. A whole state is written again once the changes add up to
//! its size or [`MAX_CHANGE_FILES`] files, so restore time stays bounded.
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

/// Files of changes after a whole state before the next whole state.
pub const MAX_CHANGE_FILES: usize = 8;

/// Where one processor's state lies in a state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRange {
    /// Byte offset of its first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Changes since the previous state file rather than the whole state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changes: bool,
}

/// One state file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// File name in the state directory.
    pub file: String,
    /// Where each processor's state lies in it, by processor name.
    pub states: BTreeMap<String, StateRange>,
}

impl StateFile {
    /// Bytes of whole states (`changes == false`) or of changes.
    fn bytes(&self, changes: bool) -> u64 {
        self.states
            .values()
            .filter(|r| r.changes == changes)
            .map(|r| r.len)
            .sum()
    }
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
    /// The state files, in the order they are applied: a whole state, then
    /// changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_files: Vec<StateFile>,
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

impl Checkpoint {
    /// Whether the next checkpoint after this one should write whole states
    /// rather than changes: there is no whole state yet, or the changes add
    /// up to its size or to [`MAX_CHANGE_FILES`] files. (The whole states
    /// that processors without changes write into every file are small and
    /// not counted.)
    pub fn wants_whole_state(&self) -> bool {
        match self.state_files.split_first() {
            None => true,
            Some((whole, changes)) => {
                changes.len() >= MAX_CHANGE_FILES
                    || changes.iter().map(|f| f.bytes(true)).sum::<u64>() >= whole.bytes(false)
            }
        }
    }
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

    /// Restores every processor from the state `cp` holds for it.
    pub fn restore_states(
        &self,
        cp: &Checkpoint,
        processors: &mut [Box<dyn Processor>],
    ) -> anyhow::Result<()> {
        for p in processors.iter_mut() {
            if let Some(raw) = cp.embedded_state.get(p.name()) {
                p.restore(raw.get().as_bytes())?;
            }
        }
        for sf in &cp.state_files {
            for p in processors.iter_mut() {
                let Some(range) = sf.states.get(p.name()) else {
                    continue;
                };
                let bytes = self.read_range(&sf.file, p.name(), range)?;
                if range.changes {
                    p.apply_changes(&bytes)?;
                } else {
                    p.restore(&bytes)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn read_range(
        &self,
        file: &str,
        name: &str,
        range: &StateRange,
    ) -> anyhow::Result<Vec<u8>> {
        let path = self.dir.join(file);
        let read = || -> std::io::Result<Vec<u8>> {
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(range.offset))?;
            let len = usize::try_from(range.len).map_err(std::io::Error::other)?;
            let mut buf = vec![0; len];
            f.read_exact(&mut buf)?;
            Ok(buf)
        };
        read().with_context(|| {
            format!(
                "reading the state of processor {name} from {} (bytes {}..{})",
                path.display(),
                range.offset,
                range.offset.saturating_add(range.len)
            )
        })
    }

    /// Streams every processor's state into the synced state file of
    /// `epoch`: the whole state when `whole`, otherwise the changes of those
    /// processors that keep them (and the whole state of the rest).
    pub fn write_states(
        &self,
        epoch: u64,
        processors: &mut [Box<dyn Processor>],
        whole: bool,
    ) -> anyhow::Result<StateFile> {
        let file = format!("{STATE_PREFIX}{epoch}.jsonl");
        let path = self.dir.join(&file);
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = CountingWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, f),
            written: 0,
        };
        let mut states = BTreeMap::new();
        for p in processors.iter_mut() {
            let offset = w.written;
            let changes = !whole && p.snapshot_changes(&mut w)?;
            if !changes {
                p.snapshot(&mut w)?;
            }
            let len = w.written - offset;
            w.write_all(b"\n")
                .with_context(|| format!("writing {}", path.display()))?;
            states.insert(
                p.name().to_owned(),
                StateRange {
                    offset,
                    len,
                    changes,
                },
            );
        }
        w.inner
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
        let f = w.inner.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
            .with_context(|| format!("syncing {}", path.display()))?;
        Ok(StateFile { file, states })
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
                && !cp.state_files.iter().any(|f| f.file == name)
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

    /// A processor whose state is a list of numbers; it checkpoints the
    /// numbers added since the last checkpoint as its changes, unless it is
    /// told to write whole states only.
    #[derive(Default)]
    struct Numbers {
        name: &'static str,
        keeps_changes: bool,
        all: Vec<u32>,
        checkpointed: usize,
    }

    impl Numbers {
        fn new(name: &'static str, keeps_changes: bool) -> Self {
            Numbers {
                name,
                keeps_changes,
                ..Default::default()
            }
        }
    }

    fn json_error(name: &str, e: serde_json::Error) -> ProcessorError {
        ProcessorError::Restore {
            processor: name.into(),
            source: e,
        }
    }

    impl Processor for Numbers {
        fn name(&self) -> &'static str {
            self.name
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
        fn snapshot(&mut self, out: &mut dyn Write) -> Result<(), ProcessorError> {
            serde_json::to_writer(out, &self.all).map_err(|e| json_error(self.name, e))?;
            self.checkpointed = self.all.len();
            Ok(())
        }
        fn restore(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
            self.all = serde_json::from_slice(state).map_err(|e| json_error(self.name, e))?;
            Ok(())
        }
        fn snapshot_changes(&mut self, out: &mut dyn Write) -> Result<bool, ProcessorError> {
            if !self.keeps_changes {
                return Ok(false);
            }
            serde_json::to_writer(out, &self.all[self.checkpointed..])
                .map_err(|e| json_error(self.name, e))?;
            self.checkpointed = self.all.len();
            Ok(true)
        }
        fn apply_changes(&mut self, changes: &[u8]) -> Result<(), ProcessorError> {
            let more: Vec<u32> =
                serde_json::from_slice(changes).map_err(|e| json_error(self.name, e))?;
            self.all.extend(more);
            Ok(())
        }
    }

    fn header(epoch: u64, state_files: Vec<StateFile>) -> Checkpoint {
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

    fn restored(store: &CheckpointStore) -> (Vec<u32>, Vec<u32>) {
        let cp = store.load().unwrap().unwrap();
        let mut ps: Vec<Box<dyn Processor>> = vec![
            Box::new(Numbers::new("a", true)),
            Box::new(Numbers::new("b", false)),
        ];
        store.restore_states(&cp, &mut ps).unwrap();
        let mut out = Vec::new();
        for p in ps.iter_mut() {
            let v: Vec<u32> =
                serde_json::from_slice(&tocsin_processors::snapshot_to_vec(p.as_mut()).unwrap())
                    .unwrap();
            out.push(v);
        }
        (out[0].clone(), out[1].clone())
    }

    /// New state: appends `n` in every processor.
    fn push(ps: &mut [Box<dyn Processor>], n: u32) {
        for p in ps.iter_mut() {
            p.apply_changes(&serde_json::to_vec(&[n]).unwrap()).unwrap();
        }
    }

    #[test]
    fn whole_states_and_changes_restore_in_order_and_old_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let store = CheckpointStore::open(&state).unwrap();
        assert!(store.load().unwrap().is_none());
        // "b" keeps no changes: its whole state goes into every file.
        let mut ps: Vec<Box<dyn Processor>> = vec![
            Box::new(Numbers::new("a", true)),
            Box::new(Numbers::new("b", false)),
        ];
        push(&mut ps, 1);
        let whole = store.write_states(1, &mut ps, true).unwrap();
        assert!(!whole.states["a"].changes);
        let mut cp = header(1, vec![whole]);
        store.save(&cp).unwrap();
        assert_eq!(restored(&store), (vec![1], vec![1]));

        for epoch in 2..=3 {
            push(&mut ps, epoch as u32);
            assert!(!cp.wants_whole_state());
            let changes = store.write_states(epoch, &mut ps, false).unwrap();
            assert!(changes.states["a"].changes);
            assert!(!changes.states["b"].changes);
            cp.state_files.push(changes);
            cp.epoch = epoch;
            store.save(&cp).unwrap();
        }
        assert_eq!(restored(&store), (vec![1, 2, 3], vec![1, 2, 3]));

        // A crash after writing epoch 4's state but before its header: the
        // header still names epochs 1 to 3, which are all still there.
        push(&mut ps, 4);
        store.write_states(4, &mut ps, false).unwrap();
        assert_eq!(restored(&store), (vec![1, 2, 3], vec![1, 2, 3]));

        // The next whole state leaves only its own file.
        let whole = store.write_states(5, &mut ps, true).unwrap();
        store.save(&header(5, vec![whole])).unwrap();
        assert_eq!(state_files_on_disk(&state), vec!["processor-state-5.jsonl"]);
        assert_eq!(restored(&store), (vec![1, 2, 3, 4], vec![1, 2, 3, 4]));

        fs::write(store.path(), b"{").unwrap();
        assert!(store.load().is_err());
    }

    #[test]
    fn a_whole_state_is_due_after_enough_changes() {
        let range = |len, changes| StateRange {
            offset: 0,
            len,
            changes,
        };
        let whole = || StateFile {
            file: String::new(),
            states: BTreeMap::from([("a".into(), range(100, false))]),
        };
        // "b" writes its whole (small) state into every file.
        let changes = |len| StateFile {
            file: String::new(),
            states: BTreeMap::from([
                ("a".into(), range(len, true)),
                ("b".into(), range(50, false)),
            ]),
        };
        assert!(header(1, vec![]).wants_whole_state());
        assert!(!header(1, vec![whole()]).wants_whole_state());
        assert!(!header(1, vec![whole(), changes(60)]).wants_whole_state());
        assert!(header(1, vec![whole(), changes(60), changes(40)]).wants_whole_state());
        let many: Vec<StateFile> = std::iter::once(whole())
            .chain((0..MAX_CHANGE_FILES).map(|_| changes(1)))
            .collect();
        assert!(header(1, many).wants_whole_state());
    }

    #[test]
    fn a_header_naming_a_missing_or_short_state_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let range = StateRange {
            offset: 0,
            len: 4,
            changes: false,
        };
        let cp = header(
            1,
            vec![StateFile {
                file: "processor-state-1.jsonl".into(),
                states: BTreeMap::from([("a".into(), range)]),
            }],
        );
        store.save(&cp).unwrap();
        let mut ps: Vec<Box<dyn Processor>> = vec![Box::new(Numbers::new("a", true))];
        let err = store.restore_states(&cp, &mut ps).unwrap_err();
        assert!(
            format!("{err:#}").contains("processor-state-1.jsonl"),
            "{err:#}"
        );
        fs::write(dir.path().join("processor-state-1.jsonl"), b"[]").unwrap();
        let err = store.restore_states(&cp, &mut ps).unwrap_err();
        assert!(format!("{err:#}").contains("bytes 0..4"), "{err:#}");
    }

    #[test]
    fn state_embedded_by_older_versions_is_read_and_kept_until_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        fs::write(
            store.path(),
            br#"{"epoch":4,"sources":[],"max_event_ns":null,"processors":{"a":[5,6],"b":[7]}}"#,
        )
        .unwrap();
        assert_eq!(restored(&store), (vec![5, 6], vec![7]));
        // An intent header written before the first flush keeps it.
        let cp = store.load().unwrap().unwrap();
        store.save(&cp).unwrap();
        assert_eq!(restored(&store), (vec![5, 6], vec![7]));
    }
}
