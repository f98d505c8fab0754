#![no_main]
//! `json` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "json");
