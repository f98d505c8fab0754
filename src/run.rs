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
use tocsin_ingest::{LakeLayout, Table, decoder_for};
use tocsin_queries::{HotStore, QueryEngine};
use tocsin_sinks::kafka::KafkaOutbox;
use tocsin_sinks::{LakeWriter, wait_for_shutdown};
use tokio::sync::{mpsc, watch};

use crate::checkpoint::CheckpointStore;
use crate::config::Config;
use crate::delivery::Sinks;
use crate::metrics::Metrics;
use crate::pipeline::{InMessage, Outcome, Pipeline, PipelineParts, Route};
use crate::server::{self, AppState, IngestReport, IngestRequest, LineError};

const SIMULATOR_SOURCES: [(&str, Table); 2] = [
    ("simulator.logs", Table::Logs),
    ("simulator.metrics", Table::Metrics),
];

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Runs until SIGTERM or Ctrl-C, then drains, flushes and commits.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let layout = LakeLayout::new(cfg.lake_dir());
    let lake = LakeWriter::new(layout.clone()).context("opening the lake")?;
    let hot = Arc::new(HotStore::new());
    let engine = Arc::new(QueryEngine::try_new(&layout, hot.clone(), &cfg.query)?);
    let checkpoints = CheckpointStore::open(&cfg.state_dir())?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let consumer: Option<StreamConsumer<KafkaHealth>> = match &cfg.kafka {
        Some(k) => Some(k.consumer().context("creating the Kafka consumer")?),
        None => None,
    };
    let kafka_health = consumer.as_ref().map(|c| c.client().context().clone());
    let outbox = match &cfg.kafka {
        Some(k) => Some(Arc::new(
            KafkaOutbox::new(&k.client_config(), &k.decisions_topic, &k.deadletter_topic)
                .context("creating the Kafka producer")?,
        )),
        None => None,
    };

    // Sinks start before recovery so that `/metrics` knows them; their
    // outbox readers start after it, from the durable epoch.
    let durable_epoch = checkpoints.load()?.map_or(0, |c| c.epoch);
    let (mut sinks, mut parked) = Sinks::start(&cfg, durable_epoch, &shutdown_rx)?;
    let metrics = Arc::new(Metrics::new(sinks.stats.clone(), kafka_health.clone()));

    let mut pipeline = Pipeline::recover(PipelineParts {
        cfg: cfg.pipeline.clone(),
        lake,
        hot,
        checkpoints,
        processors: tocsin_processors::registry::build(&cfg.processors_config())
            .map_err(|e| anyhow::anyhow!(e))?,
        metrics: metrics.clone(),
        outbox,
        sink_feeds: Vec::new(),
    })?;
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
    for feed in sinks.start_outboxes(&cfg, &layout, pipeline.durable_epoch(), &shutdown_rx) {
        pipeline.add_sink_feed(feed);
    }
    let limits = pipeline.limits();
    let route = |table: Table, format: &str, from_kafka: bool| -> anyhow::Result<Route> {
        Ok(Route {
            table,
            decoder: decoder_for(table, format, limits).map_err(anyhow::Error::msg)?,
            from_kafka,
        })
    };
    for table in Table::ALL {
        for format in tocsin_ingest::decode::formats_for(table) {
            if let Some(source) = server::ingest_source(table, format) {
                pipeline.add_route(&source, route(table, format, false)?);
            }
        }
    }
    for (source, table) in SIMULATOR_SOURCES {
        pipeline.add_route(source, route(table, "json", false)?);
    }
    if let Some(k) = &cfg.kafka {
        for t in &k.topics {
            pipeline.add_route(&t.name, route(t.table, &t.format, true)?);
        }
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
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            Some(req) = ingest_rx.recv() => handle_ingest(&mut pipeline, req)?,
            Some(p) = parked.recv() => pipeline.park(&p)?,
            Some(lines) = sim_rx.recv() => {
                for l in lines {
                    let source = if l.table == Table::Logs { SIMULATOR_SOURCES[0].0 } else { SIMULATOR_SOURCES[1].0 };
                    let offset = pipeline.next_embedded_offset(source);
                    pipeline.ingest(InMessage {
                        topic: source, partition: 0, offset, key: None, payload: &l.line, received_ns: now_ns(),
                    })?;
                }
            }
            msg = recv(consumer.as_ref()) => match msg {
                Ok(m) => {
                    if let Some(c) = consumer.as_ref() {
                        c.client().context().saw_message();
                    }
                    let received_ns = m.timestamp().to_millis().map_or_else(now_ns, |ms| ms.saturating_mul(1_000_000));
                    pipeline.ingest(InMessage {
                        topic: m.topic(),
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key(),
                        payload: m.payload().unwrap_or_default(),
                        received_ns,
                    })?;
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
            },
            _ = tick.tick() => {
                if last_retention.is_none_or(|t| t.elapsed() >= cfg.lake.check_every) {
                    last_retention = Some(std::time::Instant::now());
                    apply_retention(&layout, &cfg.lake).await;
                    if cfg.lake.compaction.enabled && compaction.as_ref().is_none_or(|h| h.is_finished()) {
                        compaction = Some(start_compaction(&layout, &cfg.lake.compaction, pipeline.committed_offsets()));
                    }
                }
                pipeline.seal_lingering()?;
                if pipeline.flush_due() {
                    flush_and_commit(&mut pipeline, consumer.as_ref(), CommitMode::Async).await;
                }
            }
        }
        pipeline.publish_hot().await;
    }

    tracing::info!("shutting down: flushing and committing");
    ready.store(false, Ordering::Relaxed);
    let mut flushed = false;
    for _ in 0..5 {
        if flush_and_commit(&mut pipeline, consumer.as_ref(), CommitMode::Sync).await {
            flushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if !flushed {
        pipeline.fail_acks("shutdown before the rows were durable");
        tracing::error!("the last flush failed; unflushed input will be read again on restart");
    }
    // Embedded sinks get a moment to deliver what they hold; over Kafka the
    // readers stop at once. Either way the rest is delivered after the next
    // start, from the outbox. Refusals met meanwhile still reach the
    // dead-letter path.
    pipeline.close_sink_feeds();
    let grace = if cfg.kafka.is_none() {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    let stop = sinks.stop(grace, &shutdown_tx);
    tokio::pin!(stop);
    let mut parked_any = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(p) = parked.recv() => { pipeline.park(&p)?; parked_any = true; }
        }
    }
    while let Ok(p) = parked.try_recv() {
        pipeline.park(&p)?;
        parked_any = true;
    }
    if parked_any {
        flush_and_commit(&mut pipeline, consumer.as_ref(), CommitMode::Sync).await;
    }
    drop(pipeline);
    let _ = shutdown_tx.send(true);
    let _ = http.await;
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

/// Flushes and commits the offsets made durable; false when the flush failed.
async fn flush_and_commit(
    pipeline: &mut Pipeline,
    consumer: Option<&StreamConsumer<KafkaHealth>>,
    mode: CommitMode,
) -> bool {
    let report = match pipeline.flush().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "flush failed; will retry");
            return false;
        }
    };
    if let Some(c) = consumer
        && !report.commits.is_empty()
    {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, next) in &report.commits {
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
    true
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

fn handle_ingest(pipeline: &mut Pipeline, req: IngestRequest) -> anyhow::Result<()> {
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
