//! The HTTP SQL API under abuse: a client that goes away cancels its
//! query, and a query past the memory limit fails cleanly while the
//! process keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// About 2e12 rows through a nested-loop join: minutes of work, so a
/// query that stops early was cancelled, not finished.
const SLOW: &str = "SELECT sum(a.value * b.value % 7) AS n FROM range(1, 20000) a CROSS JOIN range(1, 100000000) b";

async fn running(tocsin: &Tocsin) -> i64 {
    let (_, text) = tocsin.get("/metrics").await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("tocsin_sql_running "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_cancels_its_query_and_memory_limits_hold() {
    let dir = TestDir::new("sql-http");
    let body = format!("{QUIET}\n[query]\ntimeout = \"300s\"\nmemory_limit_bytes = 8388608\n");
    let mut tocsin = Tocsin::start_with(dir.path(), &body).await;
    let url = format!("{}/v1/sql", tocsin.base);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let request = tokio::spawn({
        let (client, url) = (impatient.clone(), url.clone());
        async move { client.post(url).body(SLOW).send().await }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        running(&tocsin).await,
        1,
        "the query runs while its client waits"
    );
    assert!(
        request.await.unwrap().is_err(),
        "the client gave up after 2 s"
    );
    let gone = Instant::now();
    while running(&tocsin).await != 0 {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the query kept running after its client went away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[test] query cancelled {:?} after the client left",
        gone.elapsed()
    );

    // A sort over a cross join needs far more than 8 MiB: a clean error.
    let (status, body) = tocsin
        .sql_raw(
            "SELECT a.value AS x, b.value AS y FROM range(1, 3000) a CROSS JOIN range(1, 3000) b ORDER BY (a.value * b.value) % 1000 DESC",
            false,
        )
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(status >= 400, "{status}: {}", &text[..text.len().min(300)]);
    assert!(
        text.to_lowercase().contains("resources exhausted"),
        "{text}"
    );
    // And the process is still there, answering.
    assert_eq!(tocsin.sql("SELECT 1 AS one").await.unwrap()[0]["one"], 1);
    tocsin.assert_running();
    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}
