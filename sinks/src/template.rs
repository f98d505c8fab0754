//! Per-sink text templates (MiniJinja) rendered over a decision.
//!
//! The context is the decision as its JSON form (`kind`, `action`, `target`,
//! `severity`, `reason`, `evidence`, `evidence_sql`, `dedup_key`, `ts`,
//! `confidence`, `processor`, `id`), so
//! `"{{ severity|upper }} {{ kind }} on {{ target }}: {{ reason }}"` works.
//! Undefined names are an error at render time, which turns a typo in a
//! template into a parked decision with a clear reason instead of an empty
//! page.

use minijinja::{Environment, UndefinedBehavior};

use crate::delivery::DeliveryError;
use tocsin_processors::Decision;

/// A template could not be compiled (at start-up, from configuration).
#[derive(Debug, thiserror::Error)]
#[error("template `{source_text}`: {error}")]
pub struct TemplateError {
    /// The template's text.
    pub source_text: String,
    /// What MiniJinja said.
    pub error: String,
}

/// One compiled template.
#[derive(Debug)]
pub struct Template {
    env: Environment<'static>,
}

const NAME: &str = "t";

impl Template {
    /// Compiles `source`; errors name the template.
    pub fn new(source: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| TemplateError {
                source_text: source.to_owned(),
                error: e.to_string(),
            })?;
        Ok(Template { env })
    }

    /// Renders over `decision`. A failure is permanent: the same decision
    /// would fail again.
    pub fn render(&self, decision: &Decision) -> Result<String, DeliveryError> {
        let tmpl = self
            .env
            .get_template(NAME)
            .map_err(|e| DeliveryError::Permanent {
                reason: format!("template: {e}"),
            })?;
        tmpl.render(minijinja::Value::from_serialize(decision))
            .map_err(|e| DeliveryError::Permanent {
                reason: format!("template: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn decision() -> Decision {
        serde_json::from_value(serde_json::json!({
            "ts": "2026-11-26T08:30:00Z", "id": "k#open", "kind": "incident", "action": "open",
            "target": "checkout", "severity": "critical", "reason": "error rate 12%",
            "evidence": {"error_rate": 0.12, "labels": {"team": "payments"}},
            "evidence_sql": "SELECT 1", "dedup_key": "k", "confidence": 0.9, "processor": "p"
        }))
        .unwrap()
    }

    #[test]
    fn renders_fields_and_evidence() {
        let t = Template::new(
            "{{ severity|upper }} {{ kind }} on {{ target }} ({{ evidence.labels.team }})",
        )
        .unwrap();
        assert_eq!(
            t.render(&decision()).unwrap(),
            "CRITICAL incident on checkout (payments)"
        );
    }

    #[test]
    fn typos_fail_clearly() {
        assert!(Template::new("{{ unclosed").is_err());
        let t = Template::new("{{ nosuchfield }}").unwrap();
        assert!(matches!(
            t.render(&decision()),
            Err(DeliveryError::Permanent { .. })
        ));
    }
}
