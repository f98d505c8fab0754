use std::collections::BTreeMap;

/// FNV-1a 64-bit over bytes. Hand-written because ids and dedup keys must stay
/// stable across Rust releases, which `DefaultHasher` does not promise.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator keeps ("ab","c") and ("a","bc") apart.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Alertmanager-style fingerprint of a label set: a hash of the sorted pairs,
/// as 16 hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(labels.len() * 2);
    for (k, v) in labels {
        parts.push(k.as_bytes());
        parts.push(v.as_bytes());
    }
    format!("{:016x}", fnv1a64(&parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_pairs_not_order() {
        let mut a = BTreeMap::new();
        a.insert("x".to_string(), "1".to_string());
        a.insert("y".to_string(), "2".to_string());
        let mut b = BTreeMap::new();
        b.insert("y".to_string(), "2".to_string());
        b.insert("x".to_string(), "1".to_string());
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.insert("x".to_string(), "12".to_string());
        b.remove("y");
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fnv1a64(&[b"ab", b"c"]), fnv1a64(&[b"a", b"bc"]));
    }
}
