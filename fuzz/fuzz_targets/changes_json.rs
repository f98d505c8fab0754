#![no_main]
//! `json` bodies for the `changes` table.
tocsin_fuzz::fuzz_format!(Changes, "json");
