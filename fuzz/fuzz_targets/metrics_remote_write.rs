#![no_main]
//! `remote_write` bodies for the `metrics` table.
tocsin_fuzz::fuzz_format!(Metrics, "remote_write");
