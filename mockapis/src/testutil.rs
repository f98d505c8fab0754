//! Test helpers of the mock tests.

use std::time::Duration;

/// POSTs raw bytes with headers; returns status, `Retry-After` and body.
pub(crate) async fn post_raw(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut req = client.post(url).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ra = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ra, resp.text().await.unwrap())
}

/// `("content-type", "application/json")`.
pub(crate) const JSON: (&str, &str) = ("content-type", "application/json");
