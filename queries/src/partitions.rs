//! Which hour partitions of the lake a scan reads, from its `ts` filters.
//!
//! The lake writer puts every row in the directory of its event time's hour
//! (`date=YYYY-MM-DD/hour=HH`), so a scan bounded in time only has to list
//! the directories of those hours. That matters less for the files it does
//! not open (their statistics would prune them) than for the files it does:
//! DataFusion splits the files it is given between its partitions, and over
//! the whole table a last-hour query's one file falls into one file group
//! and is read by one thread.

use std::io;
use std::path::{Path, PathBuf};

use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;
use tocsin_ingest::HourPartition;

/// Bounds on `ts` (ns since the epoch, both inclusive) that every row a
/// scan returns satisfies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsBounds {
    /// The earliest event time a row may have.
    pub min: i64,
    /// The latest event time a row may have.
    pub max: i64,
}

impl TsBounds {
    /// No bound at all.
    pub const ALL: TsBounds = TsBounds {
        min: i64::MIN,
        max: i64::MAX,
    };

    /// The bounds implied by `filters`, which a scan applies together (a
    /// conjunction). A filter that is not a comparison of `ts` with a
    /// timestamp literal bounds nothing; it never narrows the result.
    pub fn from_filters(filters: &[Expr]) -> TsBounds {
        let mut b = TsBounds::ALL;
        for f in filters {
            b.narrow(f);
        }
        b
    }

    /// Whether the bounds exclude any row.
    pub fn is_bounded(&self) -> bool {
        *self != TsBounds::ALL
    }

    /// Whether some event time within `hour` lies within the bounds.
    pub fn overlaps(&self, hour: HourPartition) -> bool {
        hour.last_ns() >= self.min && hour.start_ns() <= self.max
    }

    fn narrow(&mut self, e: &Expr) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And => {
                    self.narrow(left);
                    self.narrow(right);
                }
                _ => {
                    if let (true, Some(v)) = (is_ts(left), timestamp_ns(right)) {
                        self.compare(*op, v);
                    } else if let (Some(v), true) = (timestamp_ns(left), is_ts(right))
                        && let Some(op) = op.swap()
                    {
                        self.compare(op, v);
                    }
                }
            },
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_ts(expr) => {
                if let Some(v) = timestamp_ns(low) {
                    self.compare(Operator::GtEq, v);
                }
                if let Some(v) = timestamp_ns(high) {
                    self.compare(Operator::LtEq, v);
                }
            }
            _ => {}
        }
    }

    /// Narrows by `ts <op> v`.
    fn compare(&mut self, op: Operator, v: i64) {
        match op {
            Operator::Eq => {
                self.min = self.min.max(v);
                self.max = self.max.min(v);
            }
            Operator::Gt => self.min = self.min.max(v.saturating_add(1)),
            Operator::GtEq => self.min = self.min.max(v),
            Operator::Lt => self.max = self.max.min(v.saturating_sub(1)),
            Operator::LtEq => self.max = self.max.min(v),
            _ => {}
        }
    }
}

fn is_ts(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == "ts")
}

/// A non-null timestamp literal in nanoseconds. A literal in a coarser unit
/// is widened; one too far out to be widened bounds nothing.
fn timestamp_ns(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    match v {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

/// The hour partition directories under `table_dir` that may hold rows
/// within `bounds`, in order.
///
/// `None` when the whole table directory should be read instead: when
/// `bounds` exclude no partition (one listing of the table beats one per
/// partition), and when `table_dir` holds something outside the lake's
/// layout that a scan of the whole directory would read (a Parquet file or
/// a directory not named like a partition), rather than miss it. A missing
/// `table_dir` holds no partition.
pub fn partition_dirs(table_dir: &Path, bounds: TsBounds) -> io::Result<Option<Vec<PathBuf>>> {
    let mut out = Vec::new();
    let Some(dates) = entries(table_dir)? else {
        return Ok(Some(out));
    };
    let mut pruned = false;
    for (date, date_is_dir) in dates {
        if !date_is_dir {
            if date.ends_with(".parquet") {
                return Ok(None);
            }
            continue;
        }
        let (Some(first), Some(last)) = (
            HourPartition::from_dir_names(&date, "hour=00"),
            HourPartition::from_dir_names(&date, "hour=23"),
        ) else {
            return Ok(None);
        };
        if first.start_ns() > bounds.max || last.last_ns() < bounds.min {
            pruned = true;
            continue;
        }
        let date_dir = table_dir.join(&date);
        for (hour, hour_is_dir) in entries(&date_dir)?.unwrap_or_default() {
            if !hour_is_dir {
                if hour.ends_with(".parquet") {
                    return Ok(None);
                }
                continue;
            }
            let Some(partition) = HourPartition::from_dir_names(&date, &hour) else {
                return Ok(None);
            };
            if bounds.overlaps(partition) {
                out.push(date_dir.join(&hour));
            } else {
                pruned = true;
            }
        }
    }
    if !pruned {
        return Ok(None);
    }
    out.sort();
    Ok(Some(out))
}

/// The names in `dir` and whether each is a directory; `None` when `dir`
/// does not exist (retention may remove a partition at any time).
fn entries(dir: &Path) -> io::Result<Option<Vec<(String, bool)>>> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        out.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    const H: i64 = 3_600_000_000_000;
    /// 2026-11-25T00:00:00Z.
    const DAY: i64 = 1_795_564_800_000_000_000;

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(v),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn bounds_come_from_comparisons_of_ts_with_timestamps() {
        let b = |f: Vec<Expr>| TsBounds::from_filters(&f);
        assert_eq!(
            b(vec![col("ts").gt_eq(ts(10)), col("ts").lt(ts(20))]),
            TsBounds { min: 10, max: 19 }
        );
        // Flipped operands, strict lower bound, a conjunction in one filter.
        assert_eq!(
            b(vec![ts(20).gt_eq(col("ts")).and(ts(10).lt(col("ts")))]),
            TsBounds { min: 11, max: 20 }
        );
        assert_eq!(
            b(vec![col("ts").between(ts(5), ts(7))]),
            TsBounds { min: 5, max: 7 }
        );
        assert_eq!(b(vec![col("ts").eq(ts(5))]), TsBounds { min: 5, max: 5 });
        let seconds = lit(ScalarValue::TimestampSecond(Some(2), None));
        assert_eq!(
            b(vec![col("ts").gt_eq(seconds)]),
            TsBounds {
                min: 2_000_000_000,
                max: i64::MAX
            }
        );
    }

    #[test]
    fn filters_that_do_not_bound_ts_bound_nothing() {
        for f in [
            col("ts").gt_eq(ts(10)).or(col("ts").lt(ts(5))),
            col("ts").not_between(ts(5), ts(7)),
            col("ts").not_eq(ts(5)),
            col("ts").gt_eq(lit(5i64)),
            col("opened_at").gt_eq(ts(5)),
            col("ts").gt_eq(col("ts")),
            col("ts").gt_eq(lit(ScalarValue::TimestampNanosecond(None, None))),
            col("ts").gt_eq(ts(5)).is_not_true(),
            col("ts").gt_eq(lit(ScalarValue::TimestampSecond(Some(i64::MAX), None))),
        ] {
            assert!(
                !TsBounds::from_filters(std::slice::from_ref(&f)).is_bounded(),
                "{f}"
            );
        }
    }

    fn mkdir(root: &Path, rel: &str) {
        std::fs::create_dir_all(root.join(rel)).unwrap();
    }

    #[test]
    fn only_partitions_overlapping_the_bounds_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "date=2026-11-24/hour=23",
            "date=2026-11-25/hour=00",
            "date=2026-11-25/hour=01",
            "date=2026-11-25/hour=02",
        ] {
            mkdir(root, rel);
        }
        // Temp files are not read by a scan either.
        std::fs::write(root.join(".x.parquet.tmp"), b"").unwrap();
        let dirs = |min, max| {
            partition_dirs(root, TsBounds { min, max })
                .unwrap()
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            dirs(DAY, DAY + H),
            ["date=2026-11-25/hour=00", "date=2026-11-25/hour=01"]
        );
        // The last nanosecond of an hour still belongs to it.
        assert_eq!(dirs(DAY - 1, DAY - 1), ["date=2026-11-24/hour=23"]);
        assert_eq!(dirs(DAY + 2 * H + 1, i64::MAX), ["date=2026-11-25/hour=02"]);
        assert!(dirs(DAY + 3 * H, i64::MAX).is_empty());
        assert!(dirs(i64::MIN, DAY - 2 * H).is_empty());
        // Bounds that exclude nothing: the whole table, in one listing.
        let all = TsBounds {
            min: DAY - H,
            max: i64::MAX,
        };
        assert_eq!(partition_dirs(root, all).unwrap(), None);
    }

    #[test]
    fn anything_outside_the_layout_means_the_whole_table_is_read() {
        let bounds = TsBounds { min: DAY, max: DAY };
        let dir = tempfile::tempdir().unwrap();
        mkdir(dir.path(), "date=2026-11-25/hour=00");
        mkdir(dir.path(), "archive");
        assert_eq!(partition_dirs(dir.path(), bounds).unwrap(), None);

        let dir = tempfile::tempdir().unwrap();
        mkdir(dir.path(), "date=2026-11-25/hour=00");
        std::fs::write(dir.path().join("date=2026-11-25/loose.parquet"), b"").unwrap();
        assert_eq!(partition_dirs(dir.path(), bounds).unwrap(), None);

        for odd in ["date=2026-11-25/h0", "date=yesterday/hour=00"] {
            let dir = tempfile::tempdir().unwrap();
            mkdir(dir.path(), "date=2026-11-26/hour=00");
            mkdir(dir.path(), odd);
            assert_eq!(partition_dirs(dir.path(), bounds).unwrap(), None, "{odd}");
        }

        // A table not written yet has no partition.
        let missing = dir.path().join("metrics");
        assert_eq!(partition_dirs(&missing, bounds).unwrap(), Some(vec![]));
    }
}
