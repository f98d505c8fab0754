//! Tests of the row builders.

use super::*;

fn lineage(offset: i64) -> Lineage<'static> {
    Lineage {
        topic: "t",
        partition: 0,
        offset,
        received_ns: 0,
    }
}

#[test]
fn every_builder_matches_its_catalog_schema() {
    let mut logs = LogsBuilder::new();
    logs.attributes.push_entry("k", "v");
    logs.push(
        &LogRow {
            ts: 1,
            service: Some("s"),
            host: None,
            env: None,
            version: None,
            level: "info",
            message: "m",
            trace_id: None,
        },
        &lineage(0),
    );
    assert_eq!(logs.finish().unwrap().num_rows(), 1);

    let mut metrics = TableBuilder::for_table(Table::Metrics).unwrap();
    assert_eq!(metrics.finish().unwrap().schema(), Table::Metrics.schema());
    let mut alerts = TableBuilder::for_table(Table::Alerts).unwrap();
    assert_eq!(alerts.finish().unwrap().schema(), Table::Alerts.schema());
    let mut dl = DeadLetterBuilder::new();
    dl.push(
        &DeadLetterRow {
            ts: 0,
            table: "logs",
            format: "json",
            reason: "invalid_json",
            error: "e",
            raw: b"\xff",
        },
        &lineage(3),
    );
    assert_eq!(dl.finish().unwrap().num_rows(), 1);
}

#[test]
fn truncate_drops_a_partial_message() {
    let mut b = TableBuilder::Logs(LogsBuilder::new());
    let TableBuilder::Logs(logs) = &mut b else {
        unreachable!()
    };
    let row = LogRow {
        ts: 5,
        service: None,
        host: None,
        env: None,
        version: None,
        level: "info",
        message: "kept",
        trace_id: None,
    };
    logs.push(&row, &lineage(0));
    logs.attributes.push_entry("half", "done");
    logs.push(
        &LogRow {
            message: "dropped",
            ..row
        },
        &lineage(1),
    );
    logs.attributes.push_entry("open", "entry");
    b.truncate(1);
    let batch = b.finish().unwrap();
    assert_eq!(batch.num_rows(), 1);
}
