//! The anomaly processor's checkpoint: the whole state, or only the series
//! updated since the last checkpoint.
//!
//! With 100,000 series the whole state is about 500 MB of JSON, and a flush
//! may come every few seconds (sooner when a decision waits). Series that
//! saw no point since the last checkpoint are not written again: a series
//! carries a `changed` flag and evictions are listed, so the changes hold
//! only what a restore needs on top of the previous state.
//!
//! Neither the whole state nor the changes hold any configuration: a
//! restored series is attached to the rule that matches it now.

use std::collections::{BTreeMap, HashMap};

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::{AnomalyProcessor, NAME, Row, Series, State};
use crate::ProcessorError;

/// The series flagged as changed, serialised as a map without collecting.
struct ChangedSeries<'a>(&'a HashMap<u64, Series>);

impl Serialize for ChangedSeries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, series) in self.0.iter().filter(|(_, series)| series.changed) {
            map.serialize_entry(k, series)?;
        }
        map.end()
    }
}

/// What changed since the last checkpoint, as written.
#[derive(Serialize)]
struct ChangesOut<'a> {
    removed: &'a [u64],
    changed: ChangedSeries<'a>,
    late_points: u64,
    evicted: u64,
}

/// What changed since the last checkpoint, as read back.
#[derive(Deserialize)]
struct ChangesIn {
    removed: Vec<u64>,
    changed: HashMap<u64, Series>,
    late_points: u64,
    evicted: u64,
}

impl AnomalyProcessor {
    /// Writes the whole state; everything so far counts as checkpointed.
    pub(super) fn write_snapshot(
        &mut self,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ProcessorError> {
        crate::state_to_json(NAME, &self.state, out)?;
        self.mark_checkpointed();
        Ok(())
    }

    /// Writes the series changed and removed since the last checkpoint.
    pub(super) fn write_changes(
        &mut self,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ProcessorError> {
        let changes = ChangesOut {
            removed: &self.state.removed,
            changed: ChangedSeries(&self.state.series),
            late_points: self.state.late_points,
            evicted: self.state.evicted,
        };
        crate::state_to_json(NAME, &changes, out)?;
        self.mark_checkpointed();
        Ok(())
    }

    fn mark_checkpointed(&mut self) {
        self.state.removed.clear();
        for s in self.state.series.values_mut() {
            s.changed = false;
        }
    }

    /// Replaces the state with a whole one.
    pub(super) fn read_snapshot(&mut self, state: &[u8]) -> Result<(), ProcessorError> {
        let mut state: State = crate::state_from_json(NAME, state)?;
        for s in state.series.values_mut() {
            self.attach(s);
        }
        self.state = state;
        Ok(())
    }

    /// Applies changes on top of the state restored so far.
    pub(super) fn read_changes(&mut self, changes: &[u8]) -> Result<(), ProcessorError> {
        let changes: ChangesIn = crate::state_from_json(NAME, changes)?;
        // Removals first: a key evicted and seen again within one interval
        // is both removed and changed, and the new series wins.
        for k in &changes.removed {
            self.state.series.remove(k);
        }
        for (k, mut s) in changes.changed {
            self.attach(&mut s);
            self.state.series.insert(k, s);
        }
        self.state.late_points = changes.late_points;
        self.state.evicted = changes.evicted;
        Ok(())
    }

    /// Attaches a restored series to the configuration. A series whose
    /// metric now falls under another rule (or none) starts over under it;
    /// the rest keep their state and run with the current configuration.
    fn attach(&self, s: &mut Series) {
        let rule = self.rule_for(&s.name);
        match (rule, s.detector.as_mut()) {
            (Some(i), Some(d)) if s.rule == Some(i) => {
                if let Some(dc) = self.detector_configs.get(i) {
                    d.set_config(dc.clone());
                }
            }
            _ => {
                let row = Row {
                    ts: s.last_ts,
                    name: &s.name,
                    value: 0.0,
                    counter: false,
                    service: s.service.as_deref(),
                    host: s.host.as_deref(),
                    labels: BTreeMap::new(),
                };
                let fresh = self.new_series(&row);
                s.rule = fresh.rule;
                s.detector = fresh.detector;
                s.tracker = fresh.tracker;
                s.counter_last = None;
            }
        }
    }
}
