#![no_main]
//! `es_bulk` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "es_bulk");
