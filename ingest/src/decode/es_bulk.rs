//! Elasticsearch's `_bulk` body, as Filebeat's and Fluent Bit's `es`
//! outputs send it: newline-delimited pairs of an action line
//! (`{"index":{…}}` or `{"create":{…}}`) and a document, which is decoded as
//! an ECS / Fluent Bit log record. `delete` actions carry no document and
//! are skipped; `update` actions are refused (logs are append-only).

use serde_json::Value;

use super::ecs::EcsLogsDecoder;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, TableBuilder};
use crate::catalog::Table;

/// Decodes `_bulk` bodies into `logs` rows.
#[derive(Debug, Clone)]
pub struct EsBulkDecoder {
    documents: EcsLogsDecoder,
}

impl EsBulkDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        EsBulkDecoder {
            documents: EcsLogsDecoder::new(limits),
        }
    }
}

/// What an action line asks for.
enum Action {
    /// A document follows.
    Document,
    /// Nothing follows (`delete`).
    Skip,
}

fn action(line: &[u8], n: usize) -> Result<Action, DecodeError> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        DecodeError::new(DecodeReason::InvalidJson, format!("action line {n}: {e}"))
    })?;
    let Some(obj) = v.as_object().filter(|o| o.len() == 1) else {
        return Err(DecodeError::new(
            DecodeReason::InvalidValue,
            format!("line {n} is not a bulk action (an object with one of index, create, delete)"),
        ));
    };
    match obj.keys().next().map(String::as_str) {
        Some("index" | "create") => Ok(Action::Document),
        Some("delete") => Ok(Action::Skip),
        Some(other) => Err(DecodeError::new(
            DecodeReason::InvalidValue,
            format!("bulk action `{other}` on line {n}: logs are append-only (index or create)"),
        )),
        None => Err(DecodeError::new(
            DecodeReason::InvalidValue,
            format!("empty action on line {n}"),
        )),
    }
}

impl Decoder for EsBulkDecoder {
    fn table(&self) -> Table {
        Table::Logs
    }

    fn format(&self) -> &'static str {
        "es_bulk"
    }

    fn whole_message(&self) -> bool {
        true
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let mut lines = record
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
        while let Some((i, line)) = lines.next() {
            match action(line, i + 1)? {
                Action::Skip => {}
                Action::Document => {
                    let Some((j, doc)) = lines.next() else {
                        return Err(DecodeError::new(
                            DecodeReason::MissingField,
                            format!("the action on line {} has no document", i + 1),
                        ));
                    };
                    self.documents
                        .decode_record(doc, lineage, out)
                        .map_err(|mut e| {
                            e.line = Some(j + 1);
                            e
                        })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
