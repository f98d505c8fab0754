#![no_main]
//! `cloudevents` bodies for the `changes` table.
tocsin_fuzz::fuzz_format!(Changes, "cloudevents");
