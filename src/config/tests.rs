use super::*;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn quickstart_is_valid_and_embedded_with_simulator() {
    let c = Config::load(None, no_env()).unwrap();
    assert!(c.kafka.is_none());
    assert!(c.simulator.enabled);
    assert!(c.sinks.console.enabled);
    assert!(c.explain().contains("embedded"));
    assert!(
        c.explain().contains(
            "anomaly on: up to 100000 series; `*` both at score 0.28; anomalies of series silent for 15m resolve"
        ),
        "{}",
        c.explain()
    );
    assert!(c.explain().contains("log_patterns on"));
    assert!(c.explain().contains("capacity off (no resources)"));
}

#[test]
fn errors_name_the_line() {
    let text = "data_dir = \"x\"\n\n[pipeline]\nbatch_max_rows = \"many\"\n";
    let e = Config::from_toml(text, "t.toml", no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.toml"), "{e}");
    assert!(e.contains("line 4"), "{e}");

    let text = "[pipline]\nbatch_max_rows = 1\n";
    let e = Config::from_toml(text, "t.toml", no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("pipline"), "{e}");
}

#[test]
fn environment_overrides_nested_keys() {
    let env = vec![
        (
            "TOCSIN_KAFKA__BROKERS".to_string(),
            "127.0.0.1:1".to_string(),
        ),
        (
            "TOCSIN_PIPELINE__BATCH_MAX_ROWS".to_string(),
            "17".to_string(),
        ),
        (
            "TOCSIN_HTTP__LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        ),
        ("UNRELATED".to_string(), "x".to_string()),
        (
            "TOCSIN_TEST_PYTHON".to_string(),
            "/usr/bin/python3".to_string(),
        ),
    ];
    let c = Config::from_toml("", "t", env).unwrap();
    assert_eq!(c.kafka.unwrap().brokers, "127.0.0.1:1");
    assert_eq!(c.pipeline.batch_max_rows, 17);
    assert_eq!(c.http.listen.port(), 9999);

    // A misspelt key inside a known section is still an error.
    let env = vec![("TOCSIN_PIPELINE__BATCH_ROWS".to_string(), "1".to_string())];
    let e = Config::from_toml("", "t", env).unwrap_err().to_string();
    assert!(
        e.contains("TOCSIN_PIPELINE__BATCH_ROWS") && e.contains("batch_rows"),
        "{e}"
    );
}

#[test]
fn cross_field_checks() {
    let e = Config::from_toml("[http]\nlisten = \"0.0.0.0:8080\"\n", "t", no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("auth_token"), "{e}");
    let e = Config::from_toml(
        "[kafka]\nbrokers = \"b\"\n[[kafka.topics]]\nname = \"x\"\ntable = \"logs\"\nformat = \"xml\"\n",
        "t",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown format `xml`"), "{e}");
    let e = Config::from_toml(
        "[processors.error_rate]\nopen_threshold = 0.1\nresolve_threshold = 0.2\n",
        "t",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[processors.error_rate]"), "{e}");
}

#[test]
fn scale_out_shares_a_lake_and_refuses_the_simulator() {
    let text = "data_dir = \"a\"\nlake_dir = \"/shared/lake\"\n\n[kafka]\nbrokers = \"127.0.0.1:9092\"\nscale_out = true\n";
    let c = Config::from_toml(text, "t.toml", no_env()).unwrap();
    assert_eq!(c.lake_dir(), PathBuf::from("/shared/lake"));
    assert_eq!(c.state_dir(), PathBuf::from("a/state"));
    assert!(c.kafka.as_ref().unwrap().scale_out);
    assert!(
        c.explain().contains("/shared/lake/_tasks"),
        "{}",
        c.explain()
    );

    let e = Config::from_toml(
        &format!("{text}\n[simulator]\nenabled = true\n"),
        "t.toml",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("scale_out") && e.contains("simulator"), "{e}");

    let c = Config::from_toml("data_dir = \"a\"\n", "t.toml", no_env()).unwrap();
    assert_eq!(c.lake_dir(), PathBuf::from("a/lake"));
}
