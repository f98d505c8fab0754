//! Silences: time-bounded matcher sets that mute notifications, persisted as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SilenceError;
use crate::lifecycle::fnv64a;
use crate::matcher::{Labels, Matcher, all_match};

/// A silence. Active while `starts_at_ns <= now < ends_at_ns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Identifier (caller-supplied or derived deterministically from the content).
    pub id: String,
    /// All must match for an alert to be silenced.
    pub matchers: Vec<Matcher>,
    /// Start, ns since epoch.
    pub starts_at_ns: i64,
    /// End, ns since epoch (expiring sets it to the expiry time).
    pub ends_at_ns: i64,
    /// Author.
    pub created_by: String,
    /// Free text.
    pub comment: String,
}

/// Silence state at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SilenceState {
    /// Not started yet.
    Pending,
    /// In force.
    Active,
    /// Ended.
    Expired,
}

impl Silence {
    /// State at `now_ns`.
    pub fn state(&self, now_ns: i64) -> SilenceState {
        if now_ns < self.starts_at_ns {
            SilenceState::Pending
        } else if now_ns < self.ends_at_ns {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

/// The silence store. Serialises to JSON so the integrator can persist it across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silences {
    silences: BTreeMap<String, Silence>,
}

impl Silences {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates and stores a silence. An empty `id` is replaced by a deterministic one
    /// (hash of matchers, times and author), so replays create identical ids.
    /// Returns the id.
    pub fn create(&mut self, mut s: Silence) -> Result<String, SilenceError> {
        if s.matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        // Like Alertmanager: a silence whose matchers all accept "" would match every alert.
        if s.matchers.iter().all(|m| m.matches_value("")) {
            return Err(SilenceError::MatchesEverything);
        }
        if s.ends_at_ns <= s.starts_at_ns {
            return Err(SilenceError::EndsBeforeStart);
        }
        if s.id.is_empty() {
            let text = format!(
                "{}|{}|{}|{}|{}",
                s.matchers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                s.starts_at_ns,
                s.ends_at_ns,
                s.created_by,
                s.comment
            );
            s.id = format!("{:016x}", fnv64a(text.as_bytes()));
        }
        if self.silences.contains_key(&s.id) {
            return Err(SilenceError::Duplicate(s.id));
        }
        let id = s.id.clone();
        self.silences.insert(id.clone(), s);
        Ok(id)
    }

    /// All silences (any state), ordered by id.
    pub fn list(&self) -> Vec<&Silence> {
        self.silences.values().collect()
    }

    /// Silences in a given state at `now_ns`.
    pub fn list_in_state(&self, state: SilenceState, now_ns: i64) -> Vec<&Silence> {
        self.silences
            .values()
            .filter(|s| s.state(now_ns) == state)
            .collect()
    }

    /// Looks a silence up by id.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.silences.get(id)
    }

    /// Ends a silence at `now_ns` (a pending one is ended before it starts). Kept for listing.
    pub fn expire(&mut self, id: &str, now_ns: i64) -> Result<(), SilenceError> {
        let s = self
            .silences
            .get_mut(id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        match s.state(now_ns) {
            SilenceState::Expired => Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Pending => {
                s.ends_at_ns = s.starts_at_ns;
                Ok(())
            }
            SilenceState::Active => {
                s.ends_at_ns = now_ns;
                Ok(())
            }
        }
    }

    /// Drops silences that expired before `before_ns` (retention; Alertmanager keeps 5 days).
    pub fn gc(&mut self, before_ns: i64) {
        self.silences.retain(|_, s| s.ends_at_ns >= before_ns);
    }

    /// The id of the first active silence (by id order) matching `labels` at `now_ns`.
    pub fn is_silenced(&self, labels: &Labels, now_ns: i64) -> Option<&str> {
        self.silences
            .values()
            .find(|s| s.state(now_ns) == SilenceState::Active && all_match(&s.matchers, labels))
            .map(|s| s.id.as_str())
    }

    /// JSON text of the store (for persistence).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"silences\":{}}".to_string())
    }

    /// Restores a store from [`Silences::to_json`] output.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::parse_matchers;

    fn sil(m: &str, a: i64, b: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: parse_matchers(m).unwrap(),
            starts_at_ns: a,
            ends_at_ns: b,
            created_by: "ops".into(),
            comment: "maintenance".into(),
        }
    }

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_validate_match_expire() {
        let mut st = Silences::new();
        assert_eq!(
            st.create(sil("a=\"\"", 0, 10)),
            Err(SilenceError::MatchesEverything)
        );
        assert_eq!(
            st.create(sil("a=\"b\"", 10, 10)),
            Err(SilenceError::EndsBeforeStart)
        );
        let id = st.create(sil(r#"service=~"check.*""#, 100, 200)).unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(
            st.create(sil(r#"service=~"check.*""#, 100, 200)),
            Err(SilenceError::Duplicate(id.clone()))
        );
        let l = labels(&[("service", "checkout")]);
        assert_eq!(st.is_silenced(&l, 99), None);
        assert_eq!(st.is_silenced(&l, 100), Some(id.as_str()));
        assert_eq!(st.is_silenced(&labels(&[("service", "cart")]), 150), None);
        st.expire(&id, 150).unwrap();
        assert_eq!(st.is_silenced(&l, 150), None);
        assert_eq!(
            st.expire(&id, 160),
            Err(SilenceError::AlreadyExpired(id.clone()))
        );
        assert_eq!(st.list_in_state(SilenceState::Expired, 160).len(), 1);
        assert!(matches!(
            st.expire("nope", 0),
            Err(SilenceError::NotFound(_))
        ));
    }

    #[test]
    fn json_round_trip_survives_restart() {
        let mut st = Silences::new();
        let id = st
            .create(sil(r#"{team="db", severity!="info"}"#, 0, 1_000))
            .unwrap();
        let mut with_id = sil("x=\"y\"", 5, 50);
        with_id.id = "custom".into();
        st.create(with_id).unwrap();
        let text = st.to_json();
        let back = Silences::from_json(&text).unwrap();
        assert_eq!(back, st);
        let l = labels(&[("team", "db"), ("severity", "critical")]);
        assert_eq!(back.is_silenced(&l, 10), Some(id.as_str()));
        assert_eq!(back.get("custom").unwrap().ends_at_ns, 50);
    }
}
