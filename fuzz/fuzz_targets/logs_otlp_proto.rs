#![no_main]
//! `otlp_proto` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "otlp_proto");
