#![no_main]
//! `trivy` bodies for the `vulnerabilities` table.
tocsin_fuzz::fuzz_format!(Vulnerabilities, "trivy");
