#![no_main]
//! `telegraf_json` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "telegraf_json");
