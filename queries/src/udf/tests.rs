use super::*;
use arrow::array::AsArray;

async fn one(sql: &str) -> Option<f64> {
    let ctx = SessionContext::new();
    register(&ctx);
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let col = batches[0].column(0).as_primitive::<Float64Type>();
    (!col.is_null(0)).then(|| col.value(0))
}

#[tokio::test]
async fn rate_is_the_per_second_increase_with_resets() {
    // 0 → 10 → 30 over 20 s: 1.5/s.
    let r = one(
        "SELECT rate(v, ts) FROM (VALUES (0.0, TIMESTAMP '2026-11-26T08:00:00Z'), \
         (10.0, TIMESTAMP '2026-11-26T08:00:10Z'), (30.0, TIMESTAMP '2026-11-26T08:00:20Z')) t(v, ts)",
    )
    .await;
    assert_eq!(r, Some(1.5));
    // Out of order and with a reset (40 → 5 counts 5): 10 + 30 + 5 = 45 over 30 s.
    let r = one(
        "SELECT rate(v, ts) FROM (VALUES (40.0, TIMESTAMP '2026-11-26T08:00:20Z'), \
         (0.0, TIMESTAMP '2026-11-26T08:00:00Z'), (5.0, TIMESTAMP '2026-11-26T08:00:30Z'), \
         (10.0, TIMESTAMP '2026-11-26T08:00:10Z')) t(v, ts)",
    )
    .await;
    assert_eq!(r, Some(1.5));
    // One sample has no rate.
    let r =
        one("SELECT rate(v, ts) FROM (VALUES (1.0, TIMESTAMP '2026-11-26T08:00:00Z')) t(v, ts)")
            .await;
    assert_eq!(r, None);
}

#[tokio::test]
async fn rate_groups_and_merges_partial_states() {
    let ctx = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_target_partitions(4),
    );
    register(&ctx);
    let mut values = Vec::new();
    for s in 0..200 {
        for (svc, per_s) in [("a", 2), ("b", 5)] {
            values.push(format!(
                "('{svc}', {}.0, TIMESTAMP '2026-11-26T08:00:00Z' + INTERVAL '{s} seconds')",
                s * per_s
            ));
        }
    }
    let sql = format!(
        "SELECT svc, rate(v, ts) AS r FROM (VALUES {}) t(svc, v, ts) GROUP BY svc ORDER BY svc",
        values.join(", ")
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let r = batches[0].column(1).as_primitive::<Float64Type>();
    assert_eq!((r.value(0), r.value(1)), (2.0, 5.0));
}

#[tokio::test]
async fn histogram_quantile_interpolates_like_prometheus() {
    // 100 observations: 50 ≤ 0.1, 90 ≤ 0.5, 100 ≤ 1, none above.
    let buckets = "(VALUES ('0.1', 50.0), ('0.5', 90.0), ('1', 100.0), ('+Inf', 100.0)) t(le, c)";
    // Median: rank 50 is the top of the first bucket.
    assert_eq!(
        one(&format!(
            "SELECT histogram_quantile(0.5, le, c) FROM {buckets}"
        ))
        .await,
        Some(0.1)
    );
    // p90: rank 90, top of the second bucket.
    let p90 = one(&format!(
        "SELECT histogram_quantile(0.9, le, c) FROM {buckets}"
    ))
    .await
    .unwrap();
    assert!((p90 - 0.5).abs() < 1e-12, "{p90}");
    // p95: halfway through (0.5, 1].
    let p95 = one(&format!(
        "SELECT histogram_quantile(0.95, le, c) FROM {buckets}"
    ))
    .await
    .unwrap();
    assert!((p95 - 0.75).abs() < 1e-12, "{p95}");
    // Two series with the same buckets add up: the quantile is unchanged.
    let two = "(VALUES ('0.1', 25.0), ('0.1', 25.0), ('0.5', 45.0), ('0.5', 45.0), ('1', 50.0), ('1', 50.0), ('+Inf', 50.0), ('+Inf', 50.0)) t(le, c)";
    let p95 = one(&format!(
        "SELECT histogram_quantile(0.95, le, c) FROM {two}"
    ))
    .await
    .unwrap();
    assert!((p95 - 0.75).abs() < 1e-12, "{p95}");
    // Without a +Inf bucket there is no answer.
    assert_eq!(
        one("SELECT histogram_quantile(0.5, le, c) FROM (VALUES (0.1, 5.0), (1.0, 10.0)) t(le, c)")
            .await,
        None
    );
}
