//! The delivery engine of one sink: takes entries from its outbox reader,
//! spreads them over lanes by `dedup_key` (order per key, concurrency across
//! keys), paces requests (rate limit, `Retry-After`, circuit breaker),
//! retries with backoff until delivered or permanently refused, parks
//! refusals in the dead-letter path and records its position after every
//! step.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tocsin_processors::{Decision, DecisionAction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cursor::{Cursor, Position, SinkState, StateFile, StateFileError};
use super::guards::{CircuitBreaker, Limiter, Permit};
use super::policy::EffectiveDelivery;
use super::stats::DeliveryStats;
use super::{DeliveryError, Sink, wait_for_shutdown};
use crate::routing::Routing;

/// One decision of the outbox and where it sits.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// Its position (for the cursor).
    pub position: Position,
    /// The decision.
    pub decision: Arc<Decision>,
}

/// A decision a sink gave up on, for the dead-letter path.
#[derive(Debug, Clone)]
pub struct Parked {
    /// The sink.
    pub sink: String,
    /// The decision as it was.
    pub decision: Decision,
    /// Why, with the target's response.
    pub reason: String,
}

/// Everything an engine needs.
pub struct EngineParts {
    /// The sink.
    pub sink: Arc<dyn Sink>,
    /// Which decisions go to which sink.
    pub routing: Arc<Routing>,
    /// Pacing.
    pub settings: EffectiveDelivery,
    /// Where the cursor and the sink's state are kept.
    pub state: StateFile,
    /// Counters.
    pub stats: Arc<DeliveryStats>,
    /// Where permanent failures go.
    pub parked: mpsc::Sender<Parked>,
}

struct Shared {
    sink: Arc<dyn Sink>,
    settings: EffectiveDelivery,
    stats: Arc<DeliveryStats>,
    limiter: Limiter,
    breaker: CircuitBreaker,
    cursor: Mutex<Cursor>,
    state: StateFile,
    dirty: tokio::sync::Notify,
    parked: mpsc::Sender<Parked>,
}

impl Shared {
    fn cursor(&self) -> std::sync::MutexGuard<'_, Cursor> {
        self.cursor.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, p: Position) {
        self.cursor().finish(p);
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.dirty.notify_one();
    }

    /// Like `finish`, for a decision that reached the sink (or was parked).
    fn finish_delivered(&self, p: Position, id: &str) {
        self.cursor().finish_delivered(p, id);
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.dirty.notify_one();
    }

    fn save(&self) {
        let state = SinkState {
            cursor: self.cursor().clone(),
            sink: self.sink.state(),
        };
        if let Err(e) = self.state.save(&state) {
            tracing::error!(sink = self.sink.name(), error = %e, "cannot save the sink's position");
        }
    }
}

/// Reads an engine's cursor from another task.
#[derive(Clone)]
pub struct CursorView(Arc<Shared>);

impl CursorView {
    /// The cursor now.
    pub fn get(&self) -> Cursor {
        self.0.cursor().clone()
    }
}

/// A running engine.
pub struct DeliveryEngine {
    input: mpsc::Sender<OutboxEntry>,
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    persister: tokio::task::JoinHandle<()>,
}

struct Lane {
    queue: Mutex<VecDeque<(OutboxEntry, OwnedSemaphorePermit)>>,
    wake: tokio::sync::Notify,
}

enum Next {
    Item(OutboxEntry, OwnedSemaphorePermit),
    Empty,
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(OutboxEntry, OwnedSemaphorePermit)>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next entry to send; superseded updates met on the way are handed
    /// to `folded`.
    fn next(&self, fold: bool, folded: &mut Vec<Position>) -> Next {
        let mut q = self.lock();
        while let Some((entry, permit)) = q.pop_front() {
            if fold && entry.decision.action == DecisionAction::Update {
                let key = &entry.decision.dedup_key;
                let newer = q
                    .iter()
                    .map(|(e, _)| &e.decision)
                    .find(|d| &d.dedup_key == key)
                    .is_some_and(|d| d.action == DecisionAction::Update);
                if newer {
                    folded.push(entry.position);
                    drop(permit);
                    continue;
                }
            }
            return Next::Item(entry, permit);
        }
        Next::Empty
    }
}

impl DeliveryEngine {
    /// Loads the sink's saved state (or starts at `fresh_start` when there is
    /// none: `None` means from the beginning of the outbox) and starts the
    /// lanes. Returns the engine and the cursor it resumes from.
    pub fn start(
        parts: EngineParts,
        fresh_start: Option<Position>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(DeliveryEngine, Cursor), StateFileError> {
        let saved = parts.state.load()?;
        let cursor = match saved {
            Some(st) => {
                if let Err(e) = parts.sink.restore_state(st.sink) {
                    tracing::warn!(sink = parts.sink.name(), error = %e, "ignoring the sink's saved state");
                }
                st.cursor
            }
            None => fresh_start.map(Cursor::starting_after).unwrap_or_default(),
        };
        let settings = parts.settings;
        let shared = Arc::new(Shared {
            limiter: Limiter::new(settings.rate_limit),
            breaker: CircuitBreaker::new(settings.breaker_failures, settings.breaker_open_for),
            cursor: Mutex::new(cursor.clone()),
            sink: parts.sink,
            settings,
            stats: parts.stats,
            state: parts.state,
            dirty: tokio::sync::Notify::new(),
            parked: parts.parked,
        });
        // Written at once, so a sink that starts at the end of the outbox
        // does not replay history if the process dies before its first
        // delivery.
        shared.save();
        let (input, rx) = mpsc::channel(1024);
        let lanes: Vec<Arc<Lane>> = (0..settings.concurrency)
            .map(|_| {
                Arc::new(Lane {
                    queue: Mutex::new(VecDeque::new()),
                    wake: tokio::sync::Notify::new(),
                })
            })
            .collect();
        let (lanes_done_tx, lanes_done_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for lane in &lanes {
            tasks.spawn(run_lane(
                shared.clone(),
                lane.clone(),
                lanes_done_rx.clone(),
                shutdown.clone(),
            ));
        }
        tasks.spawn(dispatch(
            shared.clone(),
            parts.routing,
            rx,
            lanes,
            lanes_done_tx,
            shutdown.clone(),
        ));
        let persister = tokio::spawn(persist(shared.clone(), shutdown));
        Ok((
            DeliveryEngine {
                input,
                shared,
                tasks,
                persister,
            },
            cursor,
        ))
    }

    /// Where the outbox reader sends entries (bounded: it waits when the
    /// engine is full).
    pub fn input(&self) -> mpsc::Sender<OutboxEntry> {
        self.input.clone()
    }

    /// The current cursor (the Kafka reader commits from it).
    pub fn cursor(&self) -> Cursor {
        self.shared.cursor().clone()
    }

    /// A handle that reads the cursor while the engine runs.
    pub fn cursor_view(&self) -> CursorView {
        CursorView(self.shared.clone())
    }

    /// Waits until the outbox reader closed its input and every taken entry
    /// is done, or until shutdown; saves the position last.
    pub async fn join(mut self) {
        drop(self.input);
        while self.tasks.join_next().await.is_some() {}
        self.persister.abort();
        let _ = self.persister.await;
        self.shared.save();
    }
}

async fn dispatch(
    shared: Arc<Shared>,
    routing: Arc<Routing>,
    mut rx: mpsc::Receiver<OutboxEntry>,
    lanes: Vec<Arc<Lane>>,
    lanes_done: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.settings.max_in_flight));
    let name = shared.sink.name().to_owned();
    loop {
        let entry = tokio::select! {
            e = rx.recv() => e,
            _ = wait_for_shutdown(&mut shutdown) => None,
        };
        let Some(entry) = entry else { break };
        if shared.cursor().is_done(entry.position) {
            shared.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let d = &entry.decision;
        // The same decision again at a new position: republished by a
        // pipeline that crashed before its checkpoint.
        if shared.cursor().delivered(&d.id) {
            shared.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            shared.cursor().take(entry.position);
            shared.finish(entry.position);
            continue;
        }
        if !routing.routes_to(&name, d) || !shared.sink.accepts(d) {
            shared.stats.skipped.fetch_add(1, Ordering::Relaxed);
            shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            shared.cursor().take(entry.position);
            shared.finish(entry.position);
            continue;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = wait_for_shutdown(&mut shutdown) => break,
        };
        let Ok(permit) = permit else { break };
        shared.cursor().take(entry.position);
        shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        d.dedup_key.hash(&mut h);
        let lane = &lanes[(h.finish() % lanes.len() as u64) as usize];
        lane.lock().push_back((entry, permit));
        lane.wake.notify_one();
    }
    let _ = lanes_done.send(true);
    for lane in &lanes {
        lane.wake.notify_one();
    }
}

async fn run_lane(
    shared: Arc<Shared>,
    lane: Arc<Lane>,
    mut input_closed: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut folded = Vec::new();
    loop {
        let next = lane.next(shared.settings.fold_updates, &mut folded);
        for p in folded.drain(..) {
            shared.stats.folded.fetch_add(1, Ordering::Relaxed);
            shared.finish(p);
        }
        match next {
            Next::Item(entry, permit) => {
                let outcome = deliver(&shared, &entry.decision, &mut shutdown).await;
                match outcome {
                    Ok(()) => {
                        shared.stats.delivered.fetch_add(1, Ordering::Relaxed);
                        shared.finish_delivered(entry.position, &entry.decision.id);
                    }
                    Err(DeliveryError::Permanent { reason }) => {
                        shared.stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(sink = shared.sink.name(), id = %entry.decision.id, %reason, "delivery refused; parked in the dead-letter path");
                        let parked = Parked {
                            sink: shared.sink.name().to_owned(),
                            decision: (*entry.decision).clone(),
                            reason,
                        };
                        if shared.parked.send(parked).await.is_err() {
                            tracing::error!(sink = shared.sink.name(), id = %entry.decision.id, "dead-letter path closed");
                        }
                        shared.finish_delivered(entry.position, &entry.decision.id);
                    }
                    // Shutdown: the entry stays pending and is redone next run.
                    Err(_) => return,
                }
                drop(permit);
            }
            Next::Empty => {
                if *input_closed.borrow() && lane.lock().is_empty() {
                    return;
                }
                tokio::select! {
                    _ = lane.wake.notified() => {}
                    _ = input_closed.changed() => {}
                    _ = wait_for_shutdown(&mut shutdown) => return,
                }
            }
        }
    }
}

/// Sleeps `d` unless shutdown comes first (then `false`).
async fn pause(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = wait_for_shutdown(shutdown) => false,
    }
}

/// One decision, until delivered, refused, or shutdown.
async fn deliver(
    shared: &Shared,
    decision: &Decision,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    let mut attempt = 0u32;
    loop {
        if *shutdown.borrow() {
            return Err(DeliveryError::Cancelled);
        }
        match shared.breaker.permit(Instant::now()) {
            Permit::Go | Permit::Probe => {}
            Permit::Wait(d) => {
                shared.stats.circuit_open.store(1, Ordering::Relaxed);
                if !pause(d, shutdown).await {
                    return Err(DeliveryError::Cancelled);
                }
                continue;
            }
        }
        if let Some(wait) = shared.limiter.try_acquire(Instant::now()) {
            shared.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            if !pause(wait, shutdown).await {
                return Err(DeliveryError::Cancelled);
            }
            continue;
        }
        let result = tokio::select! {
            r = shared.sink.deliver(decision) => r,
            _ = wait_for_shutdown(shutdown) => Err(DeliveryError::Cancelled),
        };
        match result {
            Ok(()) => {
                shared.breaker.on_success();
                shared.stats.circuit_open.store(0, Ordering::Relaxed);
                return Ok(());
            }
            Err(DeliveryError::Permanent { reason }) => {
                shared.breaker.on_success();
                shared.stats.circuit_open.store(0, Ordering::Relaxed);
                return Err(DeliveryError::Permanent { reason });
            }
            Err(DeliveryError::Retryable {
                reason,
                retry_after,
            }) => {
                shared.stats.retried.fetch_add(1, Ordering::Relaxed);
                if shared.breaker.on_failure(Instant::now()) {
                    shared.stats.circuit_open.store(1, Ordering::Relaxed);
                    tracing::warn!(
                        sink = shared.sink.name(),
                        "circuit opened after repeated failures"
                    );
                }
                let delay = match retry_after {
                    Some(hint) => {
                        let hint = hint.min(Duration::from_secs(600));
                        shared.limiter.pause_until(Instant::now() + hint);
                        hint
                    }
                    None => shared.settings.retry.delay(attempt),
                };
                tracing::warn!(sink = shared.sink.name(), id = %decision.id, %reason, ?delay, "delivery failed; retrying");
                attempt = attempt.saturating_add(1);
                if !pause(delay, shutdown).await {
                    return Err(DeliveryError::Cancelled);
                }
            }
            Err(DeliveryError::Cancelled) => return Err(DeliveryError::Cancelled),
        }
    }
}

/// Saves the position whenever it changed, coalescing bursts.
async fn persist(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shared.dirty.notified() => {}
            _ = wait_for_shutdown(&mut shutdown) => break,
        }
        shared.save();
        // At thousands of deliveries a second one write per few ms is
        // plenty; a crash in between redoes at most those deliveries, which
        // receivers deduplicate by `dedup_key`/`Idempotency-Key`.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    shared.save();
}
