//! What every fuzz target does: decode arbitrary bytes with one format's
//! decoder and check the decoder's contract — an error leaves no row
//! behind, a success reports exactly the rows it appended, and the rows
//! always make a valid Arrow batch. A panic, a hang or a crash anywhere in
//! that is a finding.

use tocsin_ingest::decode::{DecodeLimits, decode_message, decoder_for};
use tocsin_ingest::{Lineage, Table, TableBuilder};

/// Decodes `data` as `format` for `table` and checks the contract.
pub fn decode(table: Table, format: &str, data: &[u8]) {
    let limits = DecodeLimits::default();
    let Ok(decoder) = decoder_for(table, format, limits) else {
        panic!("{format} is not registered for {table}");
    };
    let Some(mut out) = TableBuilder::for_table(table) else {
        panic!("{table} is not an ingest table");
    };
    let lineage = Lineage {
        topic: "fuzz",
        partition: 0,
        offset: 0,
        received_ns: 1_795_681_800_000_000_000,
    };
    match decode_message(decoder.as_ref(), data, &lineage, &limits, &mut out) {
        Ok(n) => assert_eq!(n, out.len(), "reported rows differ from appended rows"),
        Err(_) => assert_eq!(out.len(), 0, "a refused message left rows behind"),
    }
    if let Err(e) = out.finish() {
        panic!("the rows do not make a valid batch: {e}");
    }
}

/// Declares a fuzz target for one (table, format).
#[macro_export]
macro_rules! fuzz_format {
    ($table:ident, $format:literal) => {
        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            tocsin_fuzz::decode(tocsin_ingest::Table::$table, $format, data);
        });
    };
}
