//! Reading decoded batches back in decoder tests.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};

/// A string cell; `None` when null.
pub(crate) fn text(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let c = b.column_by_name(col)?.as_string::<i32>();
    (!c.is_null(row)).then(|| c.value(row).to_owned())
}

/// A float cell.
pub(crate) fn float(b: &RecordBatch, col: &str, row: usize) -> f64 {
    b.column_by_name(col)
        .map_or(f64::NAN, |c| c.as_primitive::<Float64Type>().value(row))
}

/// The `ts` cell, ns since the epoch.
pub(crate) fn ts(b: &RecordBatch, row: usize) -> i64 {
    b.column_by_name("ts").map_or(i64::MIN, |c| {
        c.as_primitive::<TimestampNanosecondType>().value(row)
    })
}

/// A map cell's entries, in order.
pub(crate) fn map(b: &RecordBatch, col: &str, row: usize) -> Vec<(String, String)> {
    let Some(c) = b.column_by_name(col) else {
        return Vec::new();
    };
    let entries = c.as_map().value(row);
    let keys = entries.column(0).as_string::<i32>();
    let vals = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|i| (keys.value(i).to_owned(), vals.value(i).to_owned()))
        .collect()
}

/// A map cell's value for `key`.
pub(crate) fn map_get(b: &RecordBatch, col: &str, row: usize, key: &str) -> Option<String> {
    map(b, col, row)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
