//! Tokenisation and variable masking.
//!
//! Lines are split on ASCII whitespace. Each token is trimmed of surrounding
//! punctuation to a *core*; hand-written byte scanners classify the core (IP,
//! UUID, hex id, number, duration, path, e-mail, `key=value`, any token with
//! a digit). A masked core is replaced by `<*>` while the punctuation around
//! it is kept, so `(attempt 3)` becomes `(attempt <*>)`. No regex runs unless
//! the configuration adds user regexes.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::PatternError;

/// The wildcard written into templates in place of a variable.
pub const WILDCARD: &str = "<*>";

/// Which kinds of variable are masked before mining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskConfig {
    /// Dotted IPv4 addresses, with an optional `:port`.
    pub ipv4: bool,
    /// IPv6 addresses (hex groups with at least two colons).
    pub ipv6: bool,
    /// Canonical 8-4-4-4-12 UUIDs.
    pub uuid: bool,
    /// `0x`-prefixed hex, and hex runs of 8+ characters mixing digits and letters.
    pub hex: bool,
    /// Integers, decimals, signed and exponent forms.
    pub numbers: bool,
    /// A number followed by a time unit: `12ms`, `3.5s`, `1h30m`.
    pub durations: bool,
    /// Absolute or relative file paths, Windows paths and URLs.
    pub paths: bool,
    /// E-mail addresses.
    pub emails: bool,
    /// The value of a `key=value` token (the key stays part of the template).
    pub key_values: bool,
    /// Any remaining token with two or more ASCII digits, or whose digits
    /// make up half of it (ids like `blk_-42`, `core.2275`, `db-3:5432`).
    /// Such tokens are overwhelmingly variables. A lone digit inside a word
    /// (`ssh2`, `IPV4`, `wl0:`, `eth1`) is kept: it is usually part of a
    /// name, and when it is not, sibling merging makes it `<*>` later.
    pub digit_tokens: bool,
    /// Treat words with inner punctuation and no digits (`chrome.exe`,
    /// `yarn,curi`, `com.example.Foo`, `/var/www/`) as *soft*: they route
    /// like variables and, when they differ, do not count against a
    /// template's similarity; they stay in the template until contradicted.
    pub compound_words: bool,
    /// Extra regexes; every match in the raw line is replaced by `<*>`
    /// before tokenising. Each one costs a regex scan per line.
    pub extra_regexes: Vec<String>,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            ipv4: true,
            ipv6: true,
            uuid: true,
            hex: true,
            numbers: true,
            durations: true,
            paths: true,
            emails: true,
            key_values: true,
            digit_tokens: true,
            compound_words: true,
            extra_regexes: Vec::new(),
        }
    }
}

/// One token of a line: its span in the (possibly regex-rewritten) line and,
/// when masked, the span of the part replaced by `<*>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    /// Hash of the token as it appears in a template (after masking).
    pub hash: u64,
    /// True when the token is only a variable plus punctuation; such tokens
    /// route to the wildcard child and never count as constants.
    pub wild: bool,
    /// A compound word (see [`MaskConfig::compound_words`]).
    pub soft: bool,
    start: u32,
    end: u32,
    mask_start: u32,
    mask_end: u32,
    masked: bool,
}

impl Token {
    /// The token as it appears in a template.
    pub fn text(&self, line: &str) -> String {
        let (s, e) = (self.start as usize, self.end as usize);
        if !self.masked {
            return line[s..e].to_string();
        }
        let (ms, me) = (self.mask_start as usize, self.mask_end as usize);
        let mut out = String::with_capacity(e - s + 3);
        out.push_str(&line[s..ms]);
        out.push_str(WILDCARD);
        out.push_str(&line[me..e]);
        out
    }
}

/// FNV-1a, chosen because its output never changes between releases: token
/// hashes and pattern ids end up in checkpoints.
pub(crate) fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fast word-at-a-time hash of a token (8 bytes per multiply, where FNV
/// costs a multiply per byte). Hand-written so its output is fixed: leaf keys
/// derived from it are checkpointed.
pub(crate) fn token_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        let mut buf = [0u8; 8];
        buf[..r.len()].copy_from_slice(r);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
    }
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

/// The FNV-1a offset basis.
pub(crate) const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Compiled masking rules.
#[derive(Debug, Clone)]
pub(crate) struct Masker {
    cfg: MaskConfig,
    extra: Vec<Regex>,
    wild_hash: u64,
}

impl Masker {
    pub fn new(cfg: MaskConfig) -> Result<Self, PatternError> {
        let extra = cfg
            .extra_regexes
            .iter()
            .map(|r| Regex::new(r).map_err(|e| PatternError::Regex(r.clone(), e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Masker {
            cfg,
            extra,
            wild_hash: token_hash(WILDCARD.as_bytes()),
        })
    }

    /// Applies the user regexes; borrows the line when there are none.
    pub fn rewrite<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        let mut cur = std::borrow::Cow::Borrowed(line);
        for re in &self.extra {
            if let std::borrow::Cow::Owned(s) = re.replace_all(&cur, WILDCARD) {
                cur = std::borrow::Cow::Owned(s);
            }
        }
        cur
    }

    /// Splits `line` into tokens (at most `max_tokens`; the rest of the line
    /// collapses into one trailing wildcard token) and masks each one.
    pub fn tokenize(&self, line: &str, max_tokens: usize, out: &mut Vec<Token>) {
        out.clear();
        let b = line.as_bytes();
        let n = b.len();
        let mut i = 0;
        while i < n {
            while i < n && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= n {
                break;
            }
            let start = i;
            if out.len() + 1 >= max_tokens.max(1) {
                // Pathologically long lines: keep the head, fold the tail so
                // memory per template stays bounded.
                let mut end = n;
                while end > start && b[end - 1].is_ascii_whitespace() {
                    end -= 1;
                }
                out.push(self.token(line, start, end, None));
                return;
            }
            // Find the end and collect the byte classes in the same pass.
            let mut f = Flags::default();
            while i < n {
                let k = CLASS[b[i] as usize];
                if k & C_WS != 0 {
                    break;
                }
                f.bits |= k;
                f.digits += u32::from(k & C_DIGIT != 0);
                i += 1;
            }
            out.push(self.token(line, start, i, Some(f)));
        }
    }

    /// `flags` is `None` for the folded tail of an overlong line.
    fn token(&self, line: &str, start: usize, end: usize, flags: Option<Flags>) -> Token {
        let b = &line.as_bytes()[start..end];
        // Surrounding punctuation stays literal so `3),` keeps its `),`.
        let core = core_of(b);
        let cs = core.as_ptr() as usize - b.as_ptr() as usize;
        let ce = cs + core.len();
        let force_wild = flags.is_none();
        let f = flags.unwrap_or_default();
        let pre_masked = if f.has(C_LT) {
            b.windows(3).position(|w| w == WILDCARD.as_bytes())
        } else {
            None
        };
        let (mask, wild) = if force_wild {
            (Some((0, b.len())), true)
        } else if let Some(p) = pre_masked {
            // `<*>` written by a user regex (or present in the line already).
            let rest_is_punct = b[..p]
                .iter()
                .chain(&b[p + 3..])
                .all(|c| !c.is_ascii_alphanumeric());
            (Some((p, p + 3)), rest_is_punct)
        } else {
            self.classify(core, f)
                .map(|(ms, me, wild)| (Some((cs + ms, cs + me)), wild))
                .unwrap_or((None, false))
        };
        match mask {
            None => Token {
                hash: token_hash(b),
                wild: false,
                soft: self.cfg.compound_words && f.has(C_ALPHA) && is_compound(&b[cs..ce]),
                start: start as u32,
                end: end as u32,
                mask_start: 0,
                mask_end: 0,
                masked: false,
            },
            Some((ms, me)) => {
                // Hash the token as written in a template: prefix, `<*>`, suffix.
                let (pre, suf) = (&b[..ms], &b[me..]);
                let n = pre.len() + 3 + suf.len();
                let h = if n == 3 {
                    self.wild_hash
                } else if n <= 64 {
                    let mut buf = [0u8; 64];
                    buf[..pre.len()].copy_from_slice(pre);
                    buf[pre.len()..pre.len() + 3].copy_from_slice(WILDCARD.as_bytes());
                    buf[pre.len() + 3..n].copy_from_slice(suf);
                    token_hash(&buf[..n])
                } else {
                    token_hash(&[pre, WILDCARD.as_bytes(), suf].concat())
                };
                Token {
                    hash: h,
                    wild,
                    soft: false,
                    start: start as u32,
                    end: end as u32,
                    mask_start: (start + ms) as u32,
                    mask_end: (start + me) as u32,
                    masked: true,
                }
            }
        }
    }

    /// Returns the masked sub-span of `core` and whether the token is wholly
    /// variable, or `None` when the core is a constant.
    fn classify(&self, core: &[u8], f: Flags) -> Option<(usize, usize, bool)> {
        if core.is_empty() {
            return None;
        }
        let c = &self.cfg;
        if c.key_values
            && f.has(C_EQ)
            && let Some(eq) = kv_split(core)
        {
            return Some((eq + 1, core.len(), false));
        }
        let whole = Some((0, core.len(), true));
        let has_digit = f.has(C_DIGIT);
        let digits = f.digits as usize;
        if has_digit && c.digit_tokens && (digits >= 2 || digits * 2 >= core.len()) {
            // Settles almost every digit-bearing token without the checks below.
            return whole;
        }
        if (c.emails && f.has(C_AT) && is_email(core))
            || (c.paths && f.has(C_SEP) && is_path(core))
            || (c.hex && core.len() >= 8 && is_hex(core))
            || (has_digit
                && ((c.uuid && is_uuid(core))
                    || (c.ipv4 && is_ipv4(core))
                    || (c.numbers && is_number(core))
                    || (c.durations && is_duration(core))
                    || (c.ipv6 && is_ipv6(core))
                    || (c.hex && is_hex(core))))
        {
            return whole;
        }
        None
    }
}

/// What the tokenizer's scan saw in a token: the union of its byte classes
/// and its digit count, so a plain word is settled without any classifier.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flags {
    bits: u8,
    digits: u32,
}

impl Flags {
    fn has(self, class: u8) -> bool {
        self.bits & class != 0
    }
}

const C_WS: u8 = 1;
const C_DIGIT: u8 = 2;
const C_ALPHA: u8 = 4;
const C_LT: u8 = 8;
const C_EQ: u8 = 16;
const C_AT: u8 = 32;
const C_SEP: u8 = 64;

/// Byte classes: one table lookup per byte in the tokenizer's scan.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_whitespace() {
            C_WS
        } else if c.is_ascii_digit() {
            C_DIGIT
        } else if c.is_ascii_alphabetic() {
            C_ALPHA
        } else {
            match c {
                b'<' => C_LT,
                b'=' => C_EQ,
                b'@' => C_AT,
                b'/' | b'\\' | b'~' | b'.' => C_SEP,
                _ => 0,
            }
        };
        i += 1;
    }
    t
};

/// Trims the punctuation that may surround a word.
pub(crate) fn core_of(b: &[u8]) -> &[u8] {
    let mut cs = 0;
    while cs < b.len() && matches!(b[cs], b'(' | b'[' | b'{' | b'<' | b'"' | b'\'') {
        cs += 1;
    }
    let mut ce = b.len();
    while ce > cs
        && matches!(
            b[ce - 1],
            b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b',' | b';' | b':' | b'.' | b'!' | b'?'
        )
    {
        ce -= 1;
    }
    &b[cs..ce]
}

/// A word with punctuation inside (after trimming) and a letter, such as a
/// file, host, class or list name. Hyphens and underscores do not count:
/// `Back-off` and `LEADER_NOT_AVAILABLE` are plain words.
pub(crate) fn is_compound(core: &[u8]) -> bool {
    core.len() > 2
        && core.iter().any(u8::is_ascii_alphabetic)
        && core[1..core.len() - 1].iter().any(|c| {
            matches!(
                c,
                b'.' | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'('
                    | b')'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'\''
                    | b'"'
                    | b'\\'
                    | b'|'
                    | b'@'
                    | b'#'
                    | b'~'
                    | b'$'
                    | b'+'
                    | b'*'
            )
        })
}

/// Position of `=` in `key=value` when the key looks like an identifier and
/// the value is non-empty.
fn kv_split(core: &[u8]) -> Option<usize> {
    let eq = core.iter().position(|&b| b == b'=')?;
    if eq == 0 || eq + 1 >= core.len() || !core[0].is_ascii_alphabetic() {
        return None;
    }
    core[..eq]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .then_some(eq)
}

fn is_email(b: &[u8]) -> bool {
    let Some(at) = b.iter().position(|&c| c == b'@') else {
        return false;
    };
    at > 0
        && b[at + 1..].contains(&b'.')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'@' | b'.' | b'_' | b'-' | b'+'))
}

fn is_path(b: &[u8]) -> bool {
    let slash_path = (b[0] == b'/' || b.starts_with(b"./") || b.starts_with(b"~/"))
        && b.len() > 1
        && b[1..].iter().any(|&c| c.is_ascii_alphanumeric());
    let windows = b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\';
    let url = b
        .windows(3)
        .position(|w| w == b"://")
        .is_some_and(|p| p > 0 && b[..p].iter().all(u8::is_ascii_alphabetic));
    slash_path || windows || url
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn is_ipv4(b: &[u8]) -> bool {
    let (addr, port) = match b.iter().position(|&c| c == b':') {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    let groups = addr.split(|&c| c == b'.');
    let mut count = 0;
    for g in groups {
        count += 1;
        if g.is_empty() || g.len() > 3 || !g.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    count == 4 && port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
}

fn is_ipv6(b: &[u8]) -> bool {
    b.iter().filter(|&&c| c == b':').count() >= 2
        && b.iter()
            .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
}

fn is_hex(b: &[u8]) -> bool {
    if (b.starts_with(b"0x") || b.starts_with(b"0X")) && b.len() > 2 {
        return b[2..].iter().all(u8::is_ascii_hexdigit);
    }
    b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit)
}

/// Length of a leading decimal number (sign, digits, fraction, exponent).
fn number_prefix(b: &[u8]) -> usize {
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'-' | b'+') {
        i += 1;
    }
    let d0 = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == d0 {
        return 0;
    }
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i + 1 < b.len() && matches!(b[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < b.len() && matches!(b[j], b'-' | b'+') {
            j += 1;
        }
        let e0 = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > e0 {
            i = j;
        }
    }
    i
}

fn is_number(b: &[u8]) -> bool {
    let n = number_prefix(b);
    n > 0 && n == b.len()
}

fn is_duration(mut b: &[u8]) -> bool {
    let mut parts = 0;
    while !b.is_empty() {
        let n = number_prefix(b);
        if n == 0 {
            return false;
        }
        b = &b[n..];
        let u = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        if !matches!(
            &b[..u],
            b"ns" | b"us" | b"ms" | b"s" | b"m" | b"h" | b"d" | b"sec" | b"secs" | b"min" | b"mins"
        ) {
            return false;
        }
        b = &b[u..];
        parts += 1;
    }
    parts > 0
}

#[cfg(test)]
mod tests;
