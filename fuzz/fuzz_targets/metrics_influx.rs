#![no_main]
//! `influx` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "influx");
