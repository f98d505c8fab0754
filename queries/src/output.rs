//! Query results: a table for terminals, JSON rows, CSV and Arrow IPC.

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

/// CSV with a header row. Nested columns (maps, lists) have no CSV form:
/// the error names them, so the caller can select their entries instead.
pub fn to_csv(out: &QueryOutput) -> Result<Vec<u8>, ArrowError> {
    if let Some(f) = out
        .schema
        .fields()
        .iter()
        .find(|f| f.data_type().is_nested())
    {
        return Err(ArrowError::InvalidArgumentError(format!(
            "column `{}` is a {} and has no CSV form; select its entries (e.g. `{}['key']`) or ask for JSON",
            f.name(),
            f.data_type(),
            f.name()
        )));
    }
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(Vec::new());
    if out.batches.is_empty() {
        writer.write(&RecordBatch::new_empty(out.schema.clone()))?;
    }
    for b in &out.batches {
        writer.write(b)?;
    }
    Ok(writer.into_inner())
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
