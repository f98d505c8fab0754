#![no_main]
//! `text` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "text");
