use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::test_support::{decision, temp_path};
use tocsin_mockapis::{self as mock, Fault, github::GithubMockConfig, github::GithubStore};
use tocsin_processors::Decision;

fn rollback() -> Decision {
    decision(
        DecisionKind::Rollback,
        DecisionAction::Open,
        "release/checkout/v42",
    )
}

fn sink(toml_src: &str, allow: &[PathBuf]) -> ActionSink {
    let cfg: ActionConfig = toml::from_str(toml_src).unwrap();
    ActionSink::new(&cfg, allow).unwrap()
}

fn script(tag: &str, body: &str) -> PathBuf {
    let p = temp_path(tag);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn command_toml(program: &std::path::Path, args: &str, extra: &str) -> String {
    format!(
        "name = \"cmd\"\ndry_run = false\n{extra}\n[target]\ntype = \"command\"\nprogram = \"{}\"\nargs = {args}\n",
        program.display()
    )
}

#[test]
fn toml_parsing_defaults_and_errors() {
    let c: ActionConfig = toml::from_str(
        "name = \"a\"\n[target]\ntype = \"webhook\"\nurl = \"https://deploy.test/hook\"",
    )
    .unwrap();
    assert!(c.dry_run, "dry_run must default to true");
    assert_eq!(
        c.kinds,
        vec![DecisionKind::Rollback, DecisionKind::FlagDisable]
    );
    assert_eq!(c.timeout, Duration::from_secs(10));
    let c: ActionConfig = toml::from_str(
        "name = \"a\"\nkinds = [\"flag_disable\"]\ndry_run = false\ntimeout = \"3s\"\n\
         [target]\ntype = \"github_dispatch\"\nowner = \"o\"\nrepo = \"r\"\ntoken = \"t\"",
    )
    .unwrap();
    assert!(!c.dry_run);
    match c.target {
        ActionTarget::GithubDispatch(t) => {
            assert_eq!(t.api_url, "https://api.github.com");
            assert_eq!(t.event_type, "tocsin-{{ kind }}");
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        "name = \"a\"\n[target]\ntype = \"shell\"\nprogram = \"/bin/sh\"",
        "name = \"a\"\n[target]\ntype = \"command\"\nprogram = \"/bin/echo\"\nshell = true",
        "name = \"a\"\ndryrun = false\n[target]\ntype = \"command\"\nprogram = \"/bin/echo\"",
        "name = \"a\"\nkinds = [\"reboot\"]\n[target]\ntype = \"command\"\nprogram = \"/bin/echo\"",
        "name = \"a\"",
    ] {
        assert!(toml::from_str::<ActionConfig>(bad).is_err(), "{bad}");
    }
}

#[test]
fn accepts_only_opens_of_configured_kinds() {
    let s = sink(
        "name = \"a\"\n[target]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"",
        &[],
    );
    assert!(s.accepts(&rollback()));
    assert!(s.accepts(&decision(
        DecisionKind::FlagDisable,
        DecisionAction::Open,
        "f"
    )));
    assert!(!s.accepts(&decision(
        DecisionKind::Rollback,
        DecisionAction::Update,
        "k"
    )));
    assert!(!s.accepts(&decision(
        DecisionKind::Rollback,
        DecisionAction::Resolve,
        "k"
    )));
    assert!(!s.accepts(&decision(DecisionKind::Incident, DecisionAction::Open, "k")));
}

#[test]
fn commands_must_be_allowlisted_and_absolute() {
    let cfg: ActionConfig =
        toml::from_str(&command_toml(std::path::Path::new("/bin/echo"), "[]", "")).unwrap();
    let err = ActionSink::new(&cfg, &[PathBuf::from("/usr/bin/true")]).unwrap_err();
    assert!(err.to_string().contains("allowlist"), "{err}");
    assert!(ActionSink::new(&cfg, &[PathBuf::from("/bin/echo")]).is_ok());
    let rel: ActionConfig =
        toml::from_str("name = \"a\"\n[target]\ntype = \"command\"\nprogram = \"echo\"").unwrap();
    assert!(ActionSink::new(&rel, &[PathBuf::from("echo")]).is_err());
}

#[tokio::test]
async fn dry_run_makes_no_request_and_counts() {
    let server = mock::webhook::serve().await.unwrap();
    let s = sink(
        &format!(
            "name = \"a\"\n[target]\ntype = \"webhook\"\nurl = \"{}\"",
            server.base_url()
        ),
        &[],
    );
    assert!(s.is_dry_run());
    s.deliver(&rollback()).await.unwrap();
    s.deliver(&rollback()).await.unwrap();
    assert_eq!(s.dry_runs(), 2);
    assert!(server.state.received().is_empty() && server.state.rejected().is_empty());

    let marker = temp_path("dry-marker");
    let prog = script("dry-touch", &format!("touch {}", marker.display()));
    let toml_src = format!(
        "name = \"c\"\n[target]\ntype = \"command\"\nprogram = \"{}\"\nargs = [\"{{{{ target }}}}\"]",
        prog.display()
    );
    let c = sink(&toml_src, std::slice::from_ref(&prog));
    c.deliver(&rollback()).await.unwrap();
    assert_eq!(c.dry_runs(), 1);
    assert!(!marker.exists(), "dry run executed the program");

    let gh = mock::github::serve().await.unwrap();
    let g = sink(
        &format!(
            "name = \"g\"\n[target]\ntype = \"github_dispatch\"\napi_url = \"{}\"\nowner = \"o\"\nrepo = \"r\"\ntoken = \"x\"",
            gh.base_url()
        ),
        &[],
    );
    g.deliver(&rollback()).await.unwrap();
    assert_eq!(g.dry_runs(), 1);
    assert!(gh.state.received().is_empty());
    std::fs::remove_file(prog).unwrap();
}

#[tokio::test]
async fn webhook_action_is_signed_and_templated() {
    let server = mock::webhook::serve_with(b"deploy-key").await.unwrap();
    let s = sink(
        &format!(
            "name = \"a\"\ndry_run = false\n[target]\ntype = \"webhook\"\nurl = \"{}/rollback\"\nsecret = \"deploy-key\"\n\
             body_template = '{{\"service\": \"{{{{ target }}}}\", \"op\": \"{{{{ kind }}}}\"}}'",
            server.base_url()
        ),
        &[],
    );
    s.deliver(&rollback()).await.unwrap();
    let got = server.state.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].body,
        serde_json::json!({ "service": "checkout", "op": "rollback" })
    );
    assert_eq!(got[0].key.as_deref(), Some("release/checkout/v42#open"));
    assert_eq!(s.dry_runs(), 0);
}

fn dispatch_toml(base: &str, token: &str, event_type: &str) -> String {
    format!(
        "name = \"g\"\ndry_run = false\n[target]\ntype = \"github_dispatch\"\napi_url = \"{base}\"\n\
         owner = \"acme\"\nrepo = \"deploy\"\ntoken = \"{token}\"\nevent_type = \"{event_type}\""
    )
}

#[tokio::test]
async fn github_dispatch_is_accepted_with_payload_within_limits() {
    let gh = mock::github::serve().await.unwrap();
    let s = sink(
        &dispatch_toml(
            &gh.base_url(),
            mock::github::DEFAULT_TOKEN,
            "tocsin-{{ kind }}",
        ),
        &[],
    );
    s.deliver(&rollback()).await.unwrap();
    let got = gh.state.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].endpoint, "github.dispatch");
    assert_eq!(got[0].key.as_deref(), Some("tocsin-rollback"));
    let payload = got[0].body["client_payload"].as_object().unwrap();
    assert!(payload.len() <= MAX_CLIENT_PAYLOAD_PROPERTIES);
    assert_eq!(payload["dedup_key"], "release/checkout/v42");
    assert_eq!(payload["evidence"]["release"], "v42");
    assert_eq!(payload["meta"]["action"], "open");
}

#[tokio::test]
async fn github_dispatch_errors() {
    let gh = mock::github::serve().await.unwrap();
    let bad_token = sink(&dispatch_toml(&gh.base_url(), "wrong", "x"), &[]);
    match bad_token.deliver(&rollback()).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("Bad credentials"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let long = sink(
        &dispatch_toml(
            &gh.base_url(),
            mock::github::DEFAULT_TOKEN,
            &"x".repeat(101),
        ),
        &[],
    );
    assert!(matches!(
        long.deliver(&rollback()).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert!(gh.state.received().is_empty());
    // GitHub's rate limit: 403 + x-ratelimit-remaining: 0 + retry-after is retryable.
    let limited = mock::github::serve_with(
        GithubMockConfig {
            quota: Some(0),
            retry_after_secs: 42,
            ..GithubMockConfig::default()
        },
        GithubStore::default(),
    )
    .await
    .unwrap();
    let s = sink(
        &dispatch_toml(&limited.base_url(), mock::github::DEFAULT_TOKEN, "x"),
        &[],
    );
    match s.deliver(&rollback()).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(42)))
        }
        other => panic!("{other:?}"),
    }
    gh.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 3,
    });
    let ok = sink(
        &dispatch_toml(&gh.base_url(), mock::github::DEFAULT_TOKEN, "x"),
        &[],
    );
    match ok.deliver(&rollback()).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn allowlisted_command_runs_with_templated_args_and_clean_env() {
    let out = temp_path("cmd-out");
    let prog = script(
        "cmd-ok",
        &format!(
            "printf '%s|' \"$@\" > {out}\necho \"ID=$TOCSIN_DECISION_ID KEY=$TOCSIN_DEDUP_KEY HOME=${{HOME:-unset}}\" >> {out}",
            out = out.display()
        ),
    );
    let s = sink(
        &command_toml(
            &prog,
            "[\"--service\", \"{{ target }}\", \"{{ kind }} {{ severity }}\"]",
            "",
        ),
        std::slice::from_ref(&prog),
    );
    s.deliver(&rollback()).await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "--service|checkout|rollback error|ID=release/checkout/v42#open KEY=release/checkout/v42 HOME=unset\n"
    );
    std::fs::remove_file(out).unwrap();
    std::fs::remove_file(prog).unwrap();
}

#[tokio::test]
async fn echo_runs_and_newline_args_are_refused() {
    let echo = PathBuf::from("/bin/echo");
    let s = sink(
        &command_toml(&echo, "[\"{{ reason }}\"]", ""),
        std::slice::from_ref(&echo),
    );
    s.deliver(&rollback()).await.unwrap();
    let mut d = rollback();
    d.reason = "two\nlines".into();
    match s.deliver(&d).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("line break"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn exit_codes_and_timeout() {
    let temp = script("cmd-75", "echo 'lock busy' >&2\nexit 75");
    let s = sink(&command_toml(&temp, "[]", ""), std::slice::from_ref(&temp));
    match s.deliver(&rollback()).await {
        Err(DeliveryError::Retryable { reason, .. }) => {
            assert!(reason.contains("lock busy"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let fail = script(
        "cmd-1",
        &format!(
            "echo '{}' >&2\necho 'rollback refused: no previous release' >&2\nexit 1",
            "n".repeat(900)
        ),
    );
    let s = sink(&command_toml(&fail, "[]", ""), std::slice::from_ref(&fail));
    match s.deliver(&rollback()).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.starts_with("exit 1: "), "{reason}");
            assert!(
                reason.ends_with("rollback refused: no previous release"),
                "{reason}"
            );
            assert!(reason.chars().count() <= "exit 1: ".len() + STDERR_TAIL_CHARS);
        }
        other => panic!("{other:?}"),
    }
    // The child is killed at the timeout: it never reaches the `touch`.
    let marker = temp_path("slow-marker");
    let slow = script("cmd-slow", &format!("sleep 1\ntouch {}", marker.display()));
    let s = sink(
        &command_toml(&slow, "[]", "timeout = \"300ms\""),
        std::slice::from_ref(&slow),
    );
    let started = std::time::Instant::now();
    match s.deliver(&rollback()).await {
        Err(DeliveryError::Retryable { reason, .. }) => {
            assert!(reason.contains("timed out"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(900));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "timed-out command kept running");
    for p in [temp, fail, slow] {
        std::fs::remove_file(p).unwrap();
    }
}
