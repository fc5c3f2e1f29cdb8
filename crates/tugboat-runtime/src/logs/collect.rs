//! The collector of `tug watch`: follows every container of the stack through the Engine API and keeps
//! its lines in the [`LogStore`].
//!
//! ```text
//!  events thread ──start/die/destroy──┐
//!  (engine /events, project label)    ▼
//!                         supervisor: lists the project's containers (on an event, every 10 s,
//!                         after the engine comes back) and starts a follower for each running
//!                         container, and once for each stopped one not read since it stopped
//!                                      │
//!  follower per container: logs?follow&since=checkpoint ─▶ whole lines, redacted, admitted past
//!  the checkpoint ─▶ bounded queue (full: the line is dropped and counted) ─▶ writer: batches,
//!  one transaction per batch (lines + checkpoints), then `on_stored`; prunes every minute
//! ```
//!
//! It only reads: a container never waits for tug (tug is not its logging driver), and what tug misses
//! while it is stopped it reads from the engine's log on start, from each container's checkpoint. A
//! container removed while tug was stopped takes the lines it wrote meanwhile with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tugboat::ops::CancelToken;

use super::entry::{entries, Assembler};
use super::store::{Checkpoint, Collected, LogStore, StoreError};
use super::{LogLine, LogsQuery, Redactor};
use crate::engine::{ContainerSummary, Docker, Engine};
use crate::labels;
use crate::observe::{number, project_containers};

/// Lines waiting for the writer; beyond this a follower drops lines (and counts them) rather than hold
/// more memory.
const QUEUE: usize = 16_384;
/// The most lines one transaction writes.
const BATCH: usize = 4096;
const RESYNC: Duration = Duration::from_secs(10);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Age and byte limits of a service's stored lines.
pub type Limits = Arc<dyn Fn(&str) -> (Duration, u64) + Send + Sync>;
/// Called with each stored batch.
pub type OnStored = Box<dyn FnMut(&[LogLine]) + Send>;

pub struct CollectorOptions {
    /// The Compose project (the stack's name).
    pub project: String,
    pub store: PathBuf,
    pub redactor: Redactor,
    pub limits: Limits,
    /// Unix nanoseconds now: the clock retention follows.
    pub now_nanos: Arc<dyn Fn() -> i128 + Send + Sync>,
    /// Handed every batch once it is stored (forwarding, log alerts); must return quickly.
    pub on_stored: OnStored,
}

/// Per service: lines stored and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceCounts {
    pub lines: u64,
    pub dropped: u64,
}

/// What the collector has done, for `/metrics` and the status page.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CollectorStats {
    pub services: BTreeMap<String, ServiceCounts>,
    /// Containers followed now.
    pub following: usize,
    pub pruned_lines: u64,
    /// Why the engine cannot be read now, while it cannot.
    pub engine_error: Option<String>,
    /// The last failure to write the store, while writes fail.
    pub store_error: Option<String>,
}

type SharedStats = Arc<Mutex<CollectorStats>>;

fn update(stats: &SharedStats, f: impl FnOnce(&mut CollectorStats)) {
    f(&mut stats.lock().unwrap_or_else(|e| e.into_inner()));
}

pub struct Collector {
    cancel: CancelToken,
    threads: Vec<JoinHandle<()>>,
    stats: SharedStats,
}

impl Collector {
    /// Opens the store (an error here stops nothing else: the caller reports it) and starts collecting.
    pub fn start(options: CollectorOptions) -> Result<Collector, StoreError> {
        let store = LogStore::open(&options.store)?;
        let checkpoints = Arc::new(Mutex::new(store.checkpoints()?));
        let stats: SharedStats = Arc::default();
        let cancel = CancelToken::new();
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer = {
            let (stats, limits, now) = (Arc::clone(&stats), options.limits, options.now_nanos);
            let on_stored = options.on_stored;
            std::thread::Builder::new()
                .name("logs-writer".into())
                .spawn(move || write(store, rx, &stats, &*limits, &*now, on_stored))
        };
        let supervisor = {
            let follow = Follow {
                project: options.project,
                redactor: Arc::new(options.redactor),
                checkpoints,
                queue: tx,
                stats: Arc::clone(&stats),
                cancel: cancel.clone(),
            };
            std::thread::Builder::new().name("logs-supervisor".into()).spawn(move || supervise(follow))
        };
        let threads = [writer, supervisor].into_iter().filter_map(|t| t.ok()).collect();
        Ok(Collector { cancel, threads, stats })
    }

    pub fn stats(&self) -> CollectorStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops following, writes what was read, and returns once the store is closed.
    pub fn stop(self) {
        self.cancel.cancel();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// What the supervisor hands every follower.
#[derive(Clone)]
struct Follow {
    project: String,
    redactor: Arc<Redactor>,
    /// Per container id: how far it has been read (ahead of the store by what is queued).
    checkpoints: Arc<Mutex<HashMap<String, Checkpoint>>>,
    queue: SyncSender<Collected>,
    stats: SharedStats,
    cancel: CancelToken,
}

fn supervise(follow: Follow) {
    let mut followers: HashMap<String, JoinHandle<()>> = HashMap::new();
    // Stopped containers read to their end by this process (until they start again).
    let mut drained: HashSet<String> = HashSet::new();
    let mut retry = Duration::from_secs(1);
    while !follow.cancel.is_cancelled() {
        let engine = match Docker::connect() {
            Ok(engine) => engine,
            Err(e) => {
                wait_out(&follow, &e.to_string(), &mut retry);
                continue;
            }
        };
        let (poke, pokes) = mpsc::channel::<()>();
        let events_stop = CancelToken::new();
        let events = spawn_events(&follow, &events_stop, poke);
        loop {
            if follow.cancel.is_cancelled() {
                break;
            }
            match project_containers(&engine, &follow.project) {
                Ok(containers) => {
                    update(&follow.stats, |s| s.engine_error = None);
                    retry = Duration::from_secs(1);
                    followers.retain(|id, t| {
                        let done = t.is_finished();
                        if done {
                            let running = containers.iter().any(|c| &c.id == id && c.state == "running");
                            if !running {
                                drained.insert(id.clone());
                            }
                        }
                        !done
                    });
                    for c in &containers {
                        if c.state == "running" {
                            drained.remove(&c.id);
                        }
                        if !followers.contains_key(&c.id) && !drained.contains(&c.id) {
                            if let Ok(t) = spawn_follower(&follow, c) {
                                followers.insert(c.id.clone(), t);
                            }
                        }
                    }
                    let n = followers.len();
                    update(&follow.stats, |s| s.following = n);
                }
                Err(e) => {
                    wait_out(&follow, &e.to_string(), &mut retry);
                    break;
                }
            }
            // The next look: on an event, after RESYNC, or at once when the events stream ended (the
            // engine went away: the listing above finds out).
            match pokes.recv_timeout(RESYNC) {
                Ok(()) => while pokes.try_recv().is_ok() {},
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if follow.cancel.is_cancelled() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    break;
                }
            }
        }
        events_stop.cancel();
        if let Some(events) = events {
            let _ = events.join();
        }
    }
    for (_, t) in followers {
        let _ = t.join();
    }
}

/// Records why the engine cannot be read and waits (doubling, at most [`RETRY_MAX`]) unless cancelled.
fn wait_out(follow: &Follow, why: &str, retry: &mut Duration) {
    let first = follow.stats.lock().map(|s| s.engine_error.is_none()).unwrap_or(true);
    if first {
        tracing::warn!(error = %why, "log collection cannot read the engine; retrying");
    }
    update(&follow.stats, |s| s.engine_error = Some(why.to_string()));
    let until = Instant::now() + *retry;
    while Instant::now() < until && !follow.cancel.is_cancelled() {
        std::thread::sleep(Duration::from_millis(100));
    }
    *retry = (*retry * 2).min(RETRY_MAX);
}

/// A thread that pokes the supervisor on every container start, death or removal of the project; the
/// channel closes when the engine's stream ends.
fn spawn_events(follow: &Follow, stop: &CancelToken, poke: mpsc::Sender<()>) -> Option<JoinHandle<()>> {
    let (label, cancel) = (format!("{}={}", labels::PROJECT, follow.project), stop.clone());
    std::thread::Builder::new()
        .name("logs-events".into())
        .spawn(move || {
            let Ok(engine) = Docker::connect() else { return };
            let _ = engine.container_events(&label, &cancel, &mut |action, _id| {
                if matches!(action, "start" | "restart" | "die" | "destroy" | "create") {
                    return poke.send(()).is_ok();
                }
                true
            });
        })
        .ok()
}

fn spawn_follower(follow: &Follow, c: &ContainerSummary) -> std::io::Result<JoinHandle<()>> {
    let follow = follow.clone();
    let service = c.label(labels::SERVICE).unwrap_or_default().to_string();
    let source = super::Source {
        id: c.id.clone(),
        container: c.name.clone(),
        label: format!("{service}-{}", number(c)),
        service,
        after: Checkpoint::default(),
    };
    std::thread::Builder::new().name(format!("logs-{}", source.label)).spawn(move || {
        let Ok(engine) = Docker::connect() else { return };
        let mut cp =
            follow.checkpoints.lock().map(|m| m.get(&source.id).copied().unwrap_or_default()).unwrap_or_default();
        let start = cp;
        let query = LogsQuery {
            follow: true,
            since: i64::try_from(start.nanos.div_euclid(1_000_000_000)).ok().filter(|s| *s > 0),
            until: None,
            tail: None,
        };
        let mut assembler = Assembler::default();
        let mut seen = 0;
        let mut take = |entry: super::entry::Entry, cp: &mut Checkpoint| {
            if !start.admits(entry.nanos, &mut seen) {
                return;
            }
            *cp = cp.after(entry.nanos);
            if let Ok(mut map) = follow.checkpoints.lock() {
                map.insert(source.id.clone(), *cp);
            }
            let line = source.line(entry, &follow.redactor);
            let counted = |s: &mut CollectorStats| s.services.entry(source.service.clone()).or_default().dropped += 1;
            match follow.queue.try_send(Collected { container_id: source.id.clone(), line, checkpoint: *cp }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => update(&follow.stats, counted),
            }
        };
        let ended = engine.logs(std::slice::from_ref(&source.id), &query, &follow.cancel, &mut |_, stream, chunk| {
            for entry in entries(stream, chunk) {
                if let Some(whole) = assembler.push(entry) {
                    take(whole, &mut cp);
                }
            }
            true
        });
        // A stream that ended on its own (the container stopped) ends its last line too; one cut short by
        // a shutdown or an engine error leaves it to be read whole next time, from the checkpoint.
        if ended.is_ok() && !follow.cancel.is_cancelled() {
            for rest in assembler.finish() {
                take(rest, &mut cp);
            }
        }
    })
}

fn write(
    mut store: LogStore,
    rx: Receiver<Collected>,
    stats: &SharedStats,
    limits: &(dyn Fn(&str) -> (Duration, u64) + Send + Sync),
    now: &(dyn Fn() -> i128 + Send + Sync),
    mut on_stored: OnStored,
) {
    let mut pruned_at: Option<Instant> = None;
    let mut batch: Vec<Collected> = Vec::with_capacity(BATCH);
    loop {
        let open = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(first) => {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        if !batch.is_empty() {
            match store.append(&batch) {
                Ok(()) => {
                    update(stats, |s| {
                        s.store_error = None;
                        for c in &batch {
                            s.services.entry(c.line.service.clone()).or_default().lines += 1;
                        }
                    });
                    let lines: Vec<LogLine> = batch.drain(..).map(|c| c.line).collect();
                    on_stored(&lines);
                }
                Err(e) => {
                    // Kept for the next try (a locked or full disk may pass); bounded like the queue.
                    tracing::error!(error = %e, "collected log lines not stored; retrying");
                    update(stats, |s| s.store_error = Some(e.to_string()));
                    if batch.len() >= QUEUE {
                        let lost = batch.len();
                        for c in batch.drain(..) {
                            update(stats, |s| s.services.entry(c.line.service).or_default().dropped += 1);
                        }
                        tracing::error!(lines = lost, "log lines dropped: the store cannot be written");
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(Instant::now());
            match store.prune(now(), limits) {
                Ok(p) => update(stats, |s| s.pruned_lines += p.lines),
                Err(e) => tracing::error!(error = %e, "old log lines not pruned"),
            }
        }
        // At shutdown a batch that cannot be stored is left to be read again: its checkpoint was not stored.
        if !open {
            return;
        }
    }
}
