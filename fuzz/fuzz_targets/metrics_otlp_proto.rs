#![no_main]
//! `otlp_proto` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "otlp_proto");
