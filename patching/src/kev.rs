//! Known-exploited vulnerability lists: the CISA KEV catalog (JSON) and a
//! plain text list operators maintain themselves.

use std::collections::HashMap;

use serde::Deserialize;

/// Why a KEV list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KevError {
    /// Not JSON, or JSON of the wrong shape (serde names line and column).
    #[error("KEV catalog is not valid JSON of the CISA format: {0}")]
    Json(#[from] serde_json::Error),
    /// An entry of `vulnerabilities` without a usable `cveID`.
    #[error("KEV catalog entry #{index} has no valid cveID (found {found:?})")]
    EntryWithoutCve {
        /// Zero-based position in `vulnerabilities`.
        index: usize,
        /// What the entry held instead.
        found: Option<String>,
    },
    /// A text-list line that is not one vulnerability id.
    #[error(
        "KEV list line {line}: {text:?} is not a vulnerability id (expected e.g. CVE-2021-44228)"
    )]
    BadLine {
        /// One-based line number.
        line: usize,
        /// The line, trimmed.
        text: String,
    },
}

/// What the catalog says about one exploited vulnerability (all optional:
/// operator lists carry none of it, and CISA's fields vary by version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KevEntry {
    /// `vendorProject`.
    pub vendor_project: Option<String>,
    /// `product`.
    pub product: Option<String>,
    /// `vulnerabilityName`.
    pub name: Option<String>,
    /// `dateAdded` (YYYY-MM-DD as published).
    pub date_added: Option<String>,
    /// `dueDate`: CISA's remediation date for federal agencies.
    pub due_date: Option<String>,
    /// `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
}

/// A set of known-exploited vulnerability ids, looked up case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Kev {
    entries: HashMap<String, KevEntry>,
    /// `catalogVersion` of a CISA catalog, `None` for text lists.
    pub catalog_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    catalog_version: Option<String>,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: Option<String>,
    vendor_project: Option<String>,
    product: Option<String>,
    vulnerability_name: Option<String>,
    date_added: Option<String>,
    due_date: Option<String>,
    known_ransomware_campaign_use: Option<String>,
}

/// Ids look like `CVE-2021-44228` or `GHSA-xxxx-xxxx-xxxx`: a letter prefix,
/// a dash, then letters, digits and dashes.
fn valid_id(id: &str) -> bool {
    let Some((prefix, rest)) = id.split_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_alphabetic())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Kev {
    /// Reads either format: a document starting with `{` is the CISA JSON
    /// catalog, anything else a text list.
    pub fn parse(text: &str) -> Result<Self, KevError> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_text(text)
        }
    }

    /// Reads the CISA KEV catalog JSON. Only `vulnerabilities[].cveID` is
    /// required; every other field may be missing or null.
    pub fn from_json(text: &str) -> Result<Self, KevError> {
        let raw: RawCatalog = serde_json::from_str(text)?;
        let mut entries = HashMap::with_capacity(raw.vulnerabilities.len());
        for (index, e) in raw.vulnerabilities.into_iter().enumerate() {
            let id = match e.cve_id.as_deref().map(str::trim) {
                Some(id) if valid_id(id) => id.to_ascii_uppercase(),
                other => {
                    return Err(KevError::EntryWithoutCve {
                        index,
                        found: other.map(str::to_string),
                    });
                }
            };
            let ransomware = e
                .known_ransomware_campaign_use
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("known"));
            entries.insert(
                id,
                KevEntry {
                    vendor_project: e.vendor_project,
                    product: e.product,
                    name: e.vulnerability_name,
                    date_added: e.date_added,
                    due_date: e.due_date,
                    ransomware,
                },
            );
        }
        Ok(Kev {
            entries,
            catalog_version: raw.catalog_version,
        })
    }

    /// Reads one id per line; blank lines and `#` comments (whole-line or
    /// trailing) are ignored.
    pub fn from_text(text: &str) -> Result<Self, KevError> {
        let mut entries = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let body = line.split_once('#').map_or(line, |(b, _)| b).trim();
            if body.is_empty() {
                continue;
            }
            if !valid_id(body) {
                return Err(KevError::BadLine {
                    line: i + 1,
                    text: line.trim().to_string(),
                });
            }
            entries.insert(body.to_ascii_uppercase(), KevEntry::default());
        }
        Ok(Kev {
            entries,
            catalog_version: None,
        })
    }

    /// A list built from ids (tests and generators).
    pub fn from_ids<I: IntoIterator<Item = S>, S: AsRef<str>>(ids: I) -> Self {
        Kev {
            entries: ids
                .into_iter()
                .map(|s| (s.as_ref().trim().to_ascii_uppercase(), KevEntry::default()))
                .collect(),
            catalog_version: None,
        }
    }

    /// The entry for `id`, if it is known exploited.
    pub fn get(&self, id: &str) -> Option<&KevEntry> {
        if self.entries.is_empty() {
            return None;
        }
        // Scanners print ids upper-case; only allocate for the odd one out.
        if id.bytes().any(|b| b.is_ascii_lowercase()) {
            self.entries.get(&id.to_ascii_uppercase())
        } else {
            self.entries.get(id)
        }
    }

    /// Whether `id` is on the list.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"{
      "title": "CISA Catalog of Known Exploited Vulnerabilities",
      "catalogVersion": "2024.06.01",
      "dateReleased": "2024-06-01T12:00:00.000Z",
      "count": 2,
      "vulnerabilities": [
        {"cveID": "CVE-2021-44228", "vendorProject": "Apache", "product": "Log4j2",
         "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
         "dateAdded": "2021-12-10", "shortDescription": "JNDI features ...",
         "requiredAction": "Apply updates", "dueDate": "2021-12-24",
         "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-20"]},
        {"cveID": "cve-2023-4863"}
      ]
    }"#;

    #[test]
    fn cisa_catalog_with_optional_fields_missing() {
        let k = Kev::parse(CATALOG).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k.catalog_version.as_deref(), Some("2024.06.01"));
        let e = k.get("CVE-2021-44228").unwrap();
        assert!(e.ransomware);
        assert_eq!(e.due_date.as_deref(), Some("2021-12-24"));
        assert_eq!(e.product.as_deref(), Some("Log4j2"));
        assert!(k.contains("CVE-2023-4863"));
        assert!(k.contains("cve-2021-44228"));
        assert!(!k.contains("CVE-2020-0001"));
        assert!(!k.get("CVE-2023-4863").unwrap().ransomware);
    }

    #[test]
    fn text_list_with_comments() {
        let k = Kev::parse("# our list\n\nCVE-2024-3094  # xz\n ghsa-abcd-efgh-ijkl\n").unwrap();
        assert_eq!(k.len(), 2);
        assert!(k.contains("CVE-2024-3094"));
        assert!(k.contains("GHSA-abcd-efgh-ijkl"));
        assert!(k.catalog_version.is_none());
    }

    #[test]
    fn malformed_inputs_say_what_is_wrong() {
        let e = Kev::parse("{\"vulnerabilities\": [").unwrap_err();
        assert!(matches!(e, KevError::Json(_)), "{e}");
        let e = Kev::parse(r#"{"title": "x"}"#).unwrap_err();
        assert!(e.to_string().contains("vulnerabilities"), "{e}");
        let e = Kev::parse(r#"{"vulnerabilities": [{"cveID": "CVE-1-1"}, {"product": "x"}]}"#)
            .unwrap_err();
        assert!(
            matches!(
                e,
                KevError::EntryWithoutCve {
                    index: 1,
                    found: None
                }
            ),
            "{e}"
        );
        let e = Kev::parse(r#"{"vulnerabilities": [{"cveID": 7}]}"#).unwrap_err();
        assert!(matches!(e, KevError::Json(_)), "{e}");
        let e = Kev::parse("CVE-2024-1\nnot an id\n").unwrap_err();
        assert!(matches!(e, KevError::BadLine { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("line 2"));
    }
}
