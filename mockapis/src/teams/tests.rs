use serde_json::json;

use super::*;
use crate::testutil::{JSON, post_raw};

fn card() -> Value {
    json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
        "type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "TextBlock", "text": "t"}, {"type": "FactSet", "facts": [{"title": "a", "value": "b"}]}],
        "actions": [{"type": "Action.OpenUrl", "title": "x", "url": "https://x.example"}]}}]})
}

async fn open_mock() -> MockServer {
    let state = Arc::new(MockState::default());
    spawn(
        router_with(state.clone(), TeamsMockConfig { per_second: 1000 }),
        state,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn accepts_cards_on_both_webhook_kinds() {
    let m = open_mock().await;
    let (s, _, b) = post_raw(
        &format!("{}/webhookb2/a@b/IncomingWebhook/c/d", m.base_url()),
        &[JSON],
        &card().to_string(),
    )
    .await;
    assert_eq!((s, b.as_str()), (200, "1"));
    let (s, _, _) = post_raw(
        &format!("{}/workflows/x/triggers/manual", m.base_url()),
        &[JSON],
        &card().to_string(),
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(m.state.received().len(), 2);
}

#[tokio::test]
async fn rejects_as_documented() {
    let m = open_mock().await;
    let url = format!("{}/webhookb2/a", m.base_url());
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = card();
        f(&mut v);
        v
    };
    let cases = vec![
        mutate(&|v| v["type"] = json!("card")),
        mutate(&|v| v["attachments"] = json!([])),
        mutate(&|v| {
            v.as_object_mut()
                .unwrap()
                .remove("attachments")
                .map(|_| ())
                .unwrap()
        }),
        mutate(&|v| {
            v["attachments"][0]["contentType"] = json!("application/vnd.microsoft.card.hero")
        }),
        mutate(&|v| v["attachments"][0]["content"]["type"] = json!("HeroCard")),
        mutate(&|v| v["attachments"][0]["content"]["version"] = json!("2.0")),
        mutate(&|v| v["attachments"][0]["content"]["body"][0] = json!({"type": "TextBlock"})),
        mutate(&|v| v["attachments"][0]["content"]["body"][1]["facts"] = json!([{"title": "a"}])),
        mutate(&|v| v["attachments"][0]["content"]["body"][0]["type"] = json!("Marquee")),
        mutate(&|v| {
            v["attachments"][0]["content"]["actions"][0]["url"] = json!("javascript:alert(1)")
        }),
        mutate(&|v| v["attachments"][0]["content"]["actions"][0]["type"] = json!("Action.Http")),
    ];
    for body in cases {
        let (s, _, b) = post_raw(&url, &[JSON], &body.to_string()).await;
        assert_eq!(s, 400, "{body}");
        assert!(b.contains("Bad payload"), "{b}");
    }
    assert_eq!(post_raw(&url, &[JSON], "nope").await.0, 400);
    let big = mutate(&|v| {
        v["attachments"][0]["content"]["body"][0]["text"] = json!("x".repeat(MAX_BYTES))
    });
    assert_eq!(post_raw(&url, &[JSON], &big.to_string()).await.0, 413);
    assert!(m.state.received().is_empty());
}

#[tokio::test]
async fn throttles_at_four_per_second() {
    let m = serve().await.unwrap();
    let url = format!("{}/webhookb2/hook1", m.base_url());
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (s, ra, _) = post_raw(&url, &[JSON], &card().to_string()).await;
        statuses.push((s, ra));
    }
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 200).count(), 4);
    assert_eq!(statuses[4], (429, Some("1".into())));
    assert_eq!(
        post_raw(
            &format!("{}/webhookb2/hook2", m.base_url()),
            &[JSON],
            &card().to_string()
        )
        .await
        .0,
        200
    );
}
