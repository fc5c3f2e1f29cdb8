//! `tug watch`: runs every check on its interval, turns results into alerts, delivers them through an
//! outbox that survives provider outages and restarts, runs scheduled backups and drills, pings a
//! heartbeat, and serves a status page and Prometheus metrics.
//!
//! ```text
//!  check tasks ──outcome──▶ recorder ──state, history──▶ SQLite (state.db)
//!  (one per check,           │  alert state machine        ▲
//!   interval ticks,          └─ alert ──▶ outbox rows ─────┘
//!   bounded by a semaphore)                 │
//!                            outbox worker ◀┘ deliver, retry with backoff, fail over
//!  server: / (status page), /metrics, /api/status — reads the recorder's view and the store
//! ```

pub mod alerting;
pub mod cron;
pub mod notify;
mod server;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;
use tugboat::stack::{self, ConfigError, LoadOptions, Stack};
use tugboat::store::{CheckState, NewAlert, Store};

use crate::probe::{self, Check, Outcome, Prober, Status};
use alerting::{Action, Rule};
use cron::Cron;
use notify::{AlertMessage, Notifier};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9925";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// A delivery is retried this long before it is given up (and logged as lost).
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How `tug watch` was started.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub environment: Option<String>,
    pub state: PathBuf,
    /// `--listen`, overriding `watch.listen`.
    pub listen: Option<String>,
    /// The command that runs scheduled jobs: `tug` itself plus its global flags; `backup` or `drill`
    /// and `--dir` are appended.
    pub job_command: Vec<OsString>,
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
    let default_interval = watch.interval.map(|i| i.0).unwrap_or(DEFAULT_INTERVAL);
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
    ConfigError::collect(errors)?;
    Ok(Loaded {
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
    pub runs: u64,
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
}

/// What a check task reports.
struct Report {
    outcome: Outcome,
    drift_ms: f64,
}

/// Runs until `shutdown` resolves; each message on `reload` re-reads the configuration (an invalid one
/// is logged and the running one kept). Returns the address the status page listened on.
pub async fn run(
    options: Options,
    loaded: Loaded,
    mut reload: mpsc::Receiver<()>,
    shutdown: impl std::future::Future<Output = ()>,
    bound: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), WatchError> {
    let store = Store::open(&options.state)?;
    let stack_name = loaded.stack.name.clone();
    let listener = tokio::net::TcpListener::bind(&loaded.listen)
        .await
        .map_err(|cause| WatchError::Listen { addr: loaded.listen.clone(), cause })?;
    let addr = listener.local_addr().map_err(|cause| WatchError::Listen { addr: loaded.listen.clone(), cause })?;
    let states: HashMap<String, CheckState> =
        store.check_states(&stack_name)?.into_iter().map(|s| (s.check_id.clone(), s)).collect();
    let open: Vec<&String> = states.values().filter(|s| s.incident_since_ms.is_some()).map(|s| &s.check_id).collect();
    tracing::info!(stack = %stack_name, checks = loaded.checks.len(), %addr, open_incidents = open.len(), "tug watch started");
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(loaded)),
        store: Mutex::new(store),
        view: RwLock::new(View { stack: stack_name, started_ms: probe::now_ms(), states, ..Default::default() }),
        outbox_wake: Notify::new(),
        options,
    });
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }

    let (tx, rx) = mpsc::channel::<Report>(4096);
    let recorder = tokio::spawn(record(Arc::clone(&shared), rx));
    let (stop_outbox, outbox_stopped) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(deliver_outbox(Arc::clone(&shared), outbox_stopped));
    let server = tokio::spawn(server::serve(Arc::clone(&shared), listener));
    let housekeeping = tokio::spawn(housekeeping(Arc::clone(&shared)));
    let mut tasks = spawn_config_tasks(&shared, &tx);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = reload.recv() => {
                let options = shared.options.clone();
                match tokio::task::spawn_blocking(move || load(&options)).await {
                    Ok(Ok(new)) => {
                        let (old_listen, new_listen) = (shared.current().listen.clone(), new.listen.clone());
                        for t in tasks.drain(..) {
                            t.abort();
                        }
                        *shared.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
                        tasks = spawn_config_tasks(&shared, &tx);
                        tracing::info!(checks = shared.current().checks.len(), "configuration reloaded");
                        if old_listen != new_listen {
                            tracing::warn!(%old_listen, %new_listen, "a new listen address takes effect on restart");
                        }
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "configuration not reloaded: keeping the running one"),
                    Err(e) => tracing::error!(error = %e, "configuration reload failed"),
                }
            }
        }
    }
    tracing::info!("shutting down");
    for t in tasks {
        t.abort();
    }
    drop(tx);
    // The recorder drains what the checks already reported and flushes history before it ends.
    let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
    // Deliveries in flight finish and are marked, so a restart does not send them twice.
    let _ = stop_outbox.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), outbox).await;
    server.abort();
    housekeeping.abort();
    Ok(())
}

/// Check tasks, scheduled jobs and the heartbeat of the configuration in force.
fn spawn_config_tasks(shared: &Arc<Shared>, tx: &mpsc::Sender<Report>) -> Vec<JoinHandle<()>> {
    let loaded = shared.current();
    {
        let mut view = shared.view();
        view.checks = loaded.checks.iter().map(|c| (c.id.clone(), c.kind.to_string(), c.target.clone())).collect();
        for (what, cron) in &loaded.schedules {
            view.checks.push((format!("schedule/{what}"), "job".into(), format!("tug {what} ({cron})")));
        }
        let known: Vec<String> = view.checks.iter().map(|c| c.0.clone()).collect();
        view.latest.retain(|id, _| known.contains(id));
    }
    let prober = Arc::new(Prober::new());
    let permits = Arc::new(Semaphore::new(loaded.concurrency));
    let count = loaded.checks.len().max(1) as u32;
    let mut tasks = Vec::new();
    for (i, check) in loaded.checks.iter().enumerate() {
        let interval = loaded.intervals[&check.id];
        // Spread first runs over one interval so 1000 checks do not all fire in the same millisecond.
        let offset = interval.mul_f64(i as f64 / count as f64);
        let (check, prober, permits, tx) = (check.clone(), Arc::clone(&prober), Arc::clone(&permits), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let due = ticks.tick().await;
                let Ok(_permit) = permits.acquire().await else { return };
                let drift_ms = due.elapsed().as_secs_f64() * 1000.0;
                let outcome = prober.run(&check).await;
                if tx.send(Report { outcome, drift_ms }).await.is_err() {
                    return;
                }
            }
        }));
    }
    for (what, cron) in loaded.schedules.clone() {
        tasks.push(tokio::spawn(run_schedule(Arc::clone(shared), what, cron, tx.clone())));
    }
    if let Some((url, every)) = loaded.heartbeat.clone() {
        tasks.push(tokio::spawn(heartbeat(url, every)));
    }
    tasks
}

/// Folds outcomes into check states, raises alerts, and flushes history about once a second.
async fn record(shared: Arc<Shared>, mut rx: mpsc::Receiver<Report>) {
    let mut pending: Vec<(String, i64, bool, i64)> = Vec::new();
    let mut dirty: BTreeMap<String, CheckState> = BTreeMap::new();
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    // Whether a maintenance window is open, re-evaluated at most once a second.
    let mut muted: (Option<Instant>, bool) = (None, false);
    loop {
        tokio::select! {
            report = rx.recv() => {
                let Some(Report { outcome, drift_ms }) = report else { break };
                let loaded = shared.current();
                if muted.0.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    let now = chrono::Local::now();
                    muted = (Some(Instant::now()), loaded.maintenance.iter().any(|(c, d)| c.window_open(now, *d)));
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
                    let snapshot = state.clone();
                    view.drift.push_back((Instant::now(), drift_ms));
                    while view.drift.front().is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(60)) {
                        view.drift.pop_front();
                    }
                    view.runs += 1;
                    view.latest.insert(outcome.check.clone(), outcome.clone());
                    dirty.insert(snapshot.check_id.clone(), snapshot);
                    (action, state_for_alert)
                };
                pending.push((outcome.check.clone(), outcome.started_ms, outcome.passed(), outcome.duration_ms as i64));
                if action != Action::None {
                    // The state that says "alerted" and the alert are saved in one transaction.
                    let alert = prepare_alert(&loaded, &outcome, &state, action, &rule, now_ms);
                    flush_results(&shared, &mut pending, &mut dirty, Some(&alert));
                    shared.outbox_wake.notify_one();
                }
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
        renotify: None,
        send_on_resolved: true,
        providers: vec![],
    }
}

fn prepare_alert(
    loaded: &Loaded,
    outcome: &Outcome,
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

/// Runs `tug backup` / `tug drill` at their cron times; a failed run alerts like a failed check.
async fn run_schedule(shared: Arc<Shared>, what: String, cron: Cron, tx: mpsc::Sender<Report>) {
    loop {
        let now = chrono::Local::now();
        let Some(next) = cron.next_after(now) else {
            tracing::warn!(%what, %cron, "schedule never fires");
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tracing::info!(%what, next = %next.format("%Y-%m-%d %H:%M %Z"), "scheduled");
        tokio::time::sleep(wait).await;
        let started_ms = probe::now_ms();
        let start = Instant::now();
        let options = &shared.options;
        let mut command =
            tokio::process::Command::new(options.job_command.first().cloned().unwrap_or_else(|| "tug".into()));
        command
            .args(options.job_command.iter().skip(1))
            .arg(&what)
            .arg("--dir")
            .arg(&options.dir)
            .arg("--state")
            .arg(&options.state);
        let result = command.kill_on_drop(true).output().await;
        let (passed, error) = match result {
            Ok(out) if out.status.success() => (true, None),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stdout = String::from_utf8_lossy(&out.stdout);
                let tail: Vec<&str> = stderr.lines().chain(stdout.lines()).filter(|l| !l.trim().is_empty()).collect();
                let tail = tail[tail.len().saturating_sub(5)..].join(" | ");
                (false, Some(format!("tug {what} exited with {}: {tail}", out.status.code().unwrap_or(-1))))
            }
            Err(e) => (false, Some(format!("cannot run tug {what}: {e}"))),
        };
        tracing::info!(%what, passed, "scheduled run finished");
        let outcome = Outcome {
            check: format!("schedule/{what}"),
            suite: "schedule".into(),
            name: what.clone(),
            kind: "job",
            target: format!("tug {what}"),
            status: if passed { Status::Pass } else { Status::Fail },
            started_ms,
            duration_ms: start.elapsed().as_secs_f64() * 1000.0,
            conditions: vec![],
            error,
            diagnostics: vec![],
            values: BTreeMap::new(),
        };
        if tx.send(Report { outcome, drift_ms: 0.0 }).await.is_err() {
            return;
        }
    }
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
