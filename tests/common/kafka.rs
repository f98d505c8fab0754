//! The tansu broker and producing with rdkafka.

use super::*;

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

const SQLITE_STORAGE: &str = "sqlite://tansu.db";

/// tansu's storage: file-backed sqlite, or with
/// `TOCSIN_TEST_TANSU_STORAGE=memory` its in-memory engine, to measure how
/// much of a scenario's time is the broker's storage (scenarios that
/// restart the broker need sqlite).
fn storage_engine() -> &'static str {
    match std::env::var("TOCSIN_TEST_TANSU_STORAGE").as_deref() {
        Ok("memory") => "memory://tansu/",
        _ => SQLITE_STORAGE,
    }
}

/// A tansu broker with file-backed (sqlite) storage on a free loopback port.
pub struct Tansu {
    /// The broker process.
    pub proc: Proc,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    dir: PathBuf,
    starts: usize,
}

impl Tansu {
    /// Starts a broker in `dir` and creates `topics` (name, partitions).
    pub async fn start(dir: &Path, topics: &[(&str, i32)]) -> Tansu {
        let dir = dir.join("tansu");
        fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let mut t = Tansu {
            proc: Tansu::spawn(&dir, port, 1),
            addr: format!("127.0.0.1:{port}"),
            dir,
            starts: 1,
        };
        let started = Instant::now();
        t.wait_listening().await;
        t.index_headers();
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

    fn spawn(dir: &Path, port: u16, start: usize) -> Proc {
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(tansu_binary());
        // The sqlite path is relative to the working directory.
        cmd.current_dir(dir)
            .arg("broker")
            .args(["--storage-engine", storage_engine()])
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            // TOCSIN_TEST_TANSU_LOG sets the broker's log filter (e.g.
            // `info,tansu_broker::coordinator=debug` for group membership).
            .env(
                "RUST_LOG",
                std::env::var("TOCSIN_TEST_TANSU_LOG").unwrap_or_else(|_| "warn".to_owned()),
            );
        Proc::spawn(
            &format!("tansu (start {start})"),
            cmd,
            &dir.join(format!("tansu.{start}.log")),
        )
    }

    async fn wait_listening(&mut self) {
        let started = Instant::now();
        while TcpStream::connect_timeout(&self.addr.parse().unwrap(), Duration::from_millis(200))
            .is_err()
        {
            self.proc.assert_running();
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tansu did not accept connections on {} within 30 s; log {}:\n{}",
                self.addr,
                self.proc.log.display(),
                tail(&self.proc.log, 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// tansu 0.6's sqlite schema has no index on record headers, so once a
    /// topic holds messages with headers (tocsin's dead letters carry one)
    /// every fetch scans the whole header table and the broker spins at
    /// 100 % CPU. Adds the index (sqlite through Python's standard library).
    fn index_headers(&self) {
        if storage_engine() != SQLITE_STORAGE {
            return;
        }
        let db = self.dir.join("tansu.db");
        let script = "import sqlite3, sys, time\n\
            for _ in range(100):\n\
            \x20   try:\n\
            \x20       c = sqlite3.connect(sys.argv[1], timeout=30)\n\
            \x20       c.execute('CREATE INDEX IF NOT EXISTS header_by_record ON header (topition, offset_id)')\n\
            \x20       c.commit()\n\
            \x20       break\n\
            \x20   except sqlite3.OperationalError:\n\
            \x20       time.sleep(0.1)\n\
            else:\n\
            \x20   sys.exit('no header table in ' + sys.argv[1])\n";
        let python = std::env::var("TOCSIN_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let out = Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(&db)
            .output()
            .expect("running python3 to index tansu's headers");
        assert!(
            out.status.success(),
            "indexing tansu's header table failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the broker (SIGTERM); its data stays in its directory.
    pub fn stop(&mut self) {
        self.proc.terminate(Duration::from_secs(30));
    }

    /// Starts the broker again on the same address and data.
    pub async fn restart(&mut self) {
        self.starts += 1;
        let port: u16 = self
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the broker address");
        self.proc = Tansu::spawn(&self.dir, port, self.starts);
        self.wait_listening().await;
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
