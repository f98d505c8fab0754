#![no_main]
//! `prometheus` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "prometheus");
