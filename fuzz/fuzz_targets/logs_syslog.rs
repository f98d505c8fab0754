#![no_main]
//! `syslog` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "syslog");
