//! `tug watch`: runs every check on its interval, turns results into alerts, delivers them through an
//! outbox that survives provider outages and restarts, runs scheduled backups and drills, pings a
//! heartbeat, and serves a status page and Prometheus metrics.
//!
//! ```text
//!  check tasks ──outcome──▶ recorder ──state, history──▶ SQLite (state.db)
//!  (one per check,           │  alert state machine        ▲
//!   every interval, and      └─ alert ──▶ outbox rows ─────┘
//!   re-probes to confirm                    │
//!   a failure; bounded by    outbox worker ◀┘ deliver, retry with backoff, fail over
//!   a semaphore)
//!  server: / (status page), /metrics, /api/status — reads the recorder's view and the store
//!  schedules: at each cron time (on the injected clock) a job runner, in process ──outcome──▶ recorder
//! ```
//!
//! Start-up registers every check (shown as not run yet) before the status page listens, so the page
//! never shows fewer checks than the configuration has.

pub mod alerting;
pub mod cadence;
pub mod cron;
pub mod forward;
pub mod jobs;
pub mod log_alerts;
mod logs;
pub mod notify;
pub mod plan;
mod server;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;
use tugboat::ops::{CancelToken, Clock};
use tugboat::stack::{self, ConfigError, LoadOptions, Stack};
use tugboat::store::{CheckState, NewAlert, Store};

use crate::probe::{self, Check, Outcome, Prober, Status};
use alerting::{Action, Rule};
use cadence::Cadence;
use cron::Cron;
use jobs::{Job, JobOutcome, JobRunner};
use notify::{AlertMessage, Notifier};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9925";
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// A delivery is retried this long before it is given up (and logged as lost).
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How often a scheduler waiting for its cron time looks at the clock again: a clock that jumps (an NTP
/// step, a suspended host waking, a test's [`tugboat::ops::ManualClock`]) is followed within this long.
const CLOCK_RECHECK: Duration = Duration::from_secs(1);

/// How `tug watch` was started.
#[derive(Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub environment: Option<String>,
    pub state: PathBuf,
    /// `--listen`, overriding `watch.listen`.
    pub listen: Option<String>,
    /// Runs the jobs of `watch.schedule`; the `tug` binary's runner calls the engine in process.
    pub jobs: Arc<dyn JobRunner>,
    /// The time schedules and maintenance windows follow: [`tugboat::ops::SystemClock`] but in tests.
    /// Each schedule's first run is computed from it before [`run`] reports the address it listens on.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("dir", &self.dir)
            .field("environment", &self.environment)
            .field("state", &self.state)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// Why the daemon could not start. Once running it does not stop on errors: it logs them.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] tugboat::store::StoreError),
    #[error("cannot listen on {addr}: {cause}")]
    Listen { addr: String, cause: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

/// The configuration in force, replaced as a whole on reload.
pub struct Loaded {
    pub stack: Stack,
    pub checks: Vec<Check>,
    pub rules: HashMap<String, Rule>,
    pub intervals: HashMap<String, Duration>,
    pub notifier: Notifier,
    pub maintenance: Vec<(Cron, Duration)>,
    pub schedules: Vec<(String, Cron)>,
    pub concurrency: usize,
    pub retention: Duration,
    pub listen: String,
    pub token: Option<String>,
    /// `watch.public_url`: the status page's address for links in alerts.
    pub public_url: Option<String>,
    pub heartbeat: Option<(String, Duration)>,
    /// `watch.logs`: collection, retention, forwarding.
    pub logs: tugboat::stack::logs::LogsConfig,
    pub log_rules: Vec<log_alerts::LogRule>,
}

/// Loads and validates everything `tug watch` needs; any mistake is reported before anything runs.
pub fn load(options: &Options) -> Result<Loaded, ConfigError> {
    let load_options = LoadOptions {
        environment: options.environment.clone(),
        process_env: None,
        template_fallback: true,
        ignore_config: false,
    };
    let stack = stack::load(&options.dir, &load_options)?;
    let watch = stack.config.watch.clone().unwrap_or_default();
    let checks = probe::compile(&stack, watch.suites.as_deref())?;
    let notifier = Notifier::new(&stack)?;
    let mut errors = Vec::new();
    let mut rules = HashMap::new();
    let mut intervals = HashMap::new();
    let default_interval = watch.interval.map_or(stack::probes::DEFAULT_CHECK_INTERVAL, |i| i.0);
    for check in &checks {
        rules.insert(check.id.clone(), Rule::resolve(check.config.alert.as_ref(), &watch.alert));
        let interval = check.config.interval.map(|i| i.0).unwrap_or(default_interval);
        if interval < Duration::from_millis(100) {
            errors.push(ConfigError::Other(format!("{}: interval {interval:?} is below 100ms", check.id)));
        }
        intervals.insert(check.id.clone(), interval);
    }
    let mut maintenance = Vec::new();
    for (i, w) in watch.maintenance.iter().enumerate() {
        match Cron::parse(&w.cron) {
            Ok(c) => maintenance.push((c, w.duration.0)),
            Err(e) => errors.push(ConfigError::Other(format!("watch.maintenance[{i}].cron: {e}"))),
        }
    }
    let mut schedules = Vec::new();
    for (what, text) in &watch.schedule {
        match Cron::parse(text) {
            Ok(c) => schedules.push((what.clone(), c)),
            Err(e) => errors.push(ConfigError::Other(format!("watch.schedule.{what}: {e}"))),
        }
    }
    let listen = options.listen.clone().or(watch.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let token = match &watch.token_env {
        Some(var) => match stack.variable(var) {
            Some(t) if !t.is_empty() => Some(t),
            _ => {
                errors.push(ConfigError::Other(format!("watch.token_env: {var} is not set")));
                None
            }
        },
        None => None,
    };
    if token.is_none() && !is_loopback(&listen) {
        errors.push(ConfigError::Other(format!(
            "the status page would listen on {listen}, beyond loopback, without a token: set watch.token_env"
        )));
    }
    let logs = watch.logs.clone().unwrap_or_default();
    let services: Vec<String> = stack.project.services.iter().map(|s| s.name.clone()).collect();
    let log_rules = log_alerts::compile(&logs, &services, &notifier.names()).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    if let Err(e) = forward::Forwarders::check(&logs.forward, &stack.project.name, &stack.dir) {
        errors.push(e);
    }
    ConfigError::collect(errors)?;
    Ok(Loaded {
        logs,
        log_rules,
        checks,
        rules,
        intervals,
        notifier,
        maintenance,
        schedules,
        concurrency: watch.concurrency.unwrap_or(64).max(1),
        retention: watch.retention.map(|r| r.0).unwrap_or(DEFAULT_RETENTION),
        listen,
        token,
        public_url: watch.public_url.clone(),
        heartbeat: watch
            .heartbeat
            .as_ref()
            .map(|h| (h.url.clone(), h.interval.map(|i| i.0).unwrap_or(Duration::from_secs(60)))),
        stack,
    })
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_matches(['[', ']']);
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// What the status page and /metrics show; the recorder keeps it current.
#[derive(Default)]
pub struct View {
    pub stack: String,
    pub started_ms: i64,
    /// Checks in config order: (id, kind, target).
    pub checks: Vec<(String, String, String)>,
    pub latest: HashMap<String, Outcome>,
    pub states: HashMap<String, CheckState>,
    /// (when, how late the run started) for the last minute of runs.
    pub drift: VecDeque<(Instant, f64)>,
    /// Results recorded; a result is counted once its alert, if any, is saved.
    pub runs: u64,
    pub reloads: Reloads,
}

/// What became of SIGHUP reloads.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Reloads {
    pub applied: u64,
    pub refused: u64,
    /// Why the last refused reload was refused.
    pub last_error: Option<String>,
}

impl View {
    /// Schedule drift over the last minute: (median, p99, max) in milliseconds.
    pub fn drift_summary(&self) -> (f64, f64, f64) {
        let mut d: Vec<f64> = self.drift.iter().map(|(_, ms)| *ms).collect();
        if d.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        d.sort_by(f64::total_cmp);
        let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.99), d[d.len() - 1])
    }
}

/// State shared by the daemon's tasks.
pub struct Shared {
    pub config: RwLock<Arc<Loaded>>,
    pub store: Mutex<Store>,
    pub view: RwLock<View>,
    outbox_wake: Notify,
    options: Options,
    /// Jobs running now, so that a job still running at its next cron time is not started twice.
    jobs_running: Mutex<HashSet<String>>,
    /// Set at shutdown: running jobs stop at their next safe point.
    jobs_cancel: CancelToken,
    /// The container log collector, while it runs.
    pub logs: Mutex<Option<tugboat_runtime::logs::collect::Collector>>,
    /// Log alert state and recent matches.
    log_matches: Mutex<log_alerts::Matcher>,
    /// Where collected lines are forwarded (started with the daemon; a reload does not change them).
    pub forwarders: Mutex<Option<forward::Forwarders>>,
}

impl Shared {
    pub fn current(&self) -> Arc<Loaded> {
        self.config.read().map(|c| Arc::clone(&c)).unwrap_or_else(|e| Arc::clone(&e.into_inner()))
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn view(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(|e| e.into_inner())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.jobs_running.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn log_matches(&self) -> std::sync::MutexGuard<'_, log_alerts::Matcher> {
        self.log_matches.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn collector(&self) -> std::sync::MutexGuard<'_, Option<tugboat_runtime::logs::collect::Collector>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn forwarders(&self) -> std::sync::MutexGuard<'_, Option<forward::Forwarders>> {
        self.forwarders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the log collector has done, while it runs.
    pub fn log_stats(&self) -> Option<tugboat_runtime::logs::collect::CollectorStats> {
        self.collector().as_ref().map(|c| c.stats())
    }
}

/// What a check task (or a scheduled job) reports.
struct Report {
    outcome: Outcome,
    drift_ms: f64,
    /// A scheduled job's typed outcome, for the alert.
    job: Option<JobOutcome>,
}

/// Runs until `shutdown` resolves; each message on `reload` re-reads the configuration (an invalid one
/// is logged and the running one kept). Sends the address the status page listens on to `bound` once
/// every check is registered and every schedule's first run is set.
pub async fn run(
    options: Options,
    loaded: Loaded,
    mut reload: mpsc::Receiver<()>,
    shutdown: impl std::future::Future<Output = ()>,
    bound: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), WatchError> {
    let store = Store::open(&options.state)?;
    let stack_name = loaded.stack.name.clone();
    let states: HashMap<String, CheckState> =
        store.check_states(&stack_name)?.into_iter().map(|s| (s.check_id.clone(), s)).collect();
    let open = states.values().filter(|s| s.incident_since_ms.is_some()).count();
    let listen = loaded.listen.clone();
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(loaded)),
        store: Mutex::new(store),
        view: RwLock::new(View {
            stack: stack_name.clone(),
            started_ms: probe::now_ms(),
            states,
            ..Default::default()
        }),
        outbox_wake: Notify::new(),
        options,
        jobs_running: Mutex::new(HashSet::new()),
        jobs_cancel: CancelToken::new(),
        logs: Mutex::new(None),
        log_matches: Mutex::default(),
        forwarders: Mutex::new(None),
    });
    // Every check is on the status page, not run yet, before the page can be asked for.
    register(&shared);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|cause| WatchError::Listen { addr: listen.clone(), cause })?;
    let addr = listener.local_addr().map_err(|cause| WatchError::Listen { addr: listen.clone(), cause })?;
    let checks = shared.current().checks.len();
    tracing::info!(stack = %stack_name, checks, %addr, open_incidents = open, "tug watch started");

    let (tx, rx) = mpsc::channel::<Report>(4096);
    let recorder = tokio::spawn(record(Arc::clone(&shared), rx));
    let (stop_outbox, outbox_stopped) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(deliver_outbox(Arc::clone(&shared), outbox_stopped));
    let housekeeping = tokio::spawn(housekeeping(Arc::clone(&shared)));
    let mut tasks = spawn_config_tasks(&shared, &tx);
    let server = tokio::spawn(server::serve(Arc::clone(&shared), listener));
    logs::start(&shared);
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = reload.recv() => {
                let options = shared.options.clone();
                let loaded = match tokio::task::spawn_blocking(move || load(&options)).await {
                    Ok(loaded) => loaded.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("configuration reload failed: {e}")),
                };
                match loaded {
                    Ok(new) => {
                        let (old_listen, new_listen) = (shared.current().listen.clone(), new.listen.clone());
                        for t in tasks.drain(..) {
                            t.abort();
                        }
                        *shared.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
                        register(&shared);
                        tasks = spawn_config_tasks(&shared, &tx);
                        shared.view().reloads.applied += 1;
                        tracing::info!(checks = shared.current().checks.len(), "configuration reloaded");
                        if old_listen != new_listen {
                            tracing::warn!(%old_listen, %new_listen, "a new listen address takes effect on restart");
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "configuration not reloaded: keeping the running one");
                        let mut view = shared.view();
                        view.reloads.refused += 1;
                        view.reloads.last_error = Some(error);
                    }
                }
            }
        }
    }
    tracing::info!("shutting down");
    // A job running now stops at its next safe point (its audit event says interrupted); the runtime
    // waits for it as it shuts down.
    shared.jobs_cancel.cancel();
    for t in tasks {
        t.abort();
    }
    drop(tx);
    // The collector stores what it read (and queues the log alerts that raises) before the outbox stops.
    let collector = shared.collector().take();
    if let Some(collector) = collector {
        let _ = tokio::task::spawn_blocking(move || collector.stop()).await;
    }
    let forwarders = shared.forwarders().take();
    if let Some(forwarders) = forwarders {
        forwarders.shutdown(Duration::from_secs(5)).await;
    }
    // The recorder drains what the checks already reported and flushes history before it ends.
    let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
    // Deliveries in flight finish and are marked, so a restart does not send them twice.
    let _ = stop_outbox.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), outbox).await;
    server.abort();
    housekeeping.abort();
    Ok(())
}

/// Puts the checks and scheduled jobs of the configuration in force on the status page, in config
/// order; results of checks that no longer exist are dropped.
fn register(shared: &Shared) {
    let loaded = shared.current();
    let mut view = shared.view();
    view.checks = loaded.checks.iter().map(|c| (c.id.clone(), c.kind.to_string(), c.target.clone())).collect();
    for (what, cron) in &loaded.schedules {
        view.checks.push((format!("schedule/{what}"), "job".into(), format!("tug {what} ({cron})")));
    }
    let known: HashSet<String> = view.checks.iter().map(|c| c.0.clone()).collect();
    view.latest.retain(|id, _| known.contains(id));
}

/// Check tasks, scheduled jobs and the heartbeat of the configuration in force. Each schedule's first
/// run is computed from the clock now, before this returns.
fn spawn_config_tasks(shared: &Arc<Shared>, tx: &mpsc::Sender<Report>) -> Vec<JoinHandle<()>> {
    let loaded = shared.current();
    let prober = Arc::new(Prober::new());
    let permits = Arc::new(Semaphore::new(loaded.concurrency));
    let count = loaded.checks.len().max(1) as u32;
    let mut tasks = Vec::new();
    for (i, check) in loaded.checks.iter().enumerate() {
        let interval = loaded.intervals[&check.id];
        // Spread first runs over one interval so 1000 checks do not all fire in the same millisecond.
        let offset = interval.mul_f64(i as f64 / count as f64);
        let rule = loaded.rules.get(&check.id);
        let mut cadence = Cadence::new(
            offset,
            interval,
            rule.and_then(|r| r.confirm_interval),
            rule.map_or(1, |r| r.failure_threshold),
        );
        let (check, prober, permits, tx) = (check.clone(), Arc::clone(&prober), Arc::clone(&permits), tx.clone());
        tasks.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut due = cadence.first();
            loop {
                tokio::time::sleep_until(start + due).await;
                let Ok(permit) = permits.acquire().await else { return };
                let drift_ms = (start + due).elapsed().as_secs_f64() * 1000.0;
                let outcome = prober.run(&check).await;
                drop(permit);
                due = cadence.after_run(due, outcome.passed(), start.elapsed());
                if tx.send(Report { outcome, drift_ms, job: None }).await.is_err() {
                    return;
                }
            }
        }));
    }
    let now_ms = shared.options.clock.now_ms();
    for (what, cron) in loaded.schedules.clone() {
        let first = next_due(&cron, now_ms);
        tasks.push(tokio::spawn(run_schedule(Arc::clone(shared), what, cron, first, tx.clone())));
    }
    if let Some((url, every)) = loaded.heartbeat.clone() {
        tasks.push(tokio::spawn(heartbeat(url, every)));
    }
    tasks
}

/// Folds outcomes into check states, raises alerts, and flushes history about once a second. A result
/// shows on the status page (and counts in `runs`) once the alert it raised is saved.
async fn record(shared: Arc<Shared>, mut rx: mpsc::Receiver<Report>) {
    let mut pending: Vec<(String, i64, bool, i64)> = Vec::new();
    let mut dirty: BTreeMap<String, CheckState> = BTreeMap::new();
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    // Whether a maintenance window is open, re-evaluated at most once a second.
    let mut muted: (Option<Instant>, bool) = (None, false);
    loop {
        tokio::select! {
            report = rx.recv() => {
                let Some(Report { outcome, drift_ms, job }) = report else { break };
                let loaded = shared.current();
                if muted.0.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    let open = Cron::local(shared.options.clock.now_ms())
                        .is_some_and(|now| loaded.maintenance.iter().any(|(c, d)| c.window_open(now, *d)));
                    muted = (Some(Instant::now()), open);
                }
                let now_ms = probe::now_ms();
                let rule = loaded.rules.get(&outcome.check).cloned().unwrap_or_else(job_rule);
                let (action, state) = {
                    let mut view = shared.view();
                    let state = view.states.entry(outcome.check.clone()).or_insert_with(|| CheckState {
                        check_id: outcome.check.clone(),
                        ..Default::default()
                    });
                    let before = state.clone();
                    let action = if outcome.status == Status::NotApplicable {
                        Action::None
                    } else {
                        alerting::step(state, outcome.passed(), now_ms, &rule, muted.1)
                    };
                    // What failed, for `tug audit`-style reading of the state DB; nothing when it passes
                    // (serialising every outcome cost more than the probe itself at 100 checks/s).
                    state.last_result = (!outcome.passed()).then(|| outcome.failure_summary());
                    let state_for_alert = if action == Action::Resolve { before } else { state.clone() };
                    dirty.insert(state.check_id.clone(), state.clone());
                    (action, state_for_alert)
                };
                pending.push((outcome.check.clone(), outcome.started_ms, outcome.passed(), outcome.duration_ms as i64));
                if action != Action::None {
                    // The state that says "alerted" and the alert are saved in one transaction.
                    let alert = prepare_alert(&loaded, &outcome, job.as_ref(), &state, action, &rule, now_ms);
                    flush_results(&shared, &mut pending, &mut dirty, Some(&alert));
                    shared.outbox_wake.notify_one();
                }
                let mut view = shared.view();
                view.drift.push_back((Instant::now(), drift_ms));
                while view.drift.front().is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(60)) {
                    view.drift.pop_front();
                }
                view.runs += 1;
                view.latest.insert(outcome.check.clone(), outcome);
            }
            _ = flush.tick() => flush_results(&shared, &mut pending, &mut dirty, None),
        }
    }
    flush_results(&shared, &mut pending, &mut dirty, None);
}

fn flush_results(
    shared: &Shared,
    pending: &mut Vec<(String, i64, bool, i64)>,
    dirty: &mut BTreeMap<String, CheckState>,
    alert: Option<&PreparedAlert>,
) {
    if pending.is_empty() && dirty.is_empty() && alert.is_none() {
        return;
    }
    let stack = shared.current().stack.name.clone();
    let states: Vec<CheckState> = std::mem::take(dirty).into_values().collect();
    let new = alert.map(|a| NewAlert {
        check_id: &a.check_id,
        kind: a.kind,
        summary: &a.summary,
        payload: &a.payload,
        providers: &a.providers,
    });
    let with_time = new.as_ref().zip(alert).map(|(n, a)| (n, a.time_ms));
    match (shared.store().record_check_results_and_alert(&stack, &states, pending, with_time), alert) {
        (Ok(Some(id)), Some(a)) => {
            tracing::warn!(check = %a.check_id, kind = a.kind, alert = id, summary = %a.summary, "alert")
        }
        (Ok(_), _) => {}
        (Err(e), _) => tracing::error!(error = %e, "cannot save check results and alerts"),
    }
    pending.clear();
}

/// An alert ready to be stored: what it says and to whom it goes.
struct PreparedAlert {
    check_id: String,
    kind: &'static str,
    summary: String,
    payload: String,
    providers: Vec<String>,
    time_ms: i64,
}

/// Alerts of scheduled jobs: the first failure counts.
fn job_rule() -> Rule {
    Rule {
        enabled: true,
        failure_threshold: 1,
        success_threshold: 1,
        confirm_interval: None,
        renotify: None,
        send_on_resolved: true,
        providers: vec![],
    }
}

fn prepare_alert(
    loaded: &Loaded,
    outcome: &Outcome,
    job: Option<&JobOutcome>,
    state: &CheckState,
    action: Action,
    rule: &Rule,
    now_ms: i64,
) -> PreparedAlert {
    let message = AlertMessage {
        kind: action.kind().to_string(),
        stack: loaded.stack.name.clone(),
        host: notify::hostname(),
        check: outcome.check.clone(),
        check_kind: outcome.kind.to_string(),
        target: outcome.target.clone(),
        summary: outcome.failure_summary(),
        failed_conditions: outcome.conditions.iter().filter(|c| !c.ok).cloned().collect(),
        diagnostics: outcome.diagnostics.clone(),
        failed_sources: job.map(|j| j.failures.clone()).unwrap_or_default(),
        time_ms: now_ms,
        failing_since_ms: state.failing_since_ms,
        last_success_ms: state.last_ok_ms,
        status_url: loaded.public_url.clone(),
    };
    let providers = if rule.providers.is_empty() { loaded.notifier.names() } else { rule.providers.clone() };
    if providers.is_empty() {
        tracing::warn!(check = %outcome.check, kind = action.kind(), "alert raised but `alerts:` names no provider");
    }
    PreparedAlert {
        check_id: outcome.check.clone(),
        kind: action.kind(),
        summary: if action == Action::Resolve { "passes again".to_string() } else { message.summary.clone() },
        payload: serde_json::to_string(&message).unwrap_or_default(),
        providers,
        time_ms: now_ms,
    }
}

/// Delivers queued alerts; a failure is retried with exponential backoff (5 s doubling to 5 min) and
/// the alert also goes to the provider's fallback at once.
async fn deliver_outbox(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = probe::now_ms();
        let due = shared.store().due_deliveries(now, 100);
        match due {
            Err(e) => tracing::error!(error = %e, "cannot read the alert outbox"),
            Ok(due) => {
                let loaded = shared.current();
                let sends = due.into_iter().map(|entry| {
                    let loaded = Arc::clone(&loaded);
                    async move {
                        let result = match serde_json::from_str::<AlertMessage>(&entry.payload) {
                            Ok(message) => loaded.notifier.deliver(&entry.provider, &message).await,
                            Err(e) => Err(format!("unreadable alert payload: {e}")),
                        };
                        (entry, result)
                    }
                });
                let results = futures_util::future::join_all(sends).await;
                let now = probe::now_ms();
                let mut store = shared.store();
                for (entry, result) in results {
                    match result {
                        Ok(()) => {
                            tracing::info!(provider = %entry.provider, alert = entry.event_id, attempts = entry.attempts + 1, "alert delivered");
                            let _ = store.mark_delivered(entry.id, now);
                        }
                        Err(error) => {
                            let backoff = Duration::from_secs(5)
                                .saturating_mul(1 << entry.attempts.min(6))
                                .min(Duration::from_secs(300));
                            let expired = now - entry.created_ms > GIVE_UP_AFTER.as_millis() as i64;
                            let next = (!expired).then(|| now + backoff.as_millis() as i64);
                            tracing::warn!(provider = %entry.provider, alert = entry.event_id, %error, retry_in_s = backoff.as_secs(), gave_up = expired, "alert not delivered");
                            let _ = store.mark_failed(entry.id, &error, next, now);
                            if let Some(fallback) =
                                loaded.notifier.provider(&entry.provider).and_then(|p| p.fallback.clone())
                            {
                                if let Ok(true) = store.add_delivery(entry.event_id, &fallback, now) {
                                    tracing::warn!(from = %entry.provider, to = %fallback, alert = entry.event_id, "alert failed over");
                                }
                            }
                        }
                    }
                }
            }
        }
        let next = shared.store().next_delivery_ms().ok().flatten();
        let wait = next
            .map(|n| Duration::from_millis((n - probe::now_ms()).clamp(0, 60_000) as u64))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = shared.outbox_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The first cron time after `now_ms`, in Unix milliseconds.
fn next_due(cron: &Cron, now_ms: i64) -> Option<i64> {
    cron.next_after(Cron::local(now_ms)?).map(|t| t.timestamp_millis())
}

/// Runs `backup` / `drill` at their cron times on the daemon's clock; a failed run alerts like a failed
/// check. `first` is the first cron time, computed when the schedule was set up.
async fn run_schedule(shared: Arc<Shared>, what: String, cron: Cron, first: Option<i64>, tx: mpsc::Sender<Report>) {
    let clock = Arc::clone(&shared.options.clock);
    let mut due = first;
    loop {
        let Some(due_ms) = due else {
            tracing::warn!(%what, %cron, "schedule never fires");
            return;
        };
        if let Some(at) = Cron::local(due_ms) {
            tracing::info!(%what, next = %at.format("%Y-%m-%d %H:%M %Z"), "scheduled");
        }
        // Sleep towards the cron time, looking at the clock again at least once a second.
        loop {
            let left = due_ms - clock.now_ms();
            if left <= 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(left as u64).min(CLOCK_RECHECK)).await;
        }
        if shared.running().insert(what.clone()) {
            // On a task of its own, so that a reload (which replaces this schedule) does not lose the run.
            let run = tokio::spawn(run_job(Arc::clone(&shared), what.clone(), tx.clone()));
            let _ = run.await;
        } else {
            tracing::warn!(%what, "the previous run is still going: this run is skipped");
        }
        due = next_due(&cron, clock.now_ms().max(due_ms));
    }
}

/// One run of a scheduled job through the injected runner, on a blocking thread.
async fn run_job(shared: Arc<Shared>, what: String, tx: mpsc::Sender<Report>) {
    let started_ms = probe::now_ms();
    let start = Instant::now();
    tracing::info!(%what, "scheduled run started");
    let runner = Arc::clone(&shared.options.jobs);
    let (options, cancel, name) = (shared.options.clone(), shared.jobs_cancel.clone(), what.clone());
    let result = tokio::task::spawn_blocking(move || {
        let job = Job {
            name: &name,
            dir: &options.dir,
            environment: options.environment.as_deref(),
            state: &options.state,
            cancel: &cancel,
        };
        runner.run(&job)
    })
    .await;
    shared.running().remove(&what);
    let job = result.unwrap_or_else(|e| JobOutcome::failed(format!("{what}: the run panicked: {e}"), vec![]));
    if shared.jobs_cancel.is_cancelled() {
        // Stopped by the shutdown: nothing to alert about.
        tracing::info!(%what, summary = %job.line(), "scheduled run stopped by the shutdown");
        return;
    }
    tracing::info!(%what, passed = job.ok, summary = %job.line(), "scheduled run finished");
    let outcome = Outcome {
        check: format!("schedule/{what}"),
        suite: "schedule".into(),
        name: what.clone(),
        kind: "job",
        target: format!("tug {what}"),
        status: if job.ok { Status::Pass } else { Status::Fail },
        started_ms,
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        conditions: vec![],
        error: (!job.ok).then(|| job.line()),
        diagnostics: vec![],
        values: BTreeMap::new(),
    };
    let _ = tx.send(Report { outcome, drift_ms: 0.0, job: Some(job) }).await;
}

/// Pings the dead man's switch while the daemon runs; missing pings tell an outside service it stopped.
async fn heartbeat(url: String, every: Duration) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "heartbeat disabled"),
    };
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => tracing::debug!("heartbeat sent"),
            Ok(r) => tracing::warn!(status = %r.status(), url = %notify::redact_url(&url), "heartbeat refused"),
            Err(e) => tracing::warn!(error = %e, url = %notify::redact_url(&url), "heartbeat failed"),
        }
    }
}

/// Drops history beyond the retention bound, hourly.
async fn housekeeping(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticks.tick().await;
        let before = probe::now_ms() - shared.current().retention.as_millis() as i64;
        match shared.store().prune_watch_history(before) {
            Ok(n) if n > 0 => tracing::info!(buckets = n, "old history pruned"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot prune history"),
        }
    }
}
