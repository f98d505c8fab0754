#![no_main]
//! `grype` bodies for the `vulnerabilities` table.
tocsin_fuzz::fuzz_format!(Vulnerabilities, "grype");
