use super::*;
use crate::testutil::{JSON, post_raw};

const AUTH: (&str, &str) = (
    "authorization",
    "GenieKey 11111111-2222-3333-4444-555555555555",
);

fn alert() -> Value {
    json!({"message": "disk full", "alias": "db1/disk", "description": "d", "priority": "P2",
           "tags": ["a", "b"], "details": {"k": "v"}, "entity": "db1", "source": "tocsin",
           "responders": [{"type": "team", "name": "ops"}]})
}

#[tokio::test]
async fn accepts_documented_requests() {
    let m = serve().await.unwrap();
    let (s, _, b) = post_raw(
        &format!("{}/v2/alerts", m.base_url()),
        &[JSON, AUTH],
        &alert().to_string(),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let b: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(b["result"], "Request will be processed");
    assert!(b["requestId"].is_string() && b["took"].is_number());
    let url = format!(
        "{}/v2/alerts/db1%2Fdisk/close?identifierType=alias",
        m.base_url()
    );
    let (s, _, _) = post_raw(&url, &[JSON, AUTH], r#"{"source":"tocsin","note":"ok"}"#).await;
    assert_eq!(s, 202);
    let url = format!(
        "{}/v2/alerts/db1%2Fdisk/acknowledge?identifierType=alias",
        m.base_url()
    );
    assert_eq!(post_raw(&url, &[AUTH], "").await.0, 202);
    let got = m.state.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].endpoint, CLOSE);
    assert_eq!(got[1].key.as_deref(), Some("db1/disk"));
}

#[tokio::test]
async fn rejects_as_documented() {
    let m = serve().await.unwrap();
    let create = format!("{}/v2/alerts", m.base_url());
    let (s, _, b) = post_raw(&create, &[JSON], &alert().to_string()).await;
    assert_eq!((s, b.contains("Could not authenticate")), (401, true));
    let (s, _, _) = post_raw(
        &create,
        &[JSON, ("authorization", "Bearer x")],
        &alert().to_string(),
    )
    .await;
    assert_eq!(s, 401);
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut a = alert();
                a.as_object_mut().unwrap().remove("message");
                a
            },
            "message",
        ),
        (
            {
                let mut a = alert();
                a["message"] = json!("m".repeat(131));
                a
            },
            "message",
        ),
        (
            {
                let mut a = alert();
                a["alias"] = json!("a".repeat(513));
                a
            },
            "alias",
        ),
        (
            {
                let mut a = alert();
                a["description"] = json!("d".repeat(15_001));
                a
            },
            "description",
        ),
        (
            {
                let mut a = alert();
                a["priority"] = json!("P0");
                a
            },
            "priority",
        ),
        (
            {
                let mut a = alert();
                a["tags"] = json!(vec!["t"; 21]);
                a
            },
            "tags",
        ),
        (
            {
                let mut a = alert();
                a["tags"] = json!(["t".repeat(51)]);
                a
            },
            "tags[0]",
        ),
        (
            {
                let mut a = alert();
                a["details"] = json!({"n": 1});
                a
            },
            "details.n",
        ),
        (
            {
                let mut a = alert();
                a["details"] = json!({"big": "x".repeat(8000)});
                a
            },
            "details",
        ),
        (
            {
                let mut a = alert();
                a["source"] = json!("s".repeat(101));
                a
            },
            "source",
        ),
        (
            {
                let mut a = alert();
                a["responders"] = json!([{"type": "pager"}]);
                a
            },
            "responders[0]",
        ),
    ];
    for (body, field) in cases {
        let (s, _, b) = post_raw(&create, &[JSON, AUTH], &body.to_string()).await;
        assert_eq!(s, 422, "{body}");
        let b: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            b["message"],
            "Request body is not processable. Please check the errors."
        );
        assert!(b["errors"].get(field).is_some(), "{field}: {b}");
    }
    assert_eq!(post_raw(&create, &[JSON, AUTH], "[1]").await.0, 400);
    let close = format!("{}/v2/alerts/x/close?identifierType=name", m.base_url());
    assert_eq!(post_raw(&close, &[AUTH], "").await.0, 422);
    assert!(m.state.received().is_empty());
}
