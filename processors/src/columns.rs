//! Typed access to the columns of an input batch, with the error every
//! processor reports when a batch lacks one.

use arrow::array::{Array, AsArray, MapArray, PrimitiveArray, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};

use crate::ProcessorError;

fn missing(processor: &str, column: &'static str) -> ProcessorError {
    ProcessorError::Schema {
        processor: processor.into(),
        column,
    }
}

/// The `ts` column.
pub(crate) fn ts<'a>(
    processor: &str,
    batch: &'a RecordBatch,
) -> Result<&'a PrimitiveArray<TimestampNanosecondType>, ProcessorError> {
    batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| missing(processor, "ts"))
}

/// A nullable timestamp column other than `ts` (`starts_at`, `ends_at`).
pub(crate) fn timestamps<'a>(
    processor: &str,
    batch: &'a RecordBatch,
    column: &'static str,
) -> Result<&'a PrimitiveArray<TimestampNanosecondType>, ProcessorError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| missing(processor, column))
}

/// A `Float64` column.
pub(crate) fn f64s<'a>(
    processor: &str,
    batch: &'a RecordBatch,
    column: &'static str,
) -> Result<&'a PrimitiveArray<Float64Type>, ProcessorError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_primitive_opt::<Float64Type>())
        .ok_or_else(|| missing(processor, column))
}

/// A `Utf8` column.
pub(crate) fn strings<'a>(
    processor: &str,
    batch: &'a RecordBatch,
    column: &'static str,
) -> Result<&'a StringArray, ProcessorError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| missing(processor, column))
}

/// A `Map<Utf8, Utf8>` column (labels, attributes).
pub(crate) fn map<'a>(
    processor: &str,
    batch: &'a RecordBatch,
    column: &'static str,
) -> Result<&'a MapArray, ProcessorError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_map_opt())
        .ok_or_else(|| missing(processor, column))
}

/// The entries of row `i` of a map column, values `None` when null.
///
/// Reads the map's key and value arrays in place: slicing a row out as its
/// own array would allocate for every row of a hot path.
pub(crate) fn map_entries(
    map: &MapArray,
    i: usize,
) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
    let offsets = map.value_offsets();
    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
    let keys = map.keys().as_string_opt::<i32>();
    let values = map.values().as_string_opt::<i32>();
    (start..end).filter_map(move |j| {
        let (k, v) = (keys?, values?);
        Some((k.value(j), (!v.is_null(j)).then(|| v.value(j))))
    })
}

/// Row `i` of a nullable string column.
pub(crate) fn opt(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}
