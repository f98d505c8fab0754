//! Change events into the `changes` table, from three envelopes:
//!
//! - `json`: tocsin's own flat record (`ts`, `kind`, `service`, `env`,
//!   `version`, `actor`, `id`, `details`);
//! - `cloudevents`: CloudEvents 1.0 structured mode (one event or a batch
//!   array) with tocsin's types `dev.tocsin.change.<kind>`, and the CDEvents
//!   service events (`dev.cdevents.service.deployed|upgraded|rolledback`) that
//!   CD tools already emit;
//! - `github`: GitHub's `deployment_status` webhook.
//!
//! Every field the row has no column for goes to `details` (JSON), so nothing
//! a shipper sent is lost.

use serde_json::{Map, Value, json};

use super::document::{
    as_object, parse_document, required_str, str_at, text_at, time_at, type_name,
};
use super::json::wrong_builder;
use super::{DecodeError, DecodeReason, Decoder};
use crate::builders::{ChangeRow, Lineage, TableBuilder};
use crate::catalog::Table;

/// The change kinds of the `changes` table.
pub const CHANGE_KINDS: [&str; 6] = ["deploy", "rollback", "flag", "config", "migration", "infra"];

/// Which envelope a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// tocsin's flat JSON record, one per line.
    Json,
    /// CloudEvents 1.0 structured JSON.
    CloudEvents,
    /// GitHub `deployment_status` webhook.
    GitHub,
}

/// Decodes change events.
#[derive(Debug, Clone)]
pub struct ChangesDecoder {
    flavor: Flavor,
}

impl ChangesDecoder {
    /// A decoder of `flavor`.
    pub fn new(flavor: Flavor) -> Self {
        ChangesDecoder { flavor }
    }
}

/// A decoded change before it is pushed (owned: values come from several
/// places of the document).
#[derive(Debug, Default)]
struct Change {
    ts: Option<i64>,
    id: String,
    kind: String,
    service: Option<String>,
    env: Option<String>,
    version: Option<String>,
    actor: Option<String>,
    details: Map<String, Value>,
    source: String,
}

/// Maps the spellings in use onto the table's kinds.
fn normalize_kind(raw: &str) -> Option<&'static str> {
    let k = raw.trim().to_ascii_lowercase().replace('-', "_");
    Some(match k.as_str() {
        "deploy" | "deployment" | "release" | "deployed" | "upgraded" | "rollout" => "deploy",
        "rollback" | "rolledback" | "rolled_back" | "revert" => "rollback",
        "flag" | "feature_flag" | "flag_change" | "toggle" => "flag",
        "config" | "config_change" | "configuration" => "config",
        "migration" | "schema_migration" | "db_migration" => "migration",
        "infra" | "infrastructure" | "terraform" | "scaling" => "infra",
        _ => return None,
    })
}

fn unknown_kind(raw: &str) -> DecodeError {
    DecodeError::new(
        DecodeReason::InvalidValue,
        format!(
            "change kind `{raw}` is not one of {}",
            CHANGE_KINDS.join(", ")
        ),
    )
}

/// Moves the fields of `obj` not named in `taken` into `details`.
fn keep_rest(obj: &Map<String, Value>, taken: &[&str], details: &mut Map<String, Value>) {
    for (k, v) in obj {
        if !taken.contains(&k.as_str()) {
            details.insert(k.clone(), v.clone());
        }
    }
}

fn decode_json(doc: &Value) -> Result<Change, DecodeError> {
    let obj = as_object(doc, "a change event")?;
    let raw_kind = required_str(doc, "kind", "a change event")?;
    let kind = normalize_kind(raw_kind).ok_or_else(|| unknown_kind(raw_kind))?;
    let mut details = Map::new();
    match obj.get("details") {
        Some(Value::Object(d)) => details.extend(d.clone()),
        Some(Value::Null) | None => {}
        Some(other) => {
            details.insert("details".into(), other.clone());
        }
    }
    keep_rest(
        obj,
        &[
            "ts",
            "timestamp",
            "time",
            "id",
            "kind",
            "service",
            "env",
            "environment",
            "version",
            "actor",
            "details",
            "source",
        ],
        &mut details,
    );
    let ts = match time_at(doc, &["ts"])? {
        Some(t) => Some(t),
        None => time_at(doc, &["timestamp"])?.or(time_at(doc, &["time"])?),
    };
    Ok(Change {
        ts,
        id: text_at(doc, &["id"]).unwrap_or_default(),
        kind: kind.into(),
        service: str_at(doc, &["service"]).map(str::to_owned),
        env: str_at(doc, &["env"])
            .or(str_at(doc, &["environment"]))
            .map(str::to_owned),
        version: text_at(doc, &["version"]),
        actor: str_at(doc, &["actor"]).map(str::to_owned),
        details,
        source: str_at(doc, &["source"]).unwrap_or("json").to_owned(),
    })
}

/// tocsin's CloudEvents type prefix; the suffix is the change kind.
const TOCSIN_TYPE_PREFIX: &str = "dev.tocsin.change.";

fn cloudevent_kind(ty: &str) -> Option<&'static str> {
    if let Some(kind) = ty.strip_prefix(TOCSIN_TYPE_PREFIX) {
        return normalize_kind(kind);
    }
    // CDEvents: dev.cdevents.service.<predicate>.<spec version>
    let rest = ty.strip_prefix("dev.cdevents.service.")?;
    match rest.split('.').next()? {
        "deployed" | "upgraded" => Some("deploy"),
        "rolledback" => Some("rollback"),
        _ => None,
    }
}

fn decode_cloudevent(ev: &Value) -> Result<Change, DecodeError> {
    let obj = as_object(ev, "a CloudEvent")?;
    let spec = required_str(ev, "specversion", "a CloudEvent")?;
    if !spec.starts_with("1.") {
        return Err(DecodeError::new(
            DecodeReason::InvalidValue,
            format!("CloudEvents specversion `{spec}`; tocsin reads 1.x"),
        ));
    }
    let id = required_str(ev, "id", "a CloudEvent")?;
    let source = required_str(ev, "source", "a CloudEvent")?;
    let ty = required_str(ev, "type", "a CloudEvent")?;
    let kind = cloudevent_kind(ty).ok_or_else(|| {
        DecodeError::new(
            DecodeReason::InvalidValue,
            format!(
                "CloudEvent type `{ty}` is not a change; expected {TOCSIN_TYPE_PREFIX}<{}> or a CDEvents service event",
                CHANGE_KINDS.join("|")
            ),
        )
    })?;
    let data = match ev.get("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(d @ Value::Object(_)) => d.clone(),
        Some(other) => {
            return Err(DecodeError::new(
                DecodeReason::InvalidType,
                format!(
                    "CloudEvent `data` must be a JSON object, found {}",
                    type_name(other)
                ),
            ));
        }
    };
    let mut details = Map::new();
    keep_rest(
        obj,
        &[
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "data",
            "subject",
        ],
        &mut details,
    );
    // CDEvents put the service in `subject.id` and the environment and
    // artifact (a purl ending in `@<version>`) under `subject.content`.
    let cd_subject = data.get("subject");
    let cd_service = cd_subject.and_then(|s| str_at(s, &["id"]));
    let cd_env = cd_subject.and_then(|s| str_at(s, &["content", "environment", "id"]));
    let cd_version = cd_subject
        .and_then(|s| str_at(s, &["content", "artifactId"]))
        .and_then(|a| a.rsplit_once('@').map(|(_, v)| v));
    let data_obj = data.as_object().cloned().unwrap_or_default();
    keep_rest(
        &data_obj,
        &["service", "env", "environment", "version", "actor"],
        &mut details,
    );
    Ok(Change {
        ts: time_at(ev, &["time"])?,
        id: id.to_owned(),
        kind: kind.into(),
        service: str_at(&data, &["service"])
            .or(cd_service)
            .or(str_at(ev, &["subject"]))
            .map(str::to_owned),
        env: str_at(&data, &["env"])
            .or(str_at(&data, &["environment"]))
            .or(cd_env)
            .map(str::to_owned),
        version: text_at(&data, &["version"]).or(cd_version.map(str::to_owned)),
        actor: str_at(&data, &["actor"]).map(str::to_owned),
        details,
        source: source.to_owned(),
    })
}

fn decode_github(doc: &Value) -> Result<Change, DecodeError> {
    as_object(doc, "a GitHub webhook")?;
    let status = doc.get("deployment_status").ok_or_else(|| {
        DecodeError::new(
            DecodeReason::MissingField,
            "not a `deployment_status` webhook (no `deployment_status`)",
        )
    })?;
    let deployment = doc.get("deployment").ok_or_else(|| {
        DecodeError::new(DecodeReason::MissingField, "webhook has no `deployment`")
    })?;
    as_object(status, "`deployment_status`")?;
    as_object(deployment, "`deployment`")?;
    let state = required_str(status, "state", "`deployment_status`")?;
    let deployment_id = text_at(deployment, &["id"])
        .ok_or_else(|| DecodeError::new(DecodeReason::MissingField, "`deployment` has no `id`"))?;
    let status_id = text_at(status, &["id"]).unwrap_or_else(|| state.to_owned());
    let payload = deployment.get("payload").filter(|p| p.is_object());
    let task = str_at(deployment, &["task"]).unwrap_or("deploy");
    let is_rollback = task.contains("rollback")
        || payload
            .and_then(|p| p.get("rollback"))
            .and_then(Value::as_bool)
            == Some(true);
    let repo = str_at(doc, &["repository", "name"]);
    let ts = time_at(status, &["updated_at"])?.or(time_at(status, &["created_at"])?);
    let details = json!({
        "state": state,
        "task": task,
        "sha": str_at(deployment, &["sha"]),
        "ref": str_at(deployment, &["ref"]),
        "repository": str_at(doc, &["repository", "full_name"]),
        "description": str_at(status, &["description"]).or(str_at(deployment, &["description"])),
        "log_url": str_at(status, &["log_url"]).or(str_at(status, &["target_url"])),
        "environment_url": str_at(status, &["environment_url"]),
        "payload": payload,
    });
    Ok(Change {
        ts,
        id: format!("github-deployment-{deployment_id}-{status_id}"),
        kind: if is_rollback { "rollback" } else { "deploy" }.into(),
        service: payload
            .and_then(|p| str_at(p, &["service"]))
            .or(repo)
            .map(str::to_owned),
        env: str_at(status, &["environment"])
            .or(str_at(deployment, &["environment"]))
            .map(str::to_owned),
        version: payload
            .and_then(|p| text_at(p, &["version"]))
            .or(str_at(deployment, &["ref"]).map(str::to_owned)),
        actor: str_at(status, &["creator", "login"])
            .or(str_at(doc, &["sender", "login"]))
            .map(str::to_owned),
        details: details.as_object().cloned().unwrap_or_default(),
        source: "github".into(),
    })
}

/// An id for events that carry none: stable across replays of the same
/// message because it derives from where the message sits in its source.
fn derived_id(lineage: &Lineage<'_>, index: usize) -> String {
    format!(
        "{}-{}-{}-{index}",
        lineage.topic, lineage.partition, lineage.offset
    )
}

impl Decoder for ChangesDecoder {
    fn table(&self) -> Table {
        Table::Changes
    }

    fn format(&self) -> &'static str {
        match self.flavor {
            Flavor::Json => "json",
            Flavor::CloudEvents => "cloudevents",
            Flavor::GitHub => "github",
        }
    }

    fn whole_message(&self) -> bool {
        // Webhook bodies are often pretty-printed; tocsin's own JSON is one
        // record per line like the other `json` formats.
        self.flavor != Flavor::Json
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Changes(b) = out else {
            return Err(wrong_builder("changes"));
        };
        let doc = parse_document(record)?;
        let changes = match (self.flavor, &doc) {
            (Flavor::Json, _) => vec![decode_json(&doc)?],
            // The batch content mode is a JSON array of structured events.
            (Flavor::CloudEvents, Value::Array(events)) => {
                if events.is_empty() {
                    return Err(DecodeError::new(
                        DecodeReason::Empty,
                        "empty CloudEvents batch",
                    ));
                }
                events
                    .iter()
                    .map(decode_cloudevent)
                    .collect::<Result<_, _>>()?
            }
            (Flavor::CloudEvents, _) => vec![decode_cloudevent(&doc)?],
            (Flavor::GitHub, _) => vec![decode_github(&doc)?],
        };
        for (i, c) in changes.into_iter().enumerate() {
            let id = if c.id.is_empty() {
                derived_id(lineage, i)
            } else {
                c.id
            };
            let details = Value::Object(c.details).to_string();
            b.push(
                &ChangeRow {
                    ts: c.ts.unwrap_or(lineage.received_ns),
                    id: &id,
                    kind: &c.kind,
                    service: c.service.as_deref(),
                    env: c.env.as_deref(),
                    version: c.version.as_deref(),
                    actor: c.actor.as_deref(),
                    details: &details,
                    source: &c.source,
                },
                lineage,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
