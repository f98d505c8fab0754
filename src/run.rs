//! `tocsin run`: wires sources, the pipeline, sinks and the HTTP server
//! together and drives the main loop until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tocsin_ingest::kafka::KafkaHealth;
use tocsin_ingest::simulator::{SimulatedLine, Simulator};
use tocsin_ingest::{LakeLayout, Table};
use tocsin_queries::{HotStore, QueryEngine};
use tocsin_sinks::delivery::Parked;
use tocsin_sinks::kafka::KafkaOutbox;
use tocsin_sinks::{LakeWriter, wait_for_shutdown};
use tokio::sync::{mpsc, watch};

use crate::checkpoint::CheckpointStore;
use crate::config::Config;
use crate::delivery::Sinks;
use crate::metrics::Metrics;
use crate::pipeline::{InMessage, Outcome};
use crate::server::{self, AppState, IngestReport, IngestRequest, LineError};
use crate::tasks::{PipelineFactory, SIMULATOR_SOURCES, TaskSet};

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Runs until SIGTERM or Ctrl-C, then drains, flushes and commits.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let layout = LakeLayout::new(cfg.lake_dir());
    // Creates the lake's directories before anything queries it.
    LakeWriter::new(layout.clone()).context("opening the lake")?;
    let hot = Arc::new(HotStore::new());
    let engine = Arc::new(QueryEngine::try_new(&layout, hot.clone(), &cfg.query)?);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let scale_out = cfg.kafka.as_ref().is_some_and(|k| k.scale_out);

    let consumer: Option<StreamConsumer<KafkaHealth>> = match &cfg.kafka {
        Some(k) => Some(k.consumer().context("creating the Kafka consumer")?),
        None => None,
    };
    if let (Some(c), Some(k)) = (&consumer, &cfg.kafka)
        && k.scale_out
    {
        check_co_partitioned(c, k)?;
    }
    let kafka_health = consumer.as_ref().map(|c| c.client().context().clone());
    let outbox = match &cfg.kafka {
        Some(k) => Some(Arc::new(
            KafkaOutbox::new(&k.client_config(), &k.decisions_topic, &k.deadletter_topic)
                .context("creating the Kafka producer")?,
        )),
        None => None,
    };

    // Sinks start before recovery so that `/metrics` knows them; their
    // outbox readers start after it, from the durable epoch (which only
    // the embedded mode's lake outbox uses).
    let durable_epoch = match scale_out {
        false => CheckpointStore::open(&cfg.state_dir())?
            .load()?
            .map_or(0, |c| c.epoch),
        true => 0,
    };
    let (mut sinks, mut parked) = Sinks::start(&cfg, durable_epoch, &shutdown_rx)?;
    let metrics = Arc::new(Metrics::new(sinks.stats.clone(), kafka_health.clone()));

    let factory = PipelineFactory {
        cfg: cfg.clone(),
        layout: layout.clone(),
        hot,
        metrics: metrics.clone(),
        outbox,
    };
    let mut tasks = if scale_out {
        TaskSet::per_partition(factory)
    } else {
        TaskSet::whole_instance(factory)?
    };
    // A compaction pass that stopped after renaming its merged file left
    // the inputs beside it; drop them before anything is queried.
    let subsumed = tocsin_sinks::compaction::remove_all_subsumed(&layout)
        .context("finishing an interrupted lake compaction")?;
    if subsumed > 0 {
        tracing::info!(
            files = subsumed,
            "removed files an interrupted compaction had merged"
        );
    }
    let durable_epoch = tasks.whole().map_or(0, |p| p.durable_epoch());
    for feed in sinks.start_outboxes(&cfg, &layout, durable_epoch, &shutdown_rx) {
        tasks.add_sink_feed(feed);
    }

    // HTTP.
    let ready = Arc::new(AtomicBool::new(false));
    let (ingest_tx, mut ingest_rx) = mpsc::channel::<IngestRequest>(64);
    let state = AppState {
        engine,
        metrics: metrics.clone(),
        ingest: ingest_tx,
        ready: ready.clone(),
        kafka: kafka_health,
        token: cfg.http.token()?.map(Arc::from),
        ingest_timeout: Duration::from_secs(30),
        silences: crate::silences::SilenceStore::new(cfg.silences_path()),
        gateway: match &cfg.kafka {
            Some(k) => Some(Arc::new(
                tocsin_ingest::gateway::KafkaGateway::new(k, Duration::from_secs(30))
                    .context("creating the receivers' Kafka producer")?,
            )),
            None => None,
        },
    };
    let postgres_engine = state.engine.clone();
    let postgres_token = state.token.clone();
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.http.listen))?;
    start_postgres(
        &cfg.postgres,
        postgres_engine,
        postgres_token,
        shutdown_rx.clone(),
    )
    .await?;
    let mut http_shutdown = shutdown_rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, server::router(state))
            .with_graceful_shutdown(async move {
                wait_for_shutdown(&mut http_shutdown).await;
            })
            .await
    });

    // Simulator.
    let (sim_tx, mut sim_rx) = mpsc::channel::<Vec<SimulatedLine>>(16);
    if cfg.simulator.enabled {
        let mut sim = Simulator::new(cfg.simulator.clone(), now_ns());
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        if sim_tx.send(sim.tick(now_ns())).await.is_err() {
                            break;
                        }
                    }
                    _ = wait_for_shutdown(&mut stop) => break,
                }
            }
        });
    }

    ready.store(true, Ordering::Relaxed);
    tracing::info!(
        listen = %cfg.http.listen,
        lake = %cfg.lake_dir().display(),
        mode = if cfg.kafka.is_some() { "kafka" } else { "embedded" },
        "tocsin is running"
    );

    // Lingering batches are sealed and due flushes started on this tick:
    // it bounds how late a lone alert is processed and a decision flushed.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut last_retention: Option<std::time::Instant> = None;
    let mut receive_errors = tocsin_ingest::kafka::LogEverySecond::default();
    // At most one compaction pass at a time, off the main loop: it only
    // rewrites committed files of finished hours, which nothing else writes.
    let mut compaction: Option<tokio::task::JoinHandle<()>> = None;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    // Refused decisions wait here while no task is owned (scale-out).
    let mut unparked: Vec<Parked> = Vec::new();
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            Some(req) = ingest_rx.recv() => handle_ingest(&mut tasks, req)?,
            Some(p) = parked.recv() => unparked.push(p),
            Some(lines) = sim_rx.recv() => {
                if let Some(pipeline) = tasks.whole() {
                    for l in lines {
                        let source = if l.table == Table::Logs { SIMULATOR_SOURCES[0].0 } else { SIMULATOR_SOURCES[1].0 };
                        let offset = pipeline.next_embedded_offset(source);
                        pipeline.ingest(InMessage {
                            topic: source, partition: 0, offset, key: None, payload: &l.line, received_ns: now_ns(),
                        })?;
                    }
                }
            }
            msg = recv(consumer.as_ref()) => {
                // A rebalance is reported while the consumer is polled: act
                // on it before the message, which may be of a partition
                // just assigned.
                apply_rebalances(&mut tasks, consumer.as_ref()).await?;
                match msg {
                Ok(m) => {
                    if let Some(c) = consumer.as_ref() {
                        c.client().context().saw_message();
                    }
                    let received_ns = m.timestamp().to_millis().map_or_else(now_ns, |ms| ms.saturating_mul(1_000_000));
                    match tasks.for_partition(m.partition()) {
                        Some(pipeline) => {
                            pipeline.ingest(InMessage {
                                topic: m.topic(),
                                partition: m.partition(),
                                offset: m.offset(),
                                key: m.key(),
                                payload: m.payload().unwrap_or_default(),
                                received_ns,
                            })?;
                        }
                        // Not committed here, so its owner reads it.
                        None => tracing::debug!(topic = m.topic(), partition = m.partition(), "message of a partition this instance does not own; left to its owner"),
                    }
                }
                Err(e) => {
                    if let Some(errors) = receive_errors.occurred() {
                        tracing::warn!(error = %e, errors, "kafka receive failed");
                    }
                    // Errors are events in the consumer's queue, in order
                    // with the statistics that tell the brokers are back:
                    // taking them slowly (this was 200 ms each) left a
                    // backlog that held readiness 20 s past an outage. The
                    // millisecond only keeps a repeating error from spinning.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                }
            },
            _ = tick.tick() => {
                apply_rebalances(&mut tasks, consumer.as_ref()).await?;
                if last_retention.is_none_or(|t| t.elapsed() >= cfg.lake.check_every) {
                    last_retention = Some(std::time::Instant::now());
                    apply_retention(&layout, &cfg.lake).await;
                    if cfg.lake.compaction.enabled && compaction.as_ref().is_none_or(|h| h.is_finished()) {
                        compaction = Some(start_compaction(&layout, &cfg.lake.compaction, tasks.committed_offsets()));
                    }
                }
                park_all(&mut tasks, &mut unparked)?;
                tasks.seal_lingering()?;
                flush_and_commit(&mut tasks, consumer.as_ref(), CommitMode::Async, false).await;
            }
        }
        tasks.publish_hot().await;
    }

    tracing::info!("shutting down: flushing and committing");
    ready.store(false, Ordering::Relaxed);
    apply_rebalances(&mut tasks, consumer.as_ref()).await?;
    park_all(&mut tasks, &mut unparked)?;
    let mut flushed = false;
    for _ in 0..5 {
        if flush_and_commit(&mut tasks, consumer.as_ref(), CommitMode::Sync, true).await {
            flushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if !flushed {
        tasks.fail_acks("shutdown before the rows were durable");
        tracing::error!("the last flush failed; unflushed input will be read again on restart");
    }
    // Embedded sinks get a moment to deliver what they hold; over Kafka the
    // readers stop at once. Either way the rest is delivered after the next
    // start, from the outbox. Refusals met meanwhile still reach the
    // dead-letter path.
    tasks.close_sink_feeds();
    let grace = if cfg.kafka.is_none() {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    let stop = sinks.stop(grace, &shutdown_tx);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(p) = parked.recv() => unparked.push(p),
        }
    }
    while let Ok(p) = parked.try_recv() {
        unparked.push(p);
    }
    if !unparked.is_empty() {
        park_all(&mut tasks, &mut unparked)?;
        flush_and_commit(&mut tasks, consumer.as_ref(), CommitMode::Sync, true).await;
    }
    if !unparked.is_empty() {
        tracing::error!(
            decisions = unparked.len(),
            "refused decisions not kept: this instance owns no partition"
        );
    }
    drop(tasks);
    let _ = shutdown_tx.send(true);
    let _ = http.await;
    Ok(())
}

/// Applies the rebalances the consumer reported since the last call.
async fn apply_rebalances(
    tasks: &mut TaskSet,
    consumer: Option<&StreamConsumer<KafkaHealth>>,
) -> anyhow::Result<()> {
    let Some(c) = consumer else {
        return Ok(());
    };
    let events = c.client().context().take_rebalances();
    if !events.is_empty() {
        tasks.rebalanced(events).await?;
    }
    Ok(())
}

/// Hands refused decisions to a task for the dead-letter path; those no
/// task can take yet stay in `unparked`.
fn park_all(tasks: &mut TaskSet, unparked: &mut Vec<Parked>) -> anyhow::Result<()> {
    let mut kept = 0;
    for p in unparked.iter() {
        if !tasks.park(p)? {
            break;
        }
        kept += 1;
    }
    unparked.drain(..kept);
    Ok(())
}

/// With `[kafka] scale_out` a task is a partition number of every topic,
/// so the topics must have as many partitions each. Brokers that cannot be
/// asked now are not a reason to refuse to start.
fn check_co_partitioned(
    consumer: &StreamConsumer<KafkaHealth>,
    k: &tocsin_ingest::kafka::KafkaConfig,
) -> anyhow::Result<()> {
    let metadata = match tokio::task::block_in_place(|| {
        consumer.fetch_metadata(None, Duration::from_secs(10))
    }) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot check that the topics have equal partition counts");
            return Ok(());
        }
    };
    let counts: std::collections::BTreeMap<&str, usize> = k
        .topics
        .iter()
        .filter_map(|t| {
            let m = metadata.topics().iter().find(|m| m.name() == t.name)?;
            Some((t.name.as_str(), m.partitions().len()))
        })
        .collect();
    let distinct: std::collections::BTreeSet<usize> = counts.values().copied().collect();
    if distinct.len() > 1 {
        anyhow::bail!(
            "[kafka] scale_out needs every topic with the same number of partitions (a task is a partition number of every topic); they have {}",
            counts
                .iter()
                .map(|(t, n)| format!("{t}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

async fn recv(
    consumer: Option<&StreamConsumer<KafkaHealth>>,
) -> Result<rdkafka::message::BorrowedMessage<'_>, rdkafka::error::KafkaError> {
    match consumer {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// Flushes the tasks whose flush is due (`all`: every task) and commits
/// the offsets made durable; false when a flush failed.
async fn flush_and_commit(
    tasks: &mut TaskSet,
    consumer: Option<&StreamConsumer<KafkaHealth>>,
    mode: CommitMode,
    all: bool,
) -> bool {
    let (commits, ok) = tasks.flush(all).await;
    if let Some(c) = consumer
        && !commits.is_empty()
    {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, next) in &commits {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next)) {
                tracing::warn!(error = %e, topic, partition, "cannot commit");
            }
        }
        // The checkpoint already records these offsets; a failed commit only
        // means some messages are read again and skipped.
        if let Err(e) = c.commit(&tpl, mode) {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
    ok
}

/// Starts the PostgreSQL front end when enabled. A taken default port is a
/// warning (a real PostgreSQL may own it); a configured address that cannot
/// be bound is an error.
async fn start_postgres(
    cfg: &tocsin_queries::PostgresConfig,
    engine: Arc<tocsin_queries::QueryEngine>,
    token: Option<Arc<str>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if !cfg.enabled {
        return Ok(());
    }
    let addr = cfg.address();
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if cfg.listen.is_none() => {
            tracing::warn!(
                %addr, error = %e,
                "PostgreSQL front end not started; set [postgres] listen to another address"
            );
            return Ok(());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("[postgres] listening on {addr}"));
        }
    };
    tracing::info!(%addr, "PostgreSQL front end listening");
    let max = cfg.max_connections;
    tokio::spawn(async move {
        if let Err(e) =
            tocsin_queries::serve_postgres(listener, &engine, token, max, shutdown).await
        {
            tracing::error!(error = %e, "PostgreSQL front end stopped");
        }
    });
    Ok(())
}

fn handle_ingest(tasks: &mut TaskSet, req: IngestRequest) -> anyhow::Result<()> {
    let Some(pipeline) = tasks.whole() else {
        // Scale-out instances share work through Kafka only: rows of an
        // embedded source would sit in one instance's task.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(Err(format!(
            "no Kafka topic takes `{}`, and with [kafka] scale_out every ingest goes through one",
            req.source
        )));
        let _ = req.reply.send((IngestReport::default(), rx));
        return Ok(());
    };
    let mut report = IngestReport::default();
    let received_ns = now_ns();
    // A document (a webhook body, a scanner report) is one message however
    // many lines it spans; other formats are one message per line, so one
    // bad line is refused alone.
    let documents = pipeline.takes_documents(&req.source);
    let messages: Vec<&[u8]> = if documents {
        vec![&req.body[..]]
    } else {
        req.body.split(|&b| b == b'\n').collect()
    };
    for (i, line) in messages.into_iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let offset = pipeline.next_embedded_offset(&req.source);
        match pipeline.ingest(InMessage {
            topic: &req.source,
            partition: 0,
            offset,
            key: None,
            payload: line,
            received_ns,
        })? {
            // A document counts the records it held (alerts, findings).
            Outcome::Rows(n) if documents => report.accepted += n,
            Outcome::Rows(_) => report.accepted += 1,
            Outcome::DeadLettered(e) => {
                report.rejected += 1;
                if report.errors.len() < 100 {
                    report.errors.push(LineError {
                        line: i + 1,
                        error: e.to_string(),
                    });
                }
            }
            Outcome::Skipped => {}
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    pipeline.ack_on_flush(tx);
    let _ = req.reply.send((report, rx));
    Ok(())
}

/// Starts a compaction pass in the background (see `tocsin_sinks::compaction`).
fn start_compaction(
    layout: &LakeLayout,
    cfg: &tocsin_sinks::compaction::CompactionConfig,
    committed: std::collections::BTreeMap<(String, i32), i64>,
) -> tokio::task::JoinHandle<()> {
    let (layout, cfg) = (layout.clone(), cfg.clone());
    tokio::task::spawn_blocking(move || {
        match tocsin_sinks::compaction::compact_lake(&layout, &committed, &cfg, now_ns()) {
            Ok(r) if r.files_in > 0 || r.subsumed > 0 => tracing::info!(
                files_in = r.files_in,
                files_out = r.files_out,
                rows = r.rows,
                subsumed = r.subsumed,
                "compacted lake partitions"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "compaction failed; trying again later"),
        }
    })
}

/// Drops lake partitions past their table's retention; runs between
/// flushes, so nothing is being written under a removed directory.
async fn apply_retention(layout: &LakeLayout, cfg: &tocsin_sinks::retention::RetentionConfig) {
    let (layout, cfg) = (layout.clone(), cfg.clone());
    let result = tokio::task::spawn_blocking(move || {
        tocsin_sinks::retention::apply_retention(&layout, &cfg, now_ns())
    })
    .await;
    match result {
        Ok(Ok(r)) if r.partitions > 0 => {
            tracing::info!(
                partitions = r.partitions,
                files = r.files,
                "retention removed old lake partitions"
            )
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "retention failed; trying again later"),
        Err(e) => tracing::warn!(error = %e, "retention task failed"),
    }
}
