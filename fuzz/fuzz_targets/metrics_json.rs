#![no_main]
//! `json` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "json");
