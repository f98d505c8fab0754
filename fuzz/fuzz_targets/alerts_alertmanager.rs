#![no_main]
//! `alertmanager` bodies for the `alerts` table.
tocsin_fuzz::fuzz_format!(Alerts, "alertmanager");
