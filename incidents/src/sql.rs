//! Evidence SQL for incident decisions.

use crate::types::{ChangeEvent, Incident};

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Member alerts between open and resolution (or open-ended), unioned with
/// the suspected change identified by its (ts, service, kind, version) since
/// the `changes` table has no id column.
pub(crate) fn evidence_sql(inc: &Incident, change: Option<&ChangeEvent>) -> String {
    let fps = if inc.member_fingerprints.is_empty() {
        "''".to_string()
    } else {
        inc.member_fingerprints
            .iter()
            .map(|f| quote(f))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let upper = match inc.resolved_at_ns {
        Some(r) => format!(" AND ts <= to_timestamp_nanos({r})"),
        None => String::new(),
    };
    let mut sql = format!(
        "SELECT 'alert' AS evidence, ts, service, alertname AS name, status AS detail, fingerprint \
         FROM alerts WHERE fingerprint IN ({fps}) AND ts >= to_timestamp_nanos({}){upper}",
        inc.opened_at_ns
    );
    if let Some(c) = change {
        sql.push_str(&format!(
            " UNION ALL SELECT 'change' AS evidence, ts, service, kind AS name, version AS detail, \
             CAST(NULL AS VARCHAR) AS fingerprint FROM changes WHERE ts = to_timestamp_nanos({}) \
             AND service = {} AND kind = {} AND version = {}",
            c.ts_ns,
            quote(&c.service),
            quote(&c.kind),
            quote(&c.version)
        ));
    }
    sql.push_str(" ORDER BY ts");
    sql
}
