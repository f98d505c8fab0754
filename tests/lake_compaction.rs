//! The running binary compacts the small files its flushes leave in a
//! finished hour into one, without losing or doubling a row, and the
//! result survives a restart.

mod common;

use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
[pipeline]
flush_interval = "1s"

[simulator]
enabled = false

[sinks.console]
enabled = false

[lake]
check_every = "1s"

[lake.compaction]
min_age = "0s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_of_a_finished_hour_are_merged() {
    let dir = TestDir::new("compaction");
    // Compaction off at first, so the small files can be counted.
    let off = CONFIG.replace("min_age = \"0s\"", "enabled = false");
    let mut tocsin = Tocsin::start_with(dir.path(), &off).await;
    // Two hours ago, well inside one finished hour.
    let hour_ns = 3_600_000_000_000;
    let base = (now_ns() / hour_ns - 2) * hour_ns + 60_000_000_000;
    let mut sent = 0;
    for request in 0..5 {
        let body: String = (0..20)
            .map(|i| {
                let ts = base + (request * 20 + i) * 1_000_000_000;
                format!(
                    "{{\"ts\":\"{}\",\"service\":\"svc-{}\",\"level\":\"info\",\"message\":\"line {request}/{i}\"}}\n",
                    rfc3339(ts),
                    i % 3
                )
            })
            .collect();
        let (status, report) = tocsin.post("/v1/ingest/logs", &body).await.unwrap();
        assert_eq!(status, 200, "{report}");
        sent += 20;
    }
    let before = lake_segments(&tocsin.data_dir, "logs");
    assert!(
        before.len() >= 5,
        "one file per durable request: {before:?}"
    );
    tocsin.terminate();

    // Restarted with compaction on: the five files become one.
    let config = dir.path().join("tocsin.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&off));
    std::fs::write(&config, text.replace(&off, CONFIG)).unwrap();
    tocsin.start().await;
    let data_dir = tocsin.data_dir.clone();
    let after = wait_for(
        "the hour's files merged",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || async {
            let segs = lake_segments(&data_dir, "logs");
            if segs.len() == 1 {
                Ok(segs)
            } else {
                Err(format!("{segs:?}"))
            }
        },
    )
    .await;
    let (first, last) = (before[0].2, before[before.len() - 1].3);
    assert_eq!(
        (after[0].2, after[0].3),
        (first, last),
        "named by the range it covers"
    );
    let n = tocsin
        .sql_ints("SELECT count(*), count(DISTINCT message) FROM logs")
        .await
        .unwrap();
    assert_eq!(n, [sent, sent], "no row lost or doubled");
    tocsin.terminate();
    tocsin.start().await;
    let n = tocsin.sql_ints("SELECT count(*) FROM logs").await.unwrap();
    assert_eq!(n, [sent]);
    assert_eq!(lake_segments(&tocsin.data_dir, "logs").len(), 1);
    tocsin.terminate();
}
