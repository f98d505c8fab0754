//! Query results as text: a table for terminals, JSON rows, CSV and Arrow IPC.

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::json::ArrayWriter;

use crate::engine::QueryOutput;

/// A table for terminals.
pub fn to_pretty(out: &QueryOutput) -> Result<String, ArrowError> {
    if out.batches.is_empty() {
        let empty = RecordBatch::new_empty(out.schema.clone());
        return Ok(arrow::util::pretty::pretty_format_batches(&[empty])?.to_string());
    }
    Ok(arrow::util::pretty::pretty_format_batches(&out.batches)?.to_string())
}

/// A JSON array of row objects (`[]` when empty).
pub fn to_json_rows(out: &QueryOutput) -> Result<Vec<u8>, ArrowError> {
    let mut writer = ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = out.batches.iter().collect();
    writer.write_batches(&refs)?;
    writer.finish()?;
    let buf = writer.into_inner();
    Ok(if buf.is_empty() { b"[]".to_vec() } else { buf })
}

/// An Arrow IPC stream.
pub fn to_arrow_ipc(out: &QueryOutput) -> Result<Vec<u8>, ArrowError> {
    let mut writer = StreamWriter::try_new(Vec::new(), &out.schema)?;
    for b in &out.batches {
        writer.write(b)?;
    }
    writer.finish()?;
    writer.into_inner()
}
