#![no_main]
//! `github` bodies for the `changes` table.
tocsin_fuzz::fuzz_format!(Changes, "github");
