#![no_main]
//! `otlp_json` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "otlp_json");
