//! Log lines and the Python producers.

use super::*;

// ---------------------------------------------------------------------------
// Log lines and the Python clients

/// A log line in tocsin's envelope.
pub fn log_line(ts_ns: i64, service: &str, level: &str, trace_id: &str, client: &str) -> String {
    serde_json::json!({
        "ts": ts_ns / 1_000_000,
        "service": service,
        "host": format!("{service}-1"),
        "env": "test",
        "version": "1.0.0",
        "level": level,
        "message": format!("{level} handling request {trace_id}"),
        "trace_id": trace_id,
        "attributes": {"client": client},
    })
    .to_string()
}

/// The Python interpreter of the test venv, or a panic saying how to get it.
pub fn test_python() -> PathBuf {
    match std::env::var("TOCSIN_TEST_PYTHON") {
        Ok(p) if !p.is_empty() && Path::new(&p).exists() => PathBuf::from(p),
        Ok(p) if !p.is_empty() => panic!("TOCSIN_TEST_PYTHON={p} does not exist: {SETUP_HINT}"),
        _ => panic!(
            "TOCSIN_TEST_PYTHON is not set, so the confluent-kafka and kafka-python producers cannot run: {SETUP_HINT}"
        ),
    }
}

/// What a Python producer sends: `count` log lines of `service`, event times
/// from `base_ts_ms` every `step_ms`.
pub struct PyLines<'a> {
    /// Topic to produce to.
    pub topic: &'a str,
    /// How many lines.
    pub count: usize,
    /// Their service.
    pub service: &'a str,
    /// Event time of the first line, ms since the epoch.
    pub base_ts_ms: i64,
    /// Event-time step between lines, ms.
    pub step_ms: i64,
}

/// Runs `tests/python/produce.py` with `client` (`confluent` or `kafka-python`);
/// returns how many messages the client reported delivered.
pub fn python_produce(client: &str, brokers: &str, lines: PyLines<'_>, log: &Path) -> usize {
    let PyLines {
        topic,
        count,
        service,
        base_ts_ms,
        step_ms,
    } = lines;
    let python = test_python();
    let script = repo_path("tests/python/produce.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--client", client, "--brokers", brokers, "--topic", topic])
        .args(["--count", &count.to_string(), "--service", service])
        .args([
            "--base-ts-ms",
            &base_ts_ms.to_string(),
            "--step-ms",
            &step_ms.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} {}: {e}", python.display(), script.display()));
    let mut text = String::new();
    let _ = write!(
        text,
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::write(log, &text);
    assert!(
        out.status.success(),
        "the {client} producer failed ({}):\n{text}",
        out.status
    );
    let summary: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("the {client} producer printed no summary:\n{text}"));
    summary["delivered"]
        .as_u64()
        .unwrap_or_else(|| panic!("bad summary {summary}")) as usize
}
