#![no_main]
//! `ecs` bodies for the `logs` table.
tocsin_fuzz::fuzz_format!(Logs, "ecs");
