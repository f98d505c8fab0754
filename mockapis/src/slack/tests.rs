use serde_json::json;

use super::*;
use crate::testutil::{JSON, post_raw};

fn msg() -> Value {
    json!({"text": "fallback", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Title", "emoji": true}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}, {"type": "plain_text", "text": "b"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://x.example", "action_id": "a"}]}
    ]})
}

async fn send(m: &MockServer, body: &str) -> (u16, String) {
    let (s, _, b) = post_raw(
        &format!("{}/services/T0/B0/tok", m.base_url()),
        &[JSON],
        body,
    )
    .await;
    (s, b)
}

#[tokio::test]
async fn accepts_valid_messages_with_ok() {
    let m = serve().await.unwrap();
    assert_eq!(send(&m, &msg().to_string()).await, (200, "ok".into()));
    assert_eq!(send(&m, r#"{"text":"plain"}"#).await, (200, "ok".into()));
    assert_eq!(m.state.received().len(), 2);
}

#[tokio::test]
async fn rejects_as_documented() {
    let m = serve().await.unwrap();
    let mut cases: Vec<(Value, &str)> = vec![
        (json!({}), "no_text"),
        (json!({"text": " "}), "no_text"),
        (
            json!({"text": "x", "blocks": {"a": 1}}),
            "invalid_blocks_format",
        ),
        (
            json!({"text": "x", "blocks": vec![json!({"type": "divider"}); 51]}),
            "invalid_blocks",
        ),
        (json!({"blocks": [{"type": "banner"}]}), "invalid_blocks"),
    ];
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = msg();
        f(&mut v);
        v
    };
    cases.push((
        mutate(&|v| v["blocks"][0]["text"]["text"] = json!("h".repeat(151))),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][0]["text"]["type"] = json!("mrkdwn")),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][1]["text"]["text"] = json!("s".repeat(3001))),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][1]["text"]["type"] = json!("markdown")),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| {
            v["blocks"][2]["fields"] = json!(vec![json!({"type": "mrkdwn", "text": "f"}); 11])
        }),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][2]["fields"][0]["text"] = json!("f".repeat(2001))),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][4]["elements"] = json!([])),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][5]["elements"][0]["text"]["text"] = json!("b".repeat(76))),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| {
            v["blocks"][5]["elements"][0]["url"] = json!(format!("https://x/{}", "u".repeat(3000)))
        }),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][1]["block_id"] = json!("i".repeat(256))),
        "invalid_blocks",
    ));
    cases.push((
        mutate(&|v| v["blocks"][1]["text"]["emoji"] = json!(true)),
        "invalid_blocks",
    ));
    for (body, code) in cases {
        let (s, b) = send(&m, &body.to_string()).await;
        assert_eq!((s, b.as_str()), (400, code), "{body}");
    }
    assert_eq!(send(&m, "{oops").await, (400, "invalid_payload".into()));
    let url = format!("{}/services/T0/B0/tok", m.base_url());
    assert_eq!(
        post_raw(&url, &[("content-type", "text/plain")], "{}")
            .await
            .0,
        400
    );
    for (tok, status, code) in [
        ("revoked", 403, "invalid_token"),
        ("prohibited", 403, "action_prohibited"),
        ("missing", 404, "channel_not_found"),
        ("archived", 410, "channel_is_archived"),
    ] {
        let (s, _, b) = post_raw(
            &format!("{}/services/T0/B0/{tok}", m.base_url()),
            &[JSON],
            &msg().to_string(),
        )
        .await;
        assert_eq!((s, b.as_str()), (status, code));
    }
    let (s, _, b) = post_raw(
        &format!("{}/hooks/x", m.base_url()),
        &[JSON],
        &msg().to_string(),
    )
    .await;
    assert_eq!((s, b.as_str()), (404, "no_service"));
    assert!(m.state.received().is_empty());
}
