//! The mocks refuse malformed requests on their own (raw HTTP, no sinks).

use serde_json::{Value, json};

use super::github::{DEFAULT_TOKEN, GithubMockConfig, GithubStore};
use super::jira::{DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraMockConfig, JiraStore};
use super::{Fault, all, github, jira, webhook};

async fn gh(base: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    gh_with(base, method, path, body.to_string(), &[]).await
}

/// Sends a well-formed GitHub request except for `overrides` (an empty value
/// removes the header).
async fn gh_with(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: String,
    overrides: &[(&str, &str)],
) -> (u16, Value) {
    let mut headers = reqwest::header::HeaderMap::new();
    let auth = format!("Bearer {DEFAULT_TOKEN}");
    let defaults = [
        ("authorization", auth.as_str()),
        ("accept", "application/vnd.github+json"),
        ("user-agent", "test"),
        ("x-github-api-version", "2022-11-28"),
    ];
    for (k, v) in defaults.iter().chain(overrides) {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap();
        if v.is_empty() {
            headers.remove(&name);
        } else {
            headers.insert(name, v.parse().unwrap());
        }
    }
    let resp = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn github_mock_enforces_headers() {
    let s = github::serve().await.unwrap();
    let base = s.base_url();
    let path = "/repos/o/r/dispatches";
    let body = json!({ "event_type": "x" }).to_string();
    let post = reqwest::Method::POST;
    let (st, v) = gh_with(
        &base,
        post.clone(),
        path,
        body.clone(),
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!((st, v["message"].as_str()), (401, Some("Bad credentials")));
    let (st, _) = gh_with(
        &base,
        post.clone(),
        path,
        body.clone(),
        &[("authorization", "")],
    )
    .await;
    assert_eq!(st, 401);
    let (st, v) = gh_with(
        &base,
        post.clone(),
        path,
        body.clone(),
        &[("user-agent", "")],
    )
    .await;
    assert_eq!(st, 403);
    assert!(v["message"].as_str().unwrap().contains("User-Agent"));
    let (st, _) = gh_with(
        &base,
        post.clone(),
        path,
        body.clone(),
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!(st, 415);
    let (st, _) = gh_with(
        &base,
        post.clone(),
        path,
        body.clone(),
        &[("x-github-api-version", "1999-01-01")],
    )
    .await;
    assert_eq!(st, 400);
    // The version header is optional.
    let (st, _) = gh_with(
        &base,
        post.clone(),
        path,
        body.clone(),
        &[("x-github-api-version", "")],
    )
    .await;
    assert_eq!(st, 204);
    let (st, v) = gh_with(&base, post.clone(), path, "{not json".into(), &[]).await;
    assert_eq!(
        (st, v["message"].as_str()),
        (400, Some("Problems parsing JSON"))
    );
    assert_eq!(
        gh(&base, post, path, json!({ "event_type": "x" })).await.0,
        204
    );
    assert_eq!(s.state.received().len(), 2);
    assert_eq!(s.state.rejected().len(), 6);
}

#[tokio::test]
async fn github_mock_validates_dispatch_and_issues() {
    let store = GithubStore::default();
    let s = github::serve_with(GithubMockConfig::default(), store.clone())
        .await
        .unwrap();
    let b = s.base_url();
    let post = reqwest::Method::POST;
    let d = "/repos/o/r/dispatches";
    let (st, v) = gh(
        &b,
        post.clone(),
        d,
        json!({ "event_type": "e".repeat(101) }),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(v["errors"][0]["field"], "event_type");
    assert_eq!(
        gh(&b, post.clone(), d, json!({ "client_payload": {} }))
            .await
            .0,
        422
    );
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!(i))).collect();
    assert_eq!(
        gh(
            &b,
            post.clone(),
            d,
            json!({ "event_type": "e", "client_payload": eleven })
        )
        .await
        .0,
        422
    );
    let ten: serde_json::Map<String, Value> =
        (0..10).map(|i| (format!("k{i}"), json!(i))).collect();
    assert_eq!(
        gh(
            &b,
            post.clone(),
            d,
            json!({ "event_type": "e", "client_payload": ten })
        )
        .await
        .0,
        204
    );
    assert_eq!(
        gh(
            &b,
            post.clone(),
            d,
            json!({ "event_type": "e", "client_payload": [1] })
        )
        .await
        .0,
        422
    );

    let i = "/repos/o/r/issues";
    let (st, v) = gh(&b, post.clone(), i, json!({ "body": "no title" })).await;
    assert_eq!(st, 422);
    assert_eq!(v["message"], "Validation Failed");
    assert_eq!(
        v["errors"][0],
        json!({ "resource": "Issue", "field": "title", "code": "missing_field" })
    );
    assert_eq!(
        gh(
            &b,
            post.clone(),
            i,
            json!({ "title": "t", "labels": "bug" })
        )
        .await
        .0,
        422
    );
    assert_eq!(
        gh(
            &b,
            post.clone(),
            i,
            json!({ "title": "t", "assignees": [1] })
        )
        .await
        .0,
        422
    );
    let (st, v) = gh(
        &b,
        post.clone(),
        i,
        json!({ "title": "t", "labels": ["a"] }),
    )
    .await;
    assert_eq!((st, v["number"].as_u64()), (201, Some(1)));

    assert_eq!(
        gh(&b, post.clone(), "/repos/o/r/issues/1/comments", json!({}))
            .await
            .0,
        422
    );
    assert_eq!(
        gh(
            &b,
            post.clone(),
            "/repos/o/r/issues/2/comments",
            json!({ "body": "x" })
        )
        .await
        .0,
        404
    );
    assert_eq!(
        gh(
            &b,
            post.clone(),
            "/repos/o/r/issues/1/comments",
            json!({ "body": "x" })
        )
        .await
        .0,
        201
    );
    let patch = reqwest::Method::PATCH;
    assert_eq!(
        gh(
            &b,
            patch.clone(),
            "/repos/o/r/issues/1",
            json!({ "state": "done" })
        )
        .await
        .0,
        422
    );
    assert_eq!(
        gh(
            &b,
            patch.clone(),
            "/repos/o/r/issues/1",
            json!({ "state": "closed", "state_reason": "fixed" })
        )
        .await
        .0,
        422
    );
    assert_eq!(
        gh(
            &b,
            patch.clone(),
            "/repos/o/r/issues/9",
            json!({ "state": "closed" })
        )
        .await
        .0,
        404
    );
    let (st, v) = gh(
        &b,
        patch,
        "/repos/o/r/issues/1",
        json!({ "state": "closed", "state_reason": "not_planned" }),
    )
    .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("closed")));
    assert_eq!(
        store.issues("o/r")[0].state_reason.as_deref(),
        Some("not_planned")
    );
}

#[tokio::test]
async fn github_mock_rate_limits() {
    let cfg = GithubMockConfig {
        quota: Some(1),
        retry_after_secs: 5,
        ..GithubMockConfig::default()
    };
    let s = github::serve_with(cfg, GithubStore::default())
        .await
        .unwrap();
    let b = s.base_url();
    let post = reqwest::Method::POST;
    assert_eq!(
        gh(
            &b,
            post.clone(),
            "/repos/o/r/dispatches",
            json!({ "event_type": "x" })
        )
        .await
        .0,
        204
    );
    let resp = reqwest::Client::new()
        .post(format!("{b}/repos/o/r/dispatches"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    s.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 2,
    });
    let resp = reqwest::Client::new()
        .post(format!("{b}/repos/o/r/dispatches"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
}

async fn jr(base: &str, path: &str, body: Value, basic: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn jira_mock_validates() {
    let store = JiraStore::default();
    let s = jira::serve_with(JiraMockConfig::default(), store.clone())
        .await
        .unwrap();
    let b = s.base_url();
    let auth = Some((DEFAULT_EMAIL, DEFAULT_API_TOKEN));
    let good = json!({ "fields": {
        "project": { "key": "SEC" }, "summary": "s", "issuetype": { "name": "Task" },
        "priority": { "name": "High" }, "labels": ["a"], "description": "d"
    }});
    let c = "/rest/api/2/issue";
    assert_eq!(jr(&b, c, good.clone(), None).await.0, 401);
    assert_eq!(
        jr(&b, c, good.clone(), Some((DEFAULT_EMAIL, "wrong")))
            .await
            .0,
        401
    );
    let (st, v) = jr(&b, c, json!({ "fields": {} }), auth).await;
    assert_eq!(st, 400);
    assert_eq!(v["errorMessages"], json!([]));
    for f in ["project", "summary", "issuetype"] {
        assert!(v["errors"][f].is_string(), "{f}: {v}");
    }
    let mut bad = good.clone();
    bad["fields"]["summary"] = json!("a\nb");
    assert!(jr(&b, c, bad.clone(), auth).await.1["errors"]["summary"].is_string());
    bad["fields"]["summary"] = json!("x".repeat(256));
    assert_eq!(jr(&b, c, bad, auth).await.0, 400);
    let mut bad = good.clone();
    bad["fields"]["labels"] = json!(["has space"]);
    assert!(jr(&b, c, bad, auth).await.1["errors"]["labels"].is_string());
    let mut bad = good.clone();
    bad["fields"]["priority"] = json!({ "name": "Urgent" });
    assert_eq!(jr(&b, c, bad, auth).await.0, 400);
    let (st, v) = jr(&b, c, good, auth).await;
    assert_eq!((st, v["key"].as_str()), (201, Some("SEC-1")));
    assert!(v["id"].is_string() && v["self"].is_string());

    assert_eq!(
        jr(&b, "/rest/api/2/issue/SEC-1/comment", json!({}), auth)
            .await
            .0,
        400
    );
    assert_eq!(
        jr(
            &b,
            "/rest/api/2/issue/SEC-9/comment",
            json!({ "body": "x" }),
            auth
        )
        .await
        .0,
        404
    );
    assert_eq!(
        jr(
            &b,
            "/rest/api/2/issue/SEC-1/comment",
            json!({ "body": "x" }),
            auth
        )
        .await
        .0,
        201
    );
    let t = "/rest/api/2/issue/SEC-1/transitions";
    assert_eq!(jr(&b, t, json!({}), auth).await.0, 400);
    assert_eq!(
        jr(&b, t, json!({ "transition": { "id": "99" } }), auth)
            .await
            .0,
        400
    );
    assert_eq!(
        jr(&b, t, json!({ "transition": { "id": "21" } }), auth)
            .await
            .0,
        204
    );
    assert_eq!(store.issue("SEC-1").unwrap().transitions, vec!["21"]);
    s.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 4,
    });
    assert_eq!(
        jr(&b, t, json!({ "transition": { "id": "21" } }), auth)
            .await
            .0,
        429
    );
}

#[tokio::test]
async fn combined_router_serves_every_mock() {
    let s = all::serve_all().await.unwrap();
    let b = s.base_url();
    let st = reqwest::Client::new()
        .post(format!("{b}/webhook/any/path"))
        .header("content-type", "application/json")
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st.as_u16(), 200);
    let g = format!("{b}/github");
    assert_eq!(
        gh(
            &g,
            reqwest::Method::POST,
            "/repos/o/r/dispatches",
            json!({ "event_type": "x" })
        )
        .await
        .0,
        204
    );
    let auth = Some((DEFAULT_EMAIL, DEFAULT_API_TOKEN));
    assert_eq!(
        jr(
            &format!("{b}/jira"),
            "/rest/api/2/issue",
            json!({ "fields": {} }),
            auth
        )
        .await
        .0,
        400
    );
    let eps: Vec<_> = s.state.received().iter().map(|r| r.endpoint).collect();
    assert_eq!(eps, vec!["webhook", "github.dispatch"]);
    assert_eq!(s.state.rejected()[0].endpoint, "jira.issue.create");
}

#[tokio::test]
async fn webhook_mock_without_secret_records_and_checks_json() {
    let s = webhook::serve().await.unwrap();
    let c = reqwest::Client::new();
    let r = c
        .post(s.base_url())
        .header("content-type", "application/json")
        .header("idempotency-key", "k#open")
        .body("{\"x\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(s.base_url())
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(s.state.received()[0].key.as_deref(), Some("k#open"));
}
