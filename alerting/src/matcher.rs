//! Label matchers (`=`, `!=`, `=~`, `!~`) with Alertmanager's parsing and anchoring rules.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;

/// A label set: label name to value, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// The comparison a matcher performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`: the value equals.
    Equal,
    /// `!=`: the value differs.
    NotEqual,
    /// `=~`: the value matches the (fully anchored) regex.
    Regex,
    /// `!~`: the value does not match the (fully anchored) regex.
    NotRegex,
}

impl MatchOp {
    /// The operator as written in matcher syntax.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher. A missing label is treated as the empty string, as in Alertmanager.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Literal value or regex source (unanchored, as written).
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher, compiling regexes anchored at both ends like Alertmanager (`^(?:re)$`).
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, ConfigError> {
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| ConfigError::Regex(value.to_string(), e.to_string()))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// Whether `value` satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (&self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // Constructed only through `new`, which always compiles regex ops.
            _ => false,
        }
    }

    /// Whether the label set satisfies this matcher (absent label = empty value).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Parses a single matcher such as `foo="bar"`, `foo=~"a|b"` or `foo=bar`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let v = parse_matchers(s)?;
        match <[Matcher; 1]>::try_from(v) {
            Ok([m]) => Ok(m),
            Err(_) => Err(merr(s, "expected exactly one matcher")),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op.as_str())?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// True when every matcher matches the label set (an empty list matches everything).
pub fn all_match(ms: &[Matcher], labels: &Labels) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

/// Formats a matcher list in brace form, `{a="b", c=~"d"}`.
pub fn display_matchers(ms: &[Matcher]) -> String {
    let inner: Vec<String> = ms.iter().map(ToString::to_string).collect();
    format!("{{{}}}", inner.join(", "))
}

fn merr(input: &str, reason: &str) -> ConfigError {
    ConfigError::Matcher {
        input: input.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses a matcher list in Alertmanager's syntax: optionally wrapped in braces,
/// comma separated, values quoted (with `\"`, `\\`, `\n` escapes) or bare.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, ConfigError> {
    let mut s = input.trim();
    if let Some(rest) = s.strip_prefix('{') {
        s = rest
            .strip_suffix('}')
            .ok_or_else(|| merr(input, "missing closing brace"))?
            .trim();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let ns = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
        {
            i += 1;
        }
        let name: String = chars[ns..i].iter().collect();
        if name.is_empty() {
            return Err(merr(input, "expected label name"));
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let op = if two == "=~" {
            i += 2;
            MatchOp::Regex
        } else if two == "!~" {
            i += 2;
            MatchOp::NotRegex
        } else if two == "!=" {
            i += 2;
            MatchOp::NotEqual
        } else if chars.get(i) == Some(&'=') {
            i += 1;
            MatchOp::Equal
        } else {
            return Err(merr(input, "expected operator"));
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                match chars[i] {
                    '\\' => {
                        let c = *chars
                            .get(i + 1)
                            .ok_or_else(|| merr(input, "dangling escape"))?;
                        value.push(if c == 'n' { '\n' } else { c });
                        i += 2;
                    }
                    '"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(merr(input, "unterminated quoted value"));
            }
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
        } else {
            // Bare values run to the next comma; Alertmanager trims surrounding spaces.
            let vs = i;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            value = chars[vs..i].iter().collect::<String>().trim().to_string();
        }
        out.push(Matcher::new(&name, op, &value)?);
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(_) => return Err(merr(input, "expected comma")),
        }
    }
    if out.is_empty() {
        return Err(merr(input, "no matchers"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_all_forms() {
        let m = parse_matchers(r#"{a="b", c!="d", e=~"x|y" , f!~z.*}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].op, MatchOp::Equal);
        assert_eq!(m[1].op, MatchOp::NotEqual);
        assert_eq!(m[2].op, MatchOp::Regex);
        assert_eq!(m[3].op, MatchOp::NotRegex);
        assert_eq!(m[3].value, "z.*");
        let bare = Matcher::parse("severity=critical").unwrap();
        assert_eq!(bare.value, "critical");
        let esc = Matcher::parse(r#"msg="say \"hi\"\\""#).unwrap();
        assert_eq!(esc.value, "say \"hi\"\\");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "{a=\"b\"",
            "=x",
            "a",
            "a=\"b",
            "a=\"b\" c=\"d\"",
            "a=~\"(\"",
        ] {
            assert!(parse_matchers(s).is_err(), "{s}");
        }
    }

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::parse(r#"service=~"check""#).unwrap();
        assert!(m.matches(&labels(&[("service", "check")])));
        assert!(!m.matches(&labels(&[("service", "checkout")])));
        let m = Matcher::parse(r#"service=~"a|b""#).unwrap();
        assert!(m.matches(&labels(&[("service", "b")])));
        assert!(!m.matches(&labels(&[("service", "ab")])));
        let n = Matcher::parse(r#"service!~"a|b""#).unwrap();
        assert!(n.matches(&labels(&[("service", "ab")])));
    }

    #[test]
    fn missing_label_is_empty() {
        let m = Matcher::parse(r#"team="""#).unwrap();
        assert!(m.matches(&labels(&[])));
        let ne = Matcher::parse(r#"team!="x""#).unwrap();
        assert!(ne.matches(&labels(&[])));
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            name in "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
            op in 0usize..4,
            value in "[ -~\n]{0,20}",
        ) {
            let op = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::Regex, MatchOp::NotRegex][op];
            // Random text is not always a valid regex; only valid matchers must round-trip.
            if let Ok(m) = Matcher::new(&name, op, &value) {
                let back = Matcher::parse(&m.to_string()).unwrap();
                prop_assert_eq!(back, m);
            }
        }
    }
}
