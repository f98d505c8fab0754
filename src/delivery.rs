//! Wires every configured sink to its delivery engine and its outbox
//! reader: the lake's decisions table in the embedded mode, the decisions
//! topic (with a consumer group per sink) over Kafka.

use std::sync::Arc;
use std::time::Duration;

use tocsin_ingest::LakeLayout;
use tocsin_sinks::DeliveryStats;
use tocsin_sinks::delivery::{Cursor, DeliveryEngine, EngineParts, Parked, Position, StateFile};
use tocsin_sinks::kafka::run_kafka_outbox;
use tocsin_sinks::outbox::{DurableDecisions, run_lake_outbox};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::Config;

/// How many flush epochs a sink's live feed holds before its reader reads
/// the gap from the lake instead.
const LIVE_FEED_EPOCHS: usize = 256;

/// The running sinks.
pub struct Sinks {
    /// Counters per sink name, for `/metrics`.
    pub stats: Vec<(String, Arc<DeliveryStats>)>,
    engines: Vec<(DeliveryEngine, Cursor, String)>,
    tasks: JoinSet<()>,
}

impl Sinks {
    /// Builds the sinks and starts their engines. A sink without saved state
    /// starts after `durable_epoch` in the embedded mode (it does not page
    /// for history), and at the decisions topic's committed (or earliest)
    /// offsets over Kafka. Also returns where refused decisions arrive, for
    /// the dead-letter path.
    pub fn start(
        cfg: &Config,
        durable_epoch: u64,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<(Sinks, mpsc::Receiver<Parked>)> {
        let built = cfg.sinks.build()?;
        let (parked_tx, parked) = mpsc::channel(1024);
        let mut stats = Vec::new();
        let mut engines = Vec::new();
        for b in built.sinks {
            let name = b.sink.name().to_owned();
            let s = Arc::new(DeliveryStats::default());
            stats.push((name.clone(), s.clone()));
            let fresh_start = cfg.kafka.is_none().then_some(Position {
                part: 0,
                major: durable_epoch as i64,
                minor: i64::MAX,
            });
            let (engine, cursor) = DeliveryEngine::start(
                EngineParts {
                    sink: b.sink,
                    routing: built.routing.clone(),
                    settings: b.delivery,
                    state: StateFile::new(
                        cfg.state_dir().join("sinks").join(format!("{name}.json")),
                    ),
                    stats: s,
                    parked: parked_tx.clone(),
                },
                fresh_start,
                shutdown.clone(),
            )?;
            engines.push((engine, cursor, name));
        }
        Ok((
            Sinks {
                stats,
                engines,
                tasks: JoinSet::new(),
            },
            parked,
        ))
    }

    /// Starts each sink's outbox reader. In the embedded mode returns the
    /// live feeds the pipeline sends each durable epoch to.
    pub fn start_outboxes(
        &mut self,
        cfg: &Config,
        layout: &LakeLayout,
        durable_epoch: u64,
        shutdown: &watch::Receiver<bool>,
    ) -> Vec<mpsc::Sender<DurableDecisions>> {
        let mut feeds = Vec::new();
        for (engine, cursor, name) in self.engines.drain(..) {
            let input = engine.input();
            match &cfg.kafka {
                Some(k) => {
                    let (client, topic, view, sd, n) = (
                        k.client_config(),
                        k.decisions_topic.clone(),
                        engine.cursor_view(),
                        shutdown.clone(),
                        name.clone(),
                    );
                    self.tasks.spawn(async move {
                        if let Err(e) =
                            run_kafka_outbox(client, topic, n.clone(), input, view, sd).await
                        {
                            tracing::error!(sink = %n, error = %e, "outbox reader stopped");
                        }
                    });
                }
                None => {
                    let (tx, rx) = mpsc::channel(LIVE_FEED_EPOCHS);
                    feeds.push(tx);
                    let (layout, sd, n) = (layout.clone(), shutdown.clone(), name.clone());
                    self.tasks.spawn(async move {
                        if let Err(e) =
                            run_lake_outbox(layout, cursor, durable_epoch, rx, input, sd).await
                        {
                            tracing::error!(sink = %n, error = %e, "outbox reader stopped");
                        }
                    });
                }
            }
            self.tasks.spawn(engine.join());
        }
        feeds
    }

    /// Lets the sinks finish what they hold (the pipeline is gone, so the
    /// live feeds are closed) for at most `grace`, then stops them; whatever
    /// is left is delivered after the next start, from the outbox.
    pub async fn stop(mut self, grace: Duration, shutdown: &watch::Sender<bool>) {
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            let _ = shutdown.send(true);
            while self.tasks.join_next().await.is_some() {}
        }
    }
}
