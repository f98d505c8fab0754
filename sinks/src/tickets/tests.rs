use std::time::Duration;

use super::*;
use crate::test_support::decision;
use tocsin_mockapis::github::{DEFAULT_TOKEN, GithubMockConfig, GithubStore};
use tocsin_mockapis::jira::{
    DEFAULT_API_TOKEN, DEFAULT_BEARER, DEFAULT_EMAIL, JiraMockConfig, JiraStore,
};
use tocsin_mockapis::{self as mock, Fault, MockServer};
use tocsin_processors::Severity;

fn patch(action: DecisionAction, key: &str) -> Decision {
    let mut d = decision(DecisionKind::Patch, action, key);
    d.target = "registry.example.com/checkout:1.4.2".into();
    d.reason = "CVE-2026-1234 (openssl) fixed in 3.0.15".into();
    d
}

fn gh_cfg(base: &str, extra: &str) -> GithubIssuesConfig {
    toml::from_str(&format!(
        "name = \"gh\"\napi_url = \"{base}\"\nowner = \"acme\"\nrepo = \"sec\"\ntoken = \"{DEFAULT_TOKEN}\"\n{extra}"
    ))
    .unwrap()
}

async fn gh_server() -> (MockServer, GithubStore) {
    let store = GithubStore::default();
    let server = mock::github::serve_with(GithubMockConfig::default(), store.clone())
        .await
        .unwrap();
    (server, store)
}

#[test]
fn github_toml_defaults_and_errors() {
    let c = gh_cfg("https://api.github.com", "");
    assert_eq!(c.kinds, vec![DecisionKind::Patch]);
    assert_eq!(c.labels, vec!["tocsin"]);
    assert_eq!(c.escalation_label, "sla-at-risk");
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert!(
        toml::from_str::<GithubIssuesConfig>(
            "name = \"g\"\nowner = \"o\"\nrepo = \"r\"\nlabel = [\"x\"]"
        )
        .is_err()
    );
    let mut c = gh_cfg("https://api.github.com", "");
    c.token = None;
    assert!(GithubIssuesSink::new(&c).is_err(), "a token is required");
    let c = gh_cfg("https://api.github.com", "title_template = \"{{ oops\"");
    assert!(GithubIssuesSink::new(&c).is_err());
}

#[tokio::test]
async fn github_lifecycle_one_issue_per_key() {
    let (server, store) = gh_server().await;
    let sink =
        GithubIssuesSink::new(&gh_cfg(&server.base_url(), "assignees = [\"octocat\"]")).unwrap();
    assert!(sink.accepts(&patch(DecisionAction::Open, "k")));
    assert!(!sink.accepts(&decision(DecisionKind::Incident, DecisionAction::Open, "k")));

    sink.deliver(&patch(DecisionAction::Open, "cve/1"))
        .await
        .unwrap();
    sink.deliver(&patch(DecisionAction::Open, "cve/1"))
        .await
        .unwrap();
    sink.deliver(&patch(DecisionAction::Update, "cve/1"))
        .await
        .unwrap();
    let issues = store.issues("acme/sec");
    assert_eq!(
        issues.len(),
        1,
        "second open/update must comment, not create"
    );
    assert_eq!(issues[0].comments.len(), 2);
    assert_eq!(issues[0].labels, vec!["tocsin"]);
    assert_eq!(sink.ticket("cve/1").as_deref(), Some("1"));
    let created = &server.state.received()[0];
    assert_eq!(created.endpoint, "github.issue.create");
    let body = created.body["body"].as_str().unwrap();
    assert!(
        body.contains("\"release\": \"v42\"") && body.contains("SELECT * FROM metrics"),
        "{body}"
    );
    assert!(
        created.body["title"]
            .as_str()
            .unwrap()
            .contains("checkout:1.4.2")
    );
    assert_eq!(created.body["assignees"], serde_json::json!(["octocat"]));

    sink.deliver(&patch(DecisionAction::Resolve, "cve/1"))
        .await
        .unwrap();
    let issues = store.issues("acme/sec");
    assert_eq!(issues[0].state, "closed");
    assert_eq!(issues[0].state_reason.as_deref(), Some("completed"));
    assert_eq!(sink.open_tickets(), 0);
    let before = server.state.received().len();
    sink.deliver(&patch(DecisionAction::Resolve, "never-opened"))
        .await
        .unwrap();
    assert_eq!(
        server.state.received().len(),
        before,
        "resolve of an unknown key makes no request"
    );
}

#[tokio::test]
async fn github_state_survives_restart() {
    let (server, store) = gh_server().await;
    let cfg = gh_cfg(&server.base_url(), "");
    let first = GithubIssuesSink::new(&cfg).unwrap();
    first
        .deliver(&patch(DecisionAction::Open, "cve/2"))
        .await
        .unwrap();
    let saved = first.state();
    assert_eq!(saved, serde_json::json!({ "tickets": { "cve/2": "1" } }));
    let saved = serde_json::from_str(&saved.to_string()).unwrap();

    let second = GithubIssuesSink::new(&cfg).unwrap();
    second.restore_state(saved).unwrap();
    second
        .deliver(&patch(DecisionAction::Open, "cve/2"))
        .await
        .unwrap();
    assert_eq!(
        store.issues("acme/sec").len(),
        1,
        "restart must not open a second issue"
    );
    assert_eq!(store.issues("acme/sec")[0].comments.len(), 1);

    // An update for a key without an issue files one (sink added mid-way).
    second
        .deliver(&patch(DecisionAction::Update, "cve/new"))
        .await
        .unwrap();
    assert_eq!(store.issues("acme/sec").len(), 2);
    assert_eq!(second.ticket("cve/new").as_deref(), Some("2"));

    assert!(second.restore_state(serde_json::Value::Null).is_ok());
    assert!(second.restore_state(serde_json::json!([1, 2])).is_err());
    assert!(
        second
            .restore_state(serde_json::json!({ "tickets": { "k": 5 } }))
            .is_err()
    );
}

#[tokio::test]
async fn github_escalation_adds_label() {
    let (server, store) = gh_server().await;
    let sink = GithubIssuesSink::new(&gh_cfg(&server.base_url(), "")).unwrap();
    sink.deliver(&patch(DecisionAction::Open, "cve/3"))
        .await
        .unwrap();
    let mut esc = patch(DecisionAction::Update, "cve/3");
    esc.severity = Severity::Critical;
    esc.evidence = serde_json::json!({ "sla_at_risk": true, "days_open": 29 });
    sink.deliver(&esc).await.unwrap();
    let issue = &store.issues("acme/sec")[0];
    assert_eq!(issue.labels, vec!["tocsin", "sla-at-risk"]);
    assert!(
        issue.comments[0].contains("(critical)"),
        "{}",
        issue.comments[0]
    );
}

#[tokio::test]
async fn github_errors_are_classified() {
    let (server, _store) = gh_server().await;
    // An empty rendered title is refused by GitHub with 422: permanent, with the body.
    let sink =
        GithubIssuesSink::new(&gh_cfg(&server.base_url(), "title_template = \" \"")).unwrap();
    match sink.deliver(&patch(DecisionAction::Open, "k")).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(
                reason.contains("422") && reason.contains("missing_field"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sink.open_tickets(), 0);
    let ok = GithubIssuesSink::new(&gh_cfg(&server.base_url(), "")).unwrap();
    server.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 9,
    });
    match ok.deliver(&patch(DecisionAction::Open, "k")).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(9)))
        }
        other => panic!("{other:?}"),
    }
    server.state.set_fault(Fault::None);
    // A stored number the server does not know: 404, permanent.
    ok.restore_state(serde_json::json!({ "tickets": { "k": "77" } }))
        .unwrap();
    match ok.deliver(&patch(DecisionAction::Update, "k")).await {
        Err(DeliveryError::Permanent { reason }) => assert!(reason.contains("404"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

fn jira_cfg(base: &str, extra: &str) -> JiraConfig {
    toml::from_str(&format!(
        "name = \"jira\"\nbase_url = \"{base}\"\nproject_key = \"SEC\"\nemail = \"{DEFAULT_EMAIL}\"\n\
         api_token = \"{DEFAULT_API_TOKEN}\"\n{extra}"
    ))
    .unwrap()
}

async fn jira_server() -> (MockServer, JiraStore) {
    let store = JiraStore::default();
    let server = mock::jira::serve_with(JiraMockConfig::default(), store.clone())
        .await
        .unwrap();
    (server, store)
}

#[test]
fn jira_toml_defaults_and_errors() {
    let c = jira_cfg(
        "https://acme.atlassian.net",
        "priorities = { info = \"Lowest\" }",
    );
    assert_eq!(c.issue_type, "Task");
    assert_eq!(c.priorities[&Severity::Info], "Lowest");
    assert!(c.resolve_transition.is_none());
    assert!(JiraSink::new(&c).is_ok());
    let both = jira_cfg("https://acme.atlassian.net", "bearer_token = \"x\"");
    assert!(JiraSink::new(&both).is_err(), "basic and bearer together");
    let mut none = jira_cfg("https://acme.atlassian.net", "");
    none.api_token = None;
    assert!(JiraSink::new(&none).is_err(), "email without token");
    let p = crate::test_support::temp_path("jira-token");
    std::fs::write(&p, format!("{DEFAULT_API_TOKEN}\n")).unwrap();
    let from_file: JiraConfig = toml::from_str(&format!(
        "name = \"j\"\nbase_url = \"https://x.test\"\nproject_key = \"P\"\nemail = \"e@x\"\napi_token_file = \"{}\"",
        p.display()
    ))
    .unwrap();
    assert!(JiraSink::new(&from_file).is_ok());
    std::fs::remove_file(&p).unwrap();
    assert!(JiraSink::new(&from_file).is_err(), "missing token file");
    let spaced = jira_cfg("https://acme.atlassian.net", "labels = [\"needs patch\"]");
    assert!(JiraSink::new(&spaced).is_err());
    assert!(
        toml::from_str::<JiraConfig>(
            "name = \"j\"\nbase_url = \"u\"\nproject_key = \"P\"\nproject = \"P\""
        )
        .is_err()
    );
    assert!(toml::from_str::<JiraConfig>("name = \"j\"\nbase_url = \"u\"").is_err());
}

#[tokio::test]
async fn jira_lifecycle_with_transition() {
    let (server, store) = jira_server().await;
    let sink = JiraSink::new(&jira_cfg(&server.base_url(), "resolve_transition = \"31\"")).unwrap();
    let mut open = patch(DecisionAction::Open, "cve/9");
    open.severity = Severity::Critical;
    open.reason = format!("line one\nline two {}", "z".repeat(400));
    sink.deliver(&open).await.unwrap();
    sink.deliver(&patch(DecisionAction::Update, "cve/9"))
        .await
        .unwrap();
    sink.deliver(&patch(DecisionAction::Open, "cve/9"))
        .await
        .unwrap();
    assert_eq!(store.len(), 1);
    let key = sink.ticket("cve/9").unwrap();
    assert_eq!(key, "SEC-1");
    let issue = store.issue(&key).unwrap();
    assert_eq!(issue.priority.as_deref(), Some("Highest"));
    assert_eq!(issue.summary.chars().count(), 255);
    assert!(!issue.summary.contains('\n'));
    assert_eq!(issue.comments.len(), 2);
    let created = &server.state.received()[0].body["fields"];
    assert_eq!(created["issuetype"]["name"], "Task");
    assert!(
        created["description"]
            .as_str()
            .unwrap()
            .contains("{code:sql}")
    );

    let saved = sink.state();
    let restarted =
        JiraSink::new(&jira_cfg(&server.base_url(), "resolve_transition = \"31\"")).unwrap();
    restarted.restore_state(saved).unwrap();
    restarted
        .deliver(&patch(DecisionAction::Update, "cve/9"))
        .await
        .unwrap();
    assert_eq!(
        store.len(),
        1,
        "restored mapping comments instead of creating"
    );

    restarted
        .deliver(&patch(DecisionAction::Resolve, "cve/9"))
        .await
        .unwrap();
    let issue = store.issue(&key).unwrap();
    assert_eq!(issue.comments.len(), 4);
    assert_eq!(issue.transitions, vec!["31"]);
    assert_eq!(restarted.open_tickets(), 0);
}

#[tokio::test]
async fn jira_bearer_and_errors() {
    let (server, store) = jira_server().await;
    let bearer: JiraConfig = toml::from_str(&format!(
        "name = \"j\"\nbase_url = \"{}\"\nproject_key = \"SEC\"\nbearer_token = \"{DEFAULT_BEARER}\"",
        server.base_url()
    ))
    .unwrap();
    JiraSink::new(&bearer)
        .unwrap()
        .deliver(&patch(DecisionAction::Open, "a"))
        .await
        .unwrap();
    assert_eq!(store.len(), 1);

    let mut wrong = jira_cfg(&server.base_url(), "");
    wrong.api_token = Some("nope".into());
    match JiraSink::new(&wrong)
        .unwrap()
        .deliver(&patch(DecisionAction::Open, "b"))
        .await
    {
        Err(DeliveryError::Permanent { reason }) => assert!(reason.contains("401"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // An unknown priority name: 400 with Jira's field errors, permanent.
    let bad = JiraSink::new(&jira_cfg(
        &server.base_url(),
        "priorities = { error = \"Urgent\" }",
    ))
    .unwrap();
    match bad.deliver(&patch(DecisionAction::Open, "c")).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(
                reason.contains("400") && reason.contains("\"priority\""),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // An unknown transition id: 400, permanent; the mapping stays for a retry after a fix.
    let t = JiraSink::new(&jira_cfg(&server.base_url(), "resolve_transition = \"99\"")).unwrap();
    t.deliver(&patch(DecisionAction::Open, "d")).await.unwrap();
    assert!(matches!(
        t.deliver(&patch(DecisionAction::Resolve, "d")).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert!(t.ticket("d").is_some());
    server.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 11,
    });
    match t.deliver(&patch(DecisionAction::Open, "e")).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(11)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn evidence_fences_survive_backticks() {
    let mut d = patch(DecisionAction::Open, "k");
    d.evidence_sql = "SELECT '```' AS fence".into();
    let block = evidence_block(&d, false);
    assert!(
        block.contains("````sql\nSELECT '```' AS fence\n````"),
        "{block}"
    );
}
