#![no_main]
//! `otlp_json` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "otlp_json");
