//! The end-to-end test harness: a tansu broker, the `tocsin` binary, an HTTP
//! client for its API, Kafka helpers (rdkafka) and a webhook receiver.
//!
//! Everything runs on 127.0.0.1 in a temporary directory. Processes are
//! killed when their handle is dropped; when a test fails, the handles print
//! where the logs are and the temporary directory is kept for inspection.

#![allow(dead_code)]

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
        if std::thread::panicking()
            && let Some(d) = self.dir.take()
        {
            let kept = d.keep();
            eprintln!(
                "[harness] test failed: kept {} for inspection",
                kept.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers

/// A port that was free a moment ago on 127.0.0.1.
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

// ---------------------------------------------------------------------------
// tansu

/// The tansu binary: `$TOCSIN_TANSU`, `~/.cargo/bin/tansu` or `tansu` on PATH.
pub fn tansu_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TOCSIN_TANSU")
        && !p.is_empty()
    {
        return PathBuf::from(p);
    }
    if let Ok(home) = std::env::var("HOME") {
        let p = Path::new(&home).join(".cargo/bin/tansu");
        if p.is_file() {
            return p;
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("tansu");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "the tansu broker is not installed (TOCSIN_TANSU unset, no ~/.cargo/bin/tansu, none on PATH): {SETUP_HINT}"
    );
}

/// A tansu broker with file-backed (sqlite) storage on a free loopback port.
pub struct Tansu {
    /// The broker process.
    pub proc: Proc,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    dir: PathBuf,
}

impl Tansu {
    /// Starts a broker in `dir` and creates `topics` (name, partitions).
    pub async fn start(dir: &Path, topics: &[(&str, i32)]) -> Tansu {
        let bin = tansu_binary();
        let dir = dir.join("tansu");
        fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(&bin);
        // The sqlite path is relative to the working directory.
        cmd.current_dir(&dir)
            .arg("broker")
            .args(["--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .env("RUST_LOG", "warn");
        let proc = Proc::spawn("tansu", cmd, &dir.join("tansu.log"));
        let mut t = Tansu {
            proc,
            addr: format!("127.0.0.1:{port}"),
            dir,
        };
        let started = Instant::now();
        while TcpStream::connect_timeout(&t.addr.parse().unwrap(), Duration::from_millis(200))
            .is_err()
        {
            t.proc.assert_running();
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tansu did not accept connections on {} within 30 s; log {}:\n{}",
                t.addr,
                t.proc.log.display(),
                tail(&t.proc.log, 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (name, partitions) in topics {
            t.create_topic(name, *partitions).await;
        }
        eprintln!(
            "[harness] tansu on {} ({} topics) ready in {:?}",
            t.addr,
            topics.len(),
            started.elapsed()
        );
        t
    }

    /// Starts a broker with the five tocsin topics, `logs_partitions` for `tocsin.logs`.
    pub async fn start_with_tocsin_topics(dir: &Path, logs_partitions: i32) -> Tansu {
        let topics: Vec<(&str, i32)> = TOPICS
            .iter()
            .map(|&t| {
                (
                    t,
                    if t == "tocsin.logs" {
                        logs_partitions
                    } else {
                        1
                    },
                )
            })
            .collect();
        Tansu::start(dir, &topics).await
    }

    /// Creates a topic with `tansu topic create` (retried while the broker warms up).
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let bin = tansu_binary();
        let broker = format!("tcp://{}", self.addr);
        let mut last = String::new();
        for attempt in 0..20 {
            let out = Command::new(&bin)
                .current_dir(&self.dir)
                .args(["topic", "create", "--broker", &broker, "--partitions"])
                .arg(partitions.to_string())
                .arg(name)
                .env("RUST_LOG", "warn")
                .output()
                .expect("running tansu topic create");
            if out.status.success() {
                // Wait until the topic shows in metadata with every partition.
                wait_for(
                    &format!("topic {name} in the metadata"),
                    Duration::from_secs(20),
                    Duration::from_millis(200),
                    || async { self.partitions(name).map(|_| ()) },
                )
                .await;
                return;
            }
            last = format!(
                "attempt {attempt}: {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("tansu topic create {name} failed: {last}");
    }

    /// The partitions of `topic`, from the broker's metadata.
    pub fn partitions(&self, topic: &str) -> Result<Vec<i32>, String> {
        let c: BaseConsumer = self.client().create().map_err(|e| e.to_string())?;
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| format!("no topic {topic}"))?;
        if let Some(e) = t.error() {
            return Err(format!("topic {topic}: {e:?}"));
        }
        let parts: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        if parts.is_empty() {
            return Err(format!("topic {topic} has no partitions yet"));
        }
        Ok(parts)
    }

    /// A client configuration for this broker.
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.addr);
        c
    }

    /// A producer that waits for every replica.
    pub fn producer(&self) -> rdkafka::producer::FutureProducer {
        self.client()
            .set("acks", "all")
            .set("linger.ms", "20")
            .set("message.timeout.ms", "120000")
            .create()
            .expect("creating an rdkafka producer")
    }

    /// Sum of the high watermarks of `topic` (messages ever written).
    pub fn message_count(&self, topic: &str) -> Result<i64, String> {
        let c: BaseConsumer = self.client().create().map_err(|e| e.to_string())?;
        let mut total = 0;
        for p in self.partitions(topic)? {
            let (lo, hi) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
            total += hi - lo;
        }
        Ok(total)
    }

    /// Every message in `topic` now, read from the beginning without a group.
    pub fn read_all(&self, topic: &str) -> Result<Vec<Record>, String> {
        let c: BaseConsumer = self
            .client()
            .set("group.id", "tocsin-e2e-reader")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        let mut tpl = TopicPartitionList::new();
        let mut want: BTreeMap<i32, i64> = BTreeMap::new();
        for p in self.partitions(topic)? {
            let (lo, hi) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
            if hi > lo {
                tpl.add_partition_offset(topic, p, Offset::Offset(lo))
                    .map_err(|e| e.to_string())?;
                want.insert(p, hi);
            }
        }
        let mut out = Vec::new();
        if want.is_empty() {
            return Ok(out);
        }
        c.assign(&tpl).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !want.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "reading {topic}: still missing messages up to {want:?} after 30 s ({} read)",
                    out.len()
                ));
            }
            let Some(m) = c.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = m.map_err(|e| format!("reading {topic}: {e}"))?;
            let mut headers = BTreeMap::new();
            if let Some(h) = m.headers() {
                for hd in h.iter() {
                    headers.insert(
                        hd.key.to_owned(),
                        hd.value
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default(),
                    );
                }
            }
            out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                headers,
            });
            if want
                .get(&m.partition())
                .is_some_and(|&hi| m.offset() + 1 >= hi)
            {
                want.remove(&m.partition());
            }
        }
        Ok(out)
    }
}

/// A message read back from Kafka.
#[derive(Debug, Clone)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers as strings.
    pub headers: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// tocsin

/// A running `tocsin run` with its own config, data directory and port.
pub struct Tocsin {
    /// The process (None between stop and start).
    pub proc: Option<Proc>,
    /// The config file.
    pub config: PathBuf,
    /// `<dir>/data`.
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    dir: PathBuf,
    starts: usize,
    http: reqwest::Client,
}

/// The path to the binary under test.
pub fn tocsin_binary() -> &'static str {
    env!("CARGO_BIN_EXE_tocsin")
}

/// A command running the binary under test. Every `TOCSIN_*` variable of the
/// test environment (`TOCSIN_TANSU`, `TOCSIN_TEST_PYTHON`, ...) is removed:
/// tocsin reads each one as a configuration override.
pub fn tocsin_command() -> Command {
    let mut cmd = Command::new(tocsin_binary());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TOCSIN_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

impl Tocsin {
    /// Writes `<dir>/tocsin.toml` from `body` (which must not set `data_dir`
    /// or `[http]`: they are added here) without starting anything.
    pub fn configure(dir: &Path, body: &str) -> Tocsin {
        let port = free_port();
        let data_dir = dir.join("data");
        let config = dir.join("tocsin.toml");
        let text = format!(
            "data_dir = {:?}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n{body}",
            data_dir.display().to_string()
        );
        fs::write(&config, text).expect("writing the config");
        Tocsin {
            proc: None,
            config,
            data_dir,
            base: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
            starts: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Configures and starts, waiting until `/readyz` answers 200.
    pub async fn start_with(dir: &Path, body: &str) -> Tocsin {
        let mut t = Tocsin::configure(dir, body);
        t.start().await;
        t
    }

    /// Starts (again) and waits until ready.
    pub async fn start(&mut self) {
        assert!(self.proc.is_none(), "tocsin is already running");
        self.starts += 1;
        let log = self.dir.join(format!("tocsin.{}.log", self.starts));
        let mut cmd = tocsin_command();
        cmd.arg("run")
            .arg("--config")
            .arg(&self.config)
            .current_dir(&self.dir)
            .env("RUST_LOG", "info");
        self.proc = Some(Proc::spawn(
            &format!("tocsin (start {})", self.starts),
            cmd,
            &log,
        ));
        let started = Instant::now();
        loop {
            self.assert_running();
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "tocsin was not ready within 60 s; log {}:\n{}",
                log.display(),
                tail(&log, 60)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "[harness] tocsin start {} ready in {:?} at {} (log {})",
            self.starts,
            started.elapsed(),
            self.base,
            log.display()
        );
    }

    /// The current log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("tocsin.{}.log", self.starts))
    }

    /// Panics with the log when the process has exited.
    pub fn assert_running(&mut self) {
        match self.proc.as_mut() {
            Some(p) => p.assert_running(),
            None => panic!("tocsin is not running"),
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM; returns the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut p = self.proc.take().expect("tocsin is not running");
        p.terminate(Duration::from_secs(60))
    }

    /// POSTs `sql`; the status and the body.
    pub async fn sql_raw(&self, sql: &str, arrow: bool) -> Result<(u16, Vec<u8>), String> {
        let url = if arrow {
            format!("{}/v1/sql?format=arrow", self.base)
        } else {
            format!("{}/v1/sql", self.base)
        };
        let r = self
            .http
            .post(url)
            .header("content-type", "text/plain")
            .body(sql.to_owned())
            .send()
            .await
            .map_err(|e| format!("POST /v1/sql: {e}"))?;
        let status = r.status().as_u16();
        let body = r
            .bytes()
            .await
            .map_err(|e| format!("reading /v1/sql: {e}"))?;
        Ok((status, body.to_vec()))
    }

    /// Runs `sql`; the rows as JSON objects. An error for any non-200 answer.
    pub async fn sql(&self, sql: &str) -> Result<Vec<Value>, String> {
        let (status, body) = self.sql_raw(sql, false).await?;
        let text = String::from_utf8_lossy(&body);
        if status != 200 {
            return Err(format!("{sql}: HTTP {status}: {text}"));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(rows)) => Ok(rows),
            _ => Err(format!("{sql}: not a JSON array: {text}")),
        }
    }

    /// Runs a query returning one row of integer columns.
    pub async fn sql_ints(&self, sql: &str) -> Result<Vec<i64>, String> {
        let rows = self.sql(sql).await?;
        let row = rows
            .first()
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{sql}: no row"))?;
        row.values()
            .map(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| format!("{sql}: not an integer: {v}"))
            })
            .collect()
    }

    /// `(count(*), count of distinct (topic, partition, offset))` of `table`.
    pub async fn counts(&self, table: &str, filter: &str) -> Result<(i64, i64), String> {
        let sql = format!(
            "SELECT count(*) AS n, count(DISTINCT _topic || '/' || CAST(_partition AS VARCHAR) || '/' || CAST(_offset AS VARCHAR)) AS d FROM {table} {filter}"
        );
        let v = self.sql_ints(&sql).await?;
        Ok((v[0], v[1]))
    }

    /// POSTs a body to `path`; status and parsed JSON (or the text as a string).
    pub async fn post(&self, path: &str, body: &str) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| e.to_string())?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, v))
    }

    /// GETs `path`; status and body text.
    pub async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.map_err(|e| e.to_string())?))
    }

    /// Waits until `count(*)` and the distinct-lineage count of `table` both
    /// equal `expected`, failing early when either exceeds it.
    pub async fn wait_for_rows(
        &mut self,
        table: &str,
        filter: &str,
        expected: i64,
        timeout: Duration,
    ) {
        let started = Instant::now();
        loop {
            self.assert_running();
            let last = match self.counts(table, filter).await {
                Ok((n, d)) if n == expected && d == expected => {
                    eprintln!("[harness] {table}: {n} rows after {:?}", started.elapsed());
                    return;
                }
                Ok((n, d)) => {
                    assert!(
                        n <= expected && d <= expected,
                        "{table} {filter}: count(*) = {n}, distinct lineage = {d}, but only {expected} were produced"
                    );
                    format!("count(*) = {n}, distinct lineage = {d}")
                }
                Err(e) => e,
            };
            if started.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {expected} rows in {table} {filter}; last: {last}; tocsin log {}",
                    self.log().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Tocsin {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[harness] tocsin config {}:\n{}",
                self.config.display(),
                fs::read_to_string(&self.config).unwrap_or_default()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Lake files

/// Every segment file of `table` under the lake: (topic, partition, first, last).
pub fn lake_segments(data_dir: &Path, table: &str) -> Vec<(String, i32, i64, i64)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&data_dir.join("lake").join(table), &mut files);
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".parquet") else {
            continue;
        };
        let parts: Vec<&str> = stem.rsplitn(4, '+').collect();
        assert_eq!(parts.len(), 4, "unexpected lake file name {}", f.display());
        out.push((
            parts[3].to_owned(),
            parts[2].parse().expect("partition"),
            parts[1].parse().expect("first offset"),
            parts[0].parse().expect("last offset"),
        ));
    }
    out.sort();
    out.dedup();
    out
}

/// Asserts that no two segment files of a partition cover the same offset.
pub fn assert_segments_disjoint(segments: &[(String, i32, i64, i64)]) {
    let mut by_partition: BTreeMap<(String, i32), Vec<(i64, i64)>> = BTreeMap::new();
    for (t, p, a, b) in segments {
        assert!(a <= b, "segment {t}+{p}+{a}+{b} is empty or reversed");
        by_partition
            .entry((t.clone(), *p))
            .or_default()
            .push((*a, *b));
    }
    for ((t, p), mut ranges) in by_partition {
        ranges.sort();
        for w in ranges.windows(2) {
            assert!(
                w[0].1 < w[1].0,
                "lake segments of {t}/{p} overlap: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Webhook receiver

/// A local HTTP server that records every JSON body POSTed to it.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// The bodies received, in order.
    pub received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts the receiver on a free loopback port; it answers 200 to valid JSON.
    pub async fn start() -> WebhookReceiver {
        use axum::Router;
        use axum::body::Bytes;
        use axum::http::StatusCode;
        use axum::routing::post;
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = received.clone();
        let app = Router::new().route(
            "/hook",
            post(move |body: Bytes| {
                let seen = seen.clone();
                async move {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => {
                            seen.lock().unwrap().push(v);
                            (StatusCode::OK, "ok")
                        }
                        Err(_) => (StatusCode::BAD_REQUEST, "not JSON"),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("binding the webhook receiver");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            received,
            task,
        }
    }

    /// A copy of what was received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/produce.py");
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

// ---------------------------------------------------------------------------
// Producing with rdkafka

/// Produces every `(key, payload)` to `topic` and waits for the broker's
/// acknowledgements; returns `(partition, offset)` of each, in order.
pub async fn produce_all(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    messages: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Vec<(i32, i64)> {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{DeliveryFuture, FutureRecord};
    use std::collections::VecDeque;

    async fn settle(f: DeliveryFuture) -> (i32, i64) {
        match f.await {
            Ok(Ok(d)) => (d.partition, d.offset),
            Ok(Err((e, _))) => panic!("rdkafka delivery failed: {e}"),
            Err(_) => panic!("rdkafka delivery cancelled"),
        }
    }

    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut done = Vec::new();
    for (key, payload) in messages {
        loop {
            let record = FutureRecord::to(topic)
                .key(key.as_bytes())
                .payload(payload.as_slice());
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push_back(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    match pending.pop_front() {
                        Some(f) => done.push(settle(f).await),
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((e, _)) => panic!("rdkafka produce to {topic} failed: {e}"),
            }
        }
        if pending.len() >= 20_000 {
            done.push(settle(pending.pop_front().unwrap()).await);
        }
    }
    while let Some(f) = pending.pop_front() {
        done.push(settle(f).await);
    }
    done
}
