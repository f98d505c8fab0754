//! Append-only column buffers that can be rolled back.
//!
//! Decoders append a message's rows straight into these buffers; when a later
//! line of the same message turns out to be malformed, the whole message is
//! taken back out with [`truncate`](Utf8Column::truncate) so that a message is
//! either decoded completely or dead-lettered completely. Arrow's own builders
//! cannot shrink, which is why these exist.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, MapArray,
    StringArray, StructArray, TimestampNanosecondArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use crate::catalog::string_map_type;

/// A UTF-8 (or binary) column with optional nulls.
#[derive(Debug, Clone, Default)]
pub struct Utf8Column {
    offsets: Vec<i32>,
    data: Vec<u8>,
    valid: Vec<bool>,
    /// Kept as a count so that truncating costs only what it removes: a
    /// flood of malformed messages must not make each rollback O(rows).
    nulls: usize,
}

impl Utf8Column {
    /// An empty column.
    pub fn new() -> Self {
        Utf8Column {
            offsets: vec![0],
            ..Default::default()
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of string data held.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Appends a value.
    pub fn push(&mut self, value: &str) {
        self.push_bytes(value.as_bytes());
    }

    /// Appends raw bytes (for binary columns).
    pub fn push_bytes(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        // Batches are sealed long before 2 GiB of data (see `BatchLimits`),
        // so the offset always fits.
        self.offsets.push(self.data.len() as i32);
        self.valid.push(true);
    }

    /// Appends a value or a null.
    pub fn push_opt(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.push(v),
            None => {
                self.offsets.push(self.data.len() as i32);
                self.valid.push(false);
                self.nulls += 1;
            }
        }
    }

    /// The longest value from value `from` on, in bytes.
    pub fn longest_since(&self, from: usize) -> usize {
        self.offsets
            .get(from..)
            .unwrap_or(&[])
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Keeps the first `len` values.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        self.nulls -= self.valid[len..].iter().filter(|v| !**v).count();
        self.offsets.truncate(len + 1);
        self.data.truncate(self.offsets[len] as usize);
        self.valid.truncate(len);
    }

    fn take_parts(&mut self) -> (OffsetBuffer<i32>, Buffer, Option<NullBuffer>) {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let data = std::mem::take(&mut self.data);
        let valid = std::mem::take(&mut self.valid);
        let nulls = (self.nulls > 0).then(|| NullBuffer::from(valid));
        self.nulls = 0;
        // Offsets are monotonically non-decreasing by construction.
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        (offsets, Buffer::from_vec(data), nulls)
    }

    /// Moves the values out as a `StringArray`, leaving the column empty.
    pub fn finish_utf8(&mut self) -> ArrayRef {
        let (offsets, data, nulls) = self.take_parts();
        // SAFETY-free path: every pushed value came from a `&str` (or valid
        // UTF-8 checked by the caller for binary), so validation cannot fail;
        // `new` validates anyway and we keep that check.
        Arc::new(StringArray::new(offsets, data, nulls))
    }

    /// Moves the values out as a `BinaryArray`, leaving the column empty.
    pub fn finish_binary(&mut self) -> ArrayRef {
        let (offsets, data, nulls) = self.take_parts();
        Arc::new(BinaryArray::new(offsets, data, nulls))
    }
}

/// A `Map<Utf8, Utf8>` column (labels, attributes, annotations).
#[derive(Debug, Clone)]
pub struct StringMapColumn {
    offsets: Vec<i32>,
    keys: Utf8Column,
    values: Utf8Column,
}

impl Default for StringMapColumn {
    fn default() -> Self {
        Self::new()
    }
}

impl StringMapColumn {
    /// An empty column.
    pub fn new() -> Self {
        StringMapColumn {
            offsets: vec![0],
            keys: Utf8Column::new(),
            values: Utf8Column::new(),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the column holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of key and value data held.
    pub fn data_len(&self) -> usize {
        self.keys.data_len() + self.values.data_len()
    }

    /// Adds one entry to the row being built; close the row with [`end_row`](Self::end_row).
    pub fn push_entry(&mut self, key: &str, value: &str) {
        self.keys.push(key);
        self.values.push(value);
    }

    /// Entries pushed since the last [`end_row`](Self::end_row).
    pub fn open_entries(&self) -> usize {
        self.keys.len() - *self.offsets.last().unwrap_or(&0) as usize
    }

    /// Closes the current row.
    pub fn end_row(&mut self) {
        self.offsets.push(self.keys.len() as i32);
    }

    /// The longest key or value in row `from` and after (open entries
    /// included), in bytes.
    pub fn longest_since(&self, from: usize) -> usize {
        let first = self
            .offsets
            .get(from)
            .map_or(self.keys.len(), |&o| o as usize);
        self.keys
            .longest_since(first)
            .max(self.values.longest_since(first))
    }

    /// Keeps the first `len` rows (and drops any open entries).
    pub fn truncate(&mut self, len: usize) {
        let len = len.min(self.len());
        self.offsets.truncate(len + 1);
        let entries = self.offsets[len] as usize;
        self.keys.truncate(entries);
        self.values.truncate(entries);
    }

    /// Moves the rows out as a `MapArray`, leaving the column empty.
    pub fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let keys = self.keys.finish_utf8();
        let values = self.values.finish_utf8();
        let DataType::Map(entries_field, _) = string_map_type() else {
            unreachable!("string_map_type is a map")
        };
        let DataType::Struct(fields) = entries_field.data_type().clone() else {
            unreachable!("map entries are a struct")
        };
        let entries = StructArray::new(fields, vec![keys, values], None);
        Arc::new(MapArray::new(
            entries_field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            entries,
            None,
            false,
        ))
    }
}

/// A fixed-width column of `i64`, `i32`, `f64` or timestamps.
#[derive(Debug, Clone, Default)]
pub struct PrimitiveColumn<T> {
    values: Vec<T>,
    valid: Vec<bool>,
    /// A count, for the same reason as in [`Utf8Column`].
    nulls: usize,
}

impl<T: Copy + Default> PrimitiveColumn<T> {
    /// An empty column.
    pub fn new() -> Self {
        PrimitiveColumn {
            values: Vec::new(),
            valid: Vec::new(),
            nulls: 0,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Appends a value.
    pub fn push(&mut self, v: T) {
        self.values.push(v);
        self.valid.push(true);
    }

    /// Appends a value or a null.
    pub fn push_opt(&mut self, v: Option<T>) {
        match v {
            Some(v) => self.push(v),
            None => {
                self.values.push(T::default());
                self.valid.push(false);
                self.nulls += 1;
            }
        }
    }

    /// The values pushed so far.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Fixed-width values hold no string: always 0 (see [`Utf8Column::longest_since`]).
    pub fn longest_since(&self, _from: usize) -> usize {
        0
    }

    /// Keeps the first `len` values.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.values.len() {
            return;
        }
        self.nulls -= self.valid[len..].iter().filter(|v| !**v).count();
        self.values.truncate(len);
        self.valid.truncate(len);
    }

    fn take(&mut self) -> (ScalarBuffer<T>, Option<NullBuffer>)
    where
        T: arrow::datatypes::ArrowNativeType,
    {
        let values = std::mem::take(&mut self.values);
        let valid = std::mem::take(&mut self.valid);
        let nulls = (self.nulls > 0).then(|| NullBuffer::from(valid));
        self.nulls = 0;
        (ScalarBuffer::from(values), nulls)
    }
}

impl PrimitiveColumn<i64> {
    /// Moves the values out as a UTC nanosecond timestamp array.
    pub fn finish_timestamp(&mut self) -> ArrayRef {
        let (v, n) = self.take();
        Arc::new(TimestampNanosecondArray::new(v, n).with_timezone("UTC"))
    }

    /// Moves the values out as an `Int64Array`.
    pub fn finish_i64(&mut self) -> ArrayRef {
        let (v, n) = self.take();
        Arc::new(Int64Array::new(v, n))
    }
}

impl PrimitiveColumn<i32> {
    /// Moves the values out as an `Int32Array`.
    pub fn finish_i32(&mut self) -> ArrayRef {
        let (v, n) = self.take();
        Arc::new(Int32Array::new(v, n))
    }
}

impl PrimitiveColumn<f64> {
    /// Moves the values out as a `Float64Array`.
    pub fn finish_f64(&mut self) -> ArrayRef {
        let (v, n) = self.take();
        Arc::new(Float64Array::new(v, n))
    }
}

impl PrimitiveColumn<bool> {
    /// Moves the values out as a `BooleanArray`.
    pub fn finish_bool(&mut self) -> ArrayRef {
        let values = std::mem::take(&mut self.values);
        let valid = std::mem::take(&mut self.valid);
        let nulls = (self.nulls > 0).then(|| NullBuffer::from(valid));
        self.nulls = 0;
        Arc::new(BooleanArray::new(BooleanBuffer::from(values), nulls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn utf8_truncate_restores_earlier_state() {
        let mut c = Utf8Column::new();
        c.push("a");
        c.push_opt(None);
        let mark = c.len();
        c.push("bbb");
        c.push_opt(None);
        c.truncate(mark);
        c.push("cc");
        let arr = c.finish_utf8();
        let s = arr.as_string::<i32>();
        assert_eq!(s.len(), 3);
        assert_eq!(s.value(0), "a");
        assert!(s.is_null(1));
        assert_eq!(s.value(2), "cc");
        assert!(c.is_empty());
    }

    #[test]
    fn map_rows_and_truncate() {
        let mut m = StringMapColumn::new();
        m.push_entry("k", "v");
        m.end_row();
        m.end_row();
        m.push_entry("x", "1");
        m.push_entry("y", "2");
        assert_eq!(m.open_entries(), 2);
        m.end_row();
        m.truncate(2);
        let arr = m.finish();
        assert_eq!(arr.data_type(), &string_map_type());
        let map = arr.as_map();
        assert_eq!(map.len(), 2);
        assert_eq!(map.value(0).len(), 1);
        assert_eq!(map.value(1).len(), 0);
    }
}
