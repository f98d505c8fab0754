//! Over a real broker, records produced by confluent-kafka exactly as
//! Telegraf (Influx line protocol), Filebeat (ECS JSON), rsyslog (RFC 5424)
//! and a CD tool (CloudEvents) write them, each topic with its format,
//! land in their tables with the right columns.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipper_formats_over_kafka() {
    let python = test_python();
    let dir = TestDir::new("shipper-formats");
    let tansu = Tansu::start(
        dir.path(),
        &[
            ("telegraf", 1),
            ("filebeat", 1),
            ("rsyslog", 1),
            ("changes", 1),
            ("tocsin.decisions", 1),
            ("tocsin.deadletter", 1),
        ],
    )
    .await;
    let topics = [
        ("telegraf", "metrics", "influx"),
        ("filebeat", "logs", "filebeat"),
        ("rsyslog", "logs", "syslog"),
        ("changes", "changes", "cloudevents"),
    ];
    let mut config = format!(
        "[pipeline]\nflush_interval = \"1s\"\nbatch_linger = \"200ms\"\n\n[kafka]\nbrokers = \"{}\"\ngroup_id = \"tocsin-shippers\"\n",
        tansu.addr
    );
    for (name, table, format) in topics {
        config.push_str(&format!(
            "\n[[kafka.topics]]\nname = \"{name}\"\ntable = \"{table}\"\nformat = \"{format}\"\n"
        ));
    }
    let tocsin = Tocsin::start_with(dir.path(), &config).await;
    let count = 10;
    let out = Command::new(&python)
        .arg(repo_path("tests/python/produce_formats.py"))
        .args(["--brokers", &tansu.addr])
        .args(["--now-ms", &(now_ns() / 1_000_000).to_string()])
        .args(["--count", &count.to_string()])
        .output()
        .expect("running produce_formats.py");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let ask = |sql: &'static str, want: i64| {
        let tocsin = &tocsin;
        async move {
            wait_for(
                sql,
                Duration::from_secs(60),
                Duration::from_millis(500),
                || async {
                    let n = tocsin.sql_ints(sql).await?;
                    if n == [want] {
                        Ok(())
                    } else {
                        Err(format!("{n:?}"))
                    }
                },
            )
            .await
        }
    };
    // Telegraf: three fields per line, three rows, tags as labels/columns.
    ask(
        "SELECT count(*) FROM metrics WHERE _topic = 'telegraf'",
        3 * count,
    )
    .await;
    ask("SELECT count(*) FROM metrics WHERE name = 'cpu_usage_user' AND host IN ('web-0', 'web-1') AND labels['cpu'] = 'cpu-total' AND kind = 'gauge'", count).await;
    ask(
        "SELECT CAST(max(value) * 10 AS BIGINT) FROM metrics WHERE name = 'cpu_usage_user'",
        195,
    )
    .await;
    // Filebeat: ECS fields in columns, the rest flattened into attributes.
    ask("SELECT count(*) FROM logs WHERE _topic = 'filebeat' AND service = 'cart' AND version = '2.3.1' AND host = 'web-1'", count).await;
    ask("SELECT count(*) FROM logs WHERE _topic = 'filebeat' AND level = 'error' AND attributes['agent.type'] = 'filebeat' AND attributes['log.file.path'] = '/var/log/app/app.log'", count / 2).await;
    // rsyslog: RFC 5424 header fields.
    ask("SELECT count(*) FROM logs WHERE _topic = 'rsyslog' AND service = 'postgres' AND host = 'db-1' AND level = 'error' AND message LIKE 'connection to replica lost%'", count).await;
    // CloudEvents: one deploy of cart 2.3.1.
    ask("SELECT count(*) FROM changes WHERE kind = 'deploy' AND service = 'cart' AND version = '2.3.1' AND env = 'prod'", 1).await;
    // Nothing was refused.
    ask("SELECT count(*) FROM deadletter", 0).await;
}
