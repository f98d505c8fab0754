//! The end-to-end test harness: a tansu broker, the `tocsin` binary, an HTTP
//! client for its API, Kafka helpers (rdkafka) and a webhook receiver.
//!
//! Everything runs on 127.0.0.1 in a temporary directory. Processes are
//! killed when their handle is dropped; when a test fails, the handles print
//! where the logs are and the temporary directory is kept for inspection.

// Each test binary (and benches/e2e.rs) uses a different part of the harness.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

/// The topics tocsin reads and writes in Kafka mode.
pub const TOPICS: [&str; 5] = [
    "tocsin.logs",
    "tocsin.metrics",
    "tocsin.alerts",
    "tocsin.decisions",
    "tocsin.deadletter",
];

/// What to run to get the broker and the Python clients.
pub const SETUP_HINT: &str =
    "run the tests with `bash scripts/test.sh`, which installs tansu and the Python clients";

mod kafka;
mod lake;
mod python;
mod tocsin;
mod webhook;

pub use kafka::*;
pub use lake::*;
pub use python::*;
pub use tocsin::*;
pub use webhook::*;

// ---------------------------------------------------------------------------
// Temporary directories

/// A temporary directory kept (and named on stderr) when the test fails.
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    /// A new empty directory named after the test.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tocsin-{name}-"))
            .tempdir()
            .expect("creating a temporary directory");
        let path = dir.path().to_owned();
        TestDir {
            dir: Some(dir),
            path,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        // TOCSIN_TEST_KEEP=1 keeps every directory (logs, lake) for a look.
        let keep = std::env::var_os("TOCSIN_TEST_KEEP").is_some_and(|v| v == "1");
        if (keep || std::thread::panicking())
            && let Some(d) = self.dir.take()
        {
            let kept = d.keep();
            eprintln!("[harness] kept {} for inspection", kept.display());
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers

/// A port that was free a moment ago on 127.0.0.1.
/// `rel` under the repository root. The root is read when the test runs
/// (`cargo test` sets `CARGO_MANIFEST_DIR`), not baked in when it was
/// compiled: a test binary cached from another checkout must not read, or
/// silently miss, that checkout's files.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join(rel)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// The last `n` lines of a file, for diagnostics.
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(f) = File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// Polls `f` every `every` until it returns `Some`, or panics after `timeout`
/// with `what` and the last value `describe` saw.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if started.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .expect("a date in range")
}

/// A child process with its combined output in a log file; killed on drop.
pub struct Proc {
    /// What it is, for messages.
    pub name: String,
    /// The process.
    pub child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let err = out.try_clone().expect("duplicating a file handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its exit status if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Panics with the log's tail when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.try_status() {
            panic!(
                "{} exited unexpectedly ({st}); log {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 60)
            );
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.pid();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let started = Instant::now();
        loop {
            if let Some(st) = self.try_status() {
                self.child = None;
                return st;
            }
            if started.elapsed() > timeout {
                let log = self.log.clone();
                self.kill();
                panic!(
                    "{} did not exit within {timeout:?} of SIGTERM; log {}:\n{}",
                    self.name,
                    log.display(),
                    tail(&log, 60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "[harness] {} log: {}\n--- last lines ---\n{}\n---",
                self.name,
                self.log.display(),
                tail(&self.log, 40)
            );
        }
        self.kill();
    }
}

/// A config body for tests that feed tocsin themselves: no simulator, no
/// console output, a flush every second.
pub const QUIET: &str = r#"
[pipeline]
flush_interval = "1s"

[simulator]
enabled = false

[sinks.console]
enabled = false
"#;

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(ns)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
