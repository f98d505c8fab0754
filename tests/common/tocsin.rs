//! The `tocsin` binary under test and its HTTP API.

use super::*;

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
    /// Port of the PostgreSQL front end.
    pub pg_port: u16,
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
        Tocsin::configure_with_top(dir, "", body)
    }

    /// Like [`Tocsin::configure`], with `top` (top-level keys such as
    /// `lake_dir`) written before the first table.
    pub fn configure_with_top(dir: &Path, top: &str, body: &str) -> Tocsin {
        let port = free_port();
        let pg_port = free_port();
        let data_dir = dir.join("data");
        let config = dir.join("tocsin.toml");
        // Every instance gets its own PostgreSQL port, so tests running at
        // once do not race for 5432.
        let text = format!(
            "data_dir = {:?}\n{top}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n[postgres]\nlisten = \"127.0.0.1:{pg_port}\"\n\n{body}",
            data_dir.display().to_string()
        );
        fs::write(&config, text).expect("writing the config");
        Tocsin {
            proc: None,
            config,
            data_dir,
            base: format!("http://127.0.0.1:{port}"),
            pg_port,
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
            // TOCSIN_TEST_RUST_LOG sets the binary's log filter (e.g.
            // `info,tocsin::pipeline::flush=debug` for flush timings).
            .env(
                "RUST_LOG",
                std::env::var("TOCSIN_TEST_RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
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

    /// Runs `sql` until it returns a row or `timeout` passes; returns the
    /// last result (empty after the timeout, for the caller to assert on).
    pub async fn sql_until_rows(&self, sql: &str, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let rows = self.sql(sql).await.unwrap();
            if !rows.is_empty() || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
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
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_owned());
        Self::send(path, req).await
    }

    /// POSTs JSON (with its content type) to `path`; status and parsed JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        Self::send(path, req).await
    }

    async fn send(path: &str, req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
        let r = req.send().await.map_err(|e| format!("POST {path}: {e}"))?;
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
