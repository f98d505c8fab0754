//! HMAC-SHA256 request signing against tampering and replay.
//!
//! The sender computes `hex(hmac_sha256(secret, "<timestamp>.<body>"))` and
//! sends it as `X-Tocsin-Signature: v1=<hex>` next to
//! `X-Tocsin-Timestamp: <unix seconds>`. Binding the timestamp into the MAC
//! lets a receiver reject a captured request replayed later; the `v1=`
//! prefix leaves room for another scheme without breaking receivers.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header carrying the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Tocsin-Timestamp";
/// Header carrying `v1=<hex hmac>`.
pub const SIGNATURE_HEADER: &str = "X-Tocsin-Signature";
/// Header carrying the decision id, for receivers to deduplicate on.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// How far a timestamp may be from the receiver's clock (either way).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp header is not an integer.
    #[error("malformed timestamp header")]
    MalformedTimestamp,
    /// The signature header has no well-formed `v1=<64 hex>` value.
    #[error("malformed signature header")]
    MalformedSignature,
    /// The timestamp is older than the tolerance (a replay, or a very late
    /// delivery).
    #[error("timestamp too old ({age_secs} s)")]
    Stale {
        /// Seconds between the timestamp and now.
        age_secs: i64,
    },
    /// The timestamp is further in the future than the tolerance.
    #[error("timestamp in the future ({ahead_secs} s)")]
    Future {
        /// Seconds the timestamp is ahead of now.
        ahead_secs: i64,
    },
    /// No signature matches the body (tampered, or another secret).
    #[error("signature mismatch")]
    Mismatch,
}

/// A keyed signer; keeps the HMAC key schedule so each signature only hashes
/// the message.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha256,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer for `secret` (HMAC accepts keys of any length).
    pub fn new(secret: &[u8]) -> Self {
        let mac = match HmacSha256::new_from_slice(secret) {
            Ok(m) => m,
            // HMAC hashes over-long keys and pads short ones, so no length
            // is invalid; this arm only satisfies the generic signature.
            Err(_) => unreachable!("HMAC accepts any key length"),
        };
        Signer { mac }
    }

    /// `v1=<hex hmac_sha256(secret, "<timestamp>.<body>")>`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        let mut ts = itoa_buf(timestamp);
        ts.push(b'.');
        mac.update(&ts);
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(3 + 64);
        out.push_str("v1=");
        out.push_str(&hex::encode(tag));
        out
    }
}

fn itoa_buf(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// Signs `body` at `timestamp` (Unix seconds): the `X-Tocsin-Signature` value.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    Signer::new(secret).sign(timestamp, body)
}

/// Verifies a request signed by tocsin; for receivers.
///
/// `timestamp_header` and `signature_header` are the raw values of
/// `X-Tocsin-Timestamp` and `X-Tocsin-Signature`, `body` the raw request
/// bytes, `now_unix` the receiver's clock. Timestamps further than
/// `tolerance` from `now_unix` in either direction are refused before the
/// MAC is checked; the comparison itself is constant-time.
pub fn verify_signature(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let ts_text = timestamp_header.trim();
    if ts_text.is_empty() || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now_unix.saturating_sub(ts);
    if age > tol {
        return Err(SignatureError::Stale { age_secs: age });
    }
    if -age > tol {
        return Err(SignatureError::Future { ahead_secs: -age });
    }
    let tags: Vec<Vec<u8>> = signature_header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|h| hex::decode(h).ok())
        .filter(|t| t.len() == 32)
        .collect();
    if tags.is_empty() {
        return Err(SignatureError::MalformedSignature);
    }
    let signer = Signer::new(secret);
    let mut matched = false;
    for tag in &tags {
        let mut mac = signer.mac.clone();
        mac.update(ts_text.as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time; every candidate is checked
        // so timing does not reveal which one matched.
        matched |= mac.verify_slice(tag).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8] = b"s3cret";
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn known_vector() {
        // Independent reference: printf '1700000000.hello' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign(b"key", 1_700_000_000, b"hello"),
            "v1=4d583a269f4f276a3fa80ff31b5a01879a848096983222a17893d198418939aa"
        );
    }

    #[test]
    fn good_signature_verifies() {
        let sig = sign(S, NOW, b"{\"a\":1}");
        assert_eq!(
            verify_signature(
                S,
                &NOW.to_string(),
                &sig,
                b"{\"a\":1}",
                NOW + 5,
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
        // Rotation: several values, one right.
        let both = format!("v1={}, {sig}", "00".repeat(32));
        assert_eq!(
            verify_signature(
                S,
                &NOW.to_string(),
                &both,
                b"{\"a\":1}",
                NOW,
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
    }

    #[test]
    fn tampered_body_or_other_secret_fails() {
        let sig = sign(S, NOW, b"{\"a\":1}");
        let ts = NOW.to_string();
        assert_eq!(
            verify_signature(S, &ts, &sig, b"{\"a\":2}", NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", &ts, &sig, b"{\"a\":1}", NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // Moving the timestamp breaks the MAC even inside the tolerance.
        let ts2 = (NOW + 1).to_string();
        assert_eq!(
            verify_signature(S, &ts2, &sig, b"{\"a\":1}", NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let old = NOW - 301;
        let sig = sign(S, old, b"x");
        assert_eq!(
            verify_signature(S, &old.to_string(), &sig, b"x", NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Stale { age_secs: 301 })
        );
        let edge = NOW - 300;
        assert!(
            verify_signature(
                S,
                &edge.to_string(),
                &sign(S, edge, b"x"),
                b"x",
                NOW,
                DEFAULT_TOLERANCE
            )
            .is_ok()
        );
        let fut = NOW + 400;
        assert_eq!(
            verify_signature(
                S,
                &fut.to_string(),
                &sign(S, fut, b"x"),
                b"x",
                NOW,
                DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Future { ahead_secs: 400 })
        );
        assert!(
            verify_signature(
                S,
                &fut.to_string(),
                &sign(S, fut, b"x"),
                b"x",
                NOW,
                Duration::from_secs(500)
            )
            .is_ok()
        );
    }

    #[test]
    fn malformed_headers_fail() {
        let sig = sign(S, NOW, b"x");
        let ts = NOW.to_string();
        for bad_ts in ["", "abc", "-5", "1.5", "99999999999999999999999"] {
            assert_eq!(
                verify_signature(S, bad_ts, &sig, b"x", NOW, DEFAULT_TOLERANCE),
                Err(SignatureError::MalformedTimestamp),
                "{bad_ts}"
            );
        }
        for bad_sig in ["", "v2=abcd", "v1=zz", "v1=abcd", &sig[3..]] {
            assert_eq!(
                verify_signature(S, &ts, bad_sig, b"x", NOW, DEFAULT_TOLERANCE),
                Err(SignatureError::MalformedSignature),
                "{bad_sig}"
            );
        }
    }
}
