use super::*;
use crate::decode::{all_or_nothing, decode_message};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use proptest::prelude::*;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "tocsin.vulnerabilities",
        partition: 0,
        offset: 9,
        received_ns: 13,
    }
}

fn decode(scanner: Scanner, input: &str) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Vulnerabilities).unwrap();
    let d = ScanReportDecoder::new(DecodeLimits::default(), scanner);
    decode_message(
        &d,
        input.as_bytes(),
        &lineage(),
        &DecodeLimits::default(),
        &mut b,
    )?;
    Ok(b.finish().unwrap())
}

fn s(b: &RecordBatch, c: &str, row: usize) -> Option<String> {
    let col = b.column_by_name(c).unwrap().as_string::<i32>();
    (!col.is_null(row)).then(|| col.value(row).to_string())
}

fn f(b: &RecordBatch, c: &str, row: usize) -> Option<f64> {
    let col = b.column_by_name(c).unwrap().as_primitive::<Float64Type>();
    (!col.is_null(row)).then(|| col.value(row))
}

/// Shaped like `trivy image --format json alpine:3.10` (trimmed).
const TRIVY: &str = r#"{
  "SchemaVersion": 2,
  "CreatedAt": "2026-11-26T08:30:00.123456789Z",
  "ArtifactName": "registry.example/checkout:1.4.2",
  "ArtifactType": "container_image",
  "Metadata": {"OS": {"Family": "alpine", "Name": "3.10.9"},
    "ImageConfig": {"config": {"Labels": {"service": "checkout"}}}},
  "Results": [
    {"Target": "registry.example/checkout:1.4.2 (alpine 3.10.9)", "Class": "os-pkgs", "Type": "alpine",
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2021-36159", "PkgID": "apk-tools@2.10.6-r0", "PkgName": "apk-tools",
        "InstalledVersion": "2.10.6-r0", "FixedVersion": "2.10.7-r0", "Status": "fixed",
        "SeveritySource": "nvd", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2021-36159",
        "Title": "libfetch: out-of-bounds read", "Severity": "CRITICAL",
        "CVSS": {"nvd": {"V2Score": 6.4, "V3Score": 9.1}, "redhat": {"V3Score": 7.4}}},
       {"VulnerabilityID": "CVE-2020-28928", "PkgName": "musl", "InstalledVersion": "1.1.22-r4",
        "Severity": "MEDIUM", "CVSS": {"redhat": {"V2Score": 2.1}}}
     ]},
    {"Target": "app/go.sum", "Class": "lang-pkgs", "Type": "gomod", "Vulnerabilities": null}
  ]
}"#;

#[test]
fn trivy_report_gives_one_row_per_finding() {
    let b = decode(Scanner::Trivy, TRIVY).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(s(&b, "scanner", 0).as_deref(), Some("trivy"));
    assert_eq!(
        s(&b, "target", 0).as_deref(),
        Some("registry.example/checkout:1.4.2")
    );
    assert_eq!(s(&b, "cve", 0).as_deref(), Some("CVE-2021-36159"));
    assert_eq!(s(&b, "package", 0).as_deref(), Some("apk-tools"));
    assert_eq!(s(&b, "fixed_version", 0).as_deref(), Some("2.10.7-r0"));
    assert_eq!(s(&b, "severity", 0).as_deref(), Some("critical"));
    assert_eq!(s(&b, "service", 0).as_deref(), Some("checkout"));
    // NVD's v3 score wins over Red Hat's.
    assert_eq!(f(&b, "cvss", 0), Some(9.1));
    // Only a v2 score: that one; no fix: null.
    assert_eq!(f(&b, "cvss", 1), Some(2.1));
    assert_eq!(s(&b, "fixed_version", 1), None);
    assert!(b.column_by_name("known_exploited").unwrap().is_null(0));
    assert!(b.column_by_name("epss").unwrap().is_null(0));
}

#[test]
fn clean_report_yields_one_marker_row() {
    let b = decode(
        Scanner::Trivy,
        r#"{"SchemaVersion":2,"ArtifactName":"reg/app:2","CreatedAt":"2026-11-26T08:00:00Z","Results":[{"Target":"x","Class":"os-pkgs"}]}"#,
    )
    .unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(s(&b, "target", 0).as_deref(), Some("reg/app:2"));
    assert_eq!(s(&b, "cve", 0).as_deref(), Some(""));
    assert_eq!(s(&b, "severity", 0).as_deref(), Some("none"));
    let g = decode(
        Scanner::Grype,
        r#"{"matches":[],"source":{"type":"image","target":{"userInput":"reg/app:3"}}}"#,
    )
    .unwrap();
    assert_eq!(g.num_rows(), 1);
    assert_eq!(s(&g, "target", 0).as_deref(), Some("reg/app:3"));
}

/// Shaped like `grype alpine:3.10 -o json` (trimmed), with the EPSS and KEV
/// fields newer Grype versions add.
const GRYPE: &str = r#"{
  "matches": [
    {"vulnerability": {"id": "GHSA-xxxx-yyyy", "dataSource": "https://github.com/advisories/GHSA-xxxx-yyyy",
       "namespace": "github:language:go", "severity": "High",
       "cvss": [{"version": "2.0", "metrics": {"baseScore": 7.8}}, {"version": "3.1", "metrics": {"baseScore": 7.5}}, {"version": "3.0", "metrics": {"baseScore": 6.1}}],
       "fix": {"versions": ["0.17.0"], "state": "fixed"},
       "epss": [{"cve": "CVE-2023-1", "epss": 0.9731, "percentile": 0.998}],
       "knownExploited": [{"cve": "CVE-2023-1", "knownRansomwareCampaignUse": "Known"}]},
     "relatedVulnerabilities": [{"id": "CVE-2023-1"}],
     "artifact": {"name": "golang.org/x/net", "version": "v0.7.0", "type": "go-module", "purl": "pkg:golang/golang.org/x/net@v0.7.0"}},
    {"vulnerability": {"id": "CVE-2022-2", "severity": "Negligible", "fix": {"versions": [], "state": "not-fixed"}},
     "artifact": {"name": "zlib", "version": "1.2.11"}}
  ],
  "source": {"type": "image", "target": {"userInput": "registry.example/cart:2.0"}},
  "descriptor": {"name": "grype", "version": "0.74.0", "timestamp": "2026-11-26T08:30:00Z"}
}"#;

#[test]
fn grype_report_maps_cvss_epss_and_kev() {
    let b = decode(Scanner::Grype, GRYPE).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(
        s(&b, "target", 0).as_deref(),
        Some("registry.example/cart:2.0")
    );
    assert_eq!(s(&b, "cve", 0).as_deref(), Some("GHSA-xxxx-yyyy"));
    assert_eq!(s(&b, "severity", 0).as_deref(), Some("high"));
    // Highest v3 score, ignoring the higher v2 one.
    assert_eq!(f(&b, "cvss", 0), Some(7.5));
    assert_eq!(f(&b, "epss", 0), Some(0.9731));
    let kev = b.column_by_name("known_exploited").unwrap().as_boolean();
    assert!(kev.value(0));
    // No KEV field at all: unknown, not "not exploited".
    assert!(kev.is_null(1));
    assert_eq!(s(&b, "fixed_version", 0).as_deref(), Some("0.17.0"));
    assert_eq!(s(&b, "fixed_version", 1), None);
    assert_eq!(s(&b, "severity", 1).as_deref(), Some("negligible"));
}

#[test]
fn bad_reports_say_why() {
    for (scanner, input, reason) in [
        (
            Scanner::Trivy,
            r#"{"SchemaVersion":1,"Results":[]}"#,
            DecodeReason::InvalidValue,
        ),
        (Scanner::Trivy, r#"{"foo":1}"#, DecodeReason::MissingField),
        (
            Scanner::Trivy,
            r#"{"ArtifactName":"x","Results":{}}"#,
            DecodeReason::InvalidType,
        ),
        (
            Scanner::Trivy,
            r#"{"ArtifactName":"x","Results":[{"Vulnerabilities":[{"PkgName":"a"}]}]}"#,
            DecodeReason::MissingField,
        ),
        (
            Scanner::Grype,
            r#"{"source":{}}"#,
            DecodeReason::MissingField,
        ),
        (
            Scanner::Grype,
            r#"{"matches":[{"vulnerability":{"id":"CVE-1"}}]}"#,
            DecodeReason::MissingField,
        ),
        (Scanner::Grype, "{\"matches\":[", DecodeReason::InvalidJson),
    ] {
        let err = decode(scanner, input).unwrap_err();
        assert_eq!(err.reason, reason, "{input}: {err}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for scanner in [Scanner::Trivy, Scanner::Grype] {
            let d = ScanReportDecoder::new(DecodeLimits::default(), scanner);
            all_or_nothing(&d, &bytes, &lineage())?;
        }
    }
}
