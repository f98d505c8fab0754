#![no_main]
//! `grafana` bodies for the `alerts` table.
tocsin_fuzz::fuzz_format!(Alerts, "grafana");
