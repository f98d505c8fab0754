#![no_main]
//! `json` bodies for the `alerts` table.
tocsin_fuzz::fuzz_format!(Alerts, "json");
