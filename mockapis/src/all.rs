//! Every receiver of this crate on one router, each under its own prefix:
//! `/pagerduty/v2/enqueue`, `/opsgenie/v2/alerts...`, `/slack/services/...`,
//! `/teams/webhookb2/...`, `/teams/workflows/...`, `/webhook/...` (unsigned),
//! `/github/...` ([`crate::github::DEFAULT_TOKEN`]) and `/jira/...` (default
//! credentials). Point a sink's base URL at `<base>/<service>`.

use std::sync::Arc;

use axum::Router;

use super::MockState;

/// All receivers sharing `state`.
pub fn router_all(state: Arc<MockState>) -> Router {
    Router::new()
        .nest("/pagerduty", super::pagerduty::router(state.clone()))
        .nest("/opsgenie", super::opsgenie::router(state.clone()))
        .nest("/slack", super::slack::router(state.clone()))
        .nest("/teams", super::teams::router(state.clone()))
        .nest("/webhook", super::webhook::router(state.clone()))
        .nest("/github", super::github::router(state.clone()))
        .nest("/jira", super::jira::router(state))
}

/// Serves every receiver on one ephemeral port of 127.0.0.1.
pub async fn serve_all() -> std::io::Result<super::MockServer> {
    let state = Arc::new(MockState::default());
    super::spawn(router_all(state.clone()), state).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{JSON, post_raw};

    #[tokio::test]
    async fn every_receiver_answers_under_its_prefix() {
        let state = Arc::new(MockState::default());
        let m = super::super::spawn(router_all(state.clone()), state)
            .await
            .unwrap();
        let b = m.base_url();
        let pd = serde_json::json!({"routing_key": "k".repeat(32), "event_action": "resolve", "dedup_key": "d"});
        assert_eq!(
            post_raw(
                &format!("{b}/pagerduty/v2/enqueue"),
                &[JSON],
                &pd.to_string()
            )
            .await
            .0,
            202
        );
        let og = [JSON, ("authorization", "GenieKey k")];
        assert_eq!(
            post_raw(
                &format!("{b}/opsgenie/v2/alerts"),
                &og,
                r#"{"message":"m"}"#
            )
            .await
            .0,
            202
        );
        assert_eq!(
            post_raw(
                &format!("{b}/slack/services/T/B/x"),
                &[JSON],
                r#"{"text":"t"}"#
            )
            .await
            .0,
            200
        );
        let card = r#"{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[]}}]}"#;
        assert_eq!(
            post_raw(&format!("{b}/teams/webhookb2/x"), &[JSON], card)
                .await
                .0,
            200
        );
        assert_eq!(m.state.received().len(), 4);
    }
}
