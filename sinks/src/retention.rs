//! Retention: drops lake partitions older than their table's retention.
//!
//! A partition (`<table>/date=YYYY-MM-DD/hour=HH`) goes once its whole hour
//! is older than the retention, measured against the wall clock: retention
//! is about disk, not event time. Whole directories go, so a query never
//! sees half a partition; a query already reading a removed file fails
//! with a clear error and can be re-run. The pipeline runs this between
//! flushes, so no file is being written under a removed directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tocsin_ingest::{HourPartition, LakeLayout, Table};

use crate::lake::LakeError;

/// `[lake]`: how long each table is kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Default retention of every table (default 30 days; `0s` keeps
    /// everything).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Per-table overrides, e.g. `{ logs = "7d", decisions = "400d" }`.
    #[serde(default, with = "per_table")]
    pub retention_per_table: BTreeMap<String, Duration>,
    /// How often retention and compaction run (default hourly, and once at
    /// start-up).
    #[serde(with = "humantime_serde")]
    pub check_every: Duration,
    /// `[lake.compaction]`: merging small files.
    pub compaction: crate::compaction::CompactionConfig,
}

mod per_table {
    use super::*;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        raw.into_iter()
            .map(|(k, v)| {
                humantime::parse_duration(&v)
                    .map(|d| (k.clone(), d))
                    .map_err(|e| serde::de::Error::custom(format!("retention of `{k}`: {e}")))
            })
            .collect()
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            retention: Duration::from_secs(30 * 24 * 3600),
            retention_per_table: BTreeMap::new(),
            check_every: Duration::from_secs(3600),
            compaction: crate::compaction::CompactionConfig::default(),
        }
    }
}

impl RetentionConfig {
    /// Checks that every override names a table.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.retention_per_table.keys() {
            name.parse::<Table>()?;
        }
        if self.check_every.is_zero() {
            return Err("check_every must be positive".into());
        }
        Ok(())
    }

    /// The retention of `table` (`None`: kept for ever).
    pub fn for_table(&self, table: Table) -> Option<Duration> {
        let r = self
            .retention_per_table
            .get(table.name())
            .copied()
            .unwrap_or(self.retention);
        (!r.is_zero()).then_some(r)
    }
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Hour partitions removed.
    pub partitions: usize,
    /// Files in them.
    pub files: usize,
}

/// The start of a partition named `date=YYYY-MM-DD` / `hour=HH`, in ns.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.to_owned(),
        source,
    }
}

fn names(dir: &Path) -> Result<Vec<String>, LakeError> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut out = Vec::new();
            for e in entries {
                let e = e.map_err(io(dir))?;
                if e.file_type().map_err(io(dir))?.is_dir() {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
            Ok(out)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(dir)(e)),
    }
}

/// Removes every partition whose hour ended more than its table's retention
/// before `now_ns`. Directories not named like partitions are left alone.
pub fn apply_retention(
    layout: &LakeLayout,
    cfg: &RetentionConfig,
    now_ns: i64,
) -> Result<RetentionReport, LakeError> {
    let mut report = RetentionReport::default();
    for table in Table::ALL {
        let Some(keep) = cfg.for_table(table) else {
            continue;
        };
        let cutoff = now_ns.saturating_sub(i64::try_from(keep.as_nanos()).unwrap_or(i64::MAX));
        let table_dir = layout.table_dir(table);
        for date in names(&table_dir)? {
            let date_dir = table_dir.join(&date);
            let hours = names(&date_dir)?;
            let mut kept = 0;
            for hour in &hours {
                let expired = HourPartition::from_dir_names(&date, hour)
                    .is_some_and(|h| h.last_ns() < cutoff);
                if !expired {
                    kept += 1;
                    continue;
                }
                let dir = date_dir.join(hour);
                report.files += fs::read_dir(&dir).map_err(io(&dir))?.count();
                fs::remove_dir_all(&dir).map_err(io(&dir))?;
                report.partitions += 1;
            }
            if kept == 0
                && !hours.is_empty()
                && fs::read_dir(&date_dir)
                    .map_err(io(&date_dir))?
                    .next()
                    .is_none()
            {
                fs::remove_dir(&date_dir).map_err(io(&date_dir))?;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3_600_000_000_000;

    fn touch(layout: &LakeLayout, table: Table, ts: i64) {
        let dir = layout.partition_dir(table, HourPartition::of(ts));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("x+0+00000000000000000001+00000000000000000001.parquet"),
            b"x",
        )
        .unwrap();
    }

    #[test]
    fn old_partitions_go_recent_ones_and_overrides_stay() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let now = 1_795_651_200_000_000_000; // 2026-11-26T00:00:00Z
        touch(&layout, Table::Logs, now - 40 * DAY);
        touch(&layout, Table::Logs, now - 10 * DAY);
        touch(&layout, Table::Decisions, now - 40 * DAY);
        // The hour that straddles the cutoff stays until all of it is old.
        touch(&layout, Table::Metrics, now - 30 * DAY + 1);
        let cfg: RetentionConfig =
            toml::from_str("retention = \"30d\"\nretention_per_table = { decisions = \"400d\" }")
                .unwrap();
        cfg.validate().unwrap();
        let r = apply_retention(&layout, &cfg, now).unwrap();
        assert_eq!(
            r,
            RetentionReport {
                partitions: 1,
                files: 1
            }
        );
        assert!(
            !layout
                .partition_dir(Table::Logs, HourPartition::of(now - 40 * DAY))
                .exists()
        );
        assert!(
            !layout
                .table_dir(Table::Logs)
                .join("date=2026-10-17")
                .exists(),
            "empty date directories go too"
        );
        assert!(
            layout
                .partition_dir(Table::Logs, HourPartition::of(now - 10 * DAY))
                .exists()
        );
        assert!(
            layout
                .partition_dir(Table::Decisions, HourPartition::of(now - 40 * DAY))
                .exists()
        );
        assert!(
            layout
                .partition_dir(Table::Metrics, HourPartition::of(now - 30 * DAY + 1))
                .exists()
        );
        // Running it again removes nothing more (idempotent).
        assert_eq!(
            apply_retention(&layout, &cfg, now).unwrap(),
            RetentionReport::default()
        );
        // Zero keeps everything.
        let keep: RetentionConfig = toml::from_str("retention = \"0s\"").unwrap();
        assert_eq!(
            apply_retention(&layout, &keep, now + 900 * DAY).unwrap(),
            RetentionReport::default()
        );
    }

    #[test]
    fn bad_settings_say_why() {
        let cfg: RetentionConfig =
            toml::from_str("retention_per_table = { nope = \"1d\" }").unwrap();
        assert!(cfg.validate().unwrap_err().contains("nope"));
        assert!(
            toml::from_str::<RetentionConfig>("retention_per_table = { logs = \"soon\" }").is_err()
        );
    }
}
