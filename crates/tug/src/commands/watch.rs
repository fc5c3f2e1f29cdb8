//! `tug watch`: the monitoring daemon. SIGTERM or Ctrl-C stops it gracefully; SIGHUP reloads tugboat.yml
//! (an invalid file is logged and the running configuration kept). Scheduled backups and drills run in
//! this process through the engine's operations ([`EngineJobs`]).

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tugboat::ops::{self, Clock, Ctx, Executed, Mode, Operation, SystemClock};
use tugboat::stack::{self, LoadOptions};
use tugboat::store::Store;
use tugboat_backup::{Backup, BackupRun, Drill, DrillResults};
use tugboat_scan::osv::cvss::Severity;
use tugboat_scan::scan::{Scan, ScanReport};
use tugboat_watch::watch::jobs::{Job, JobOutcome, JobRunner, SourceFailure};
use tugboat_watch::watch::{self, Options};

use crate::cli::{Global, LogFormat, WatchArgs};
use crate::exit::Exit;

/// Test hook: the time (RFC 3339) the daemon's clock starts at; it then runs at the real pace. Tests
/// set it a second before a cron time, so a scheduled job runs without waiting for a minute boundary.
const CLOCK_START_ENV: &str = "TUGBOAT_WATCH_CLOCK_START";

pub fn run(g: &Global, args: &WatchArgs) -> anyhow::Result<Exit> {
    let options = Options {
        dir: args.dir.clone(),
        environment: g.environment.clone(),
        state: super::state_path(&args.dir, g),
        listen: args.listen.clone(),
        jobs: Arc::new(EngineJobs),
        clock: clock()?,
    };
    let loaded = watch::load(&options)?;
    if args.dry_run {
        let plan = loaded.plan(options.clock.now_ms());
        if g.json {
            super::print_json(&plan)?;
        } else {
            crate::render::watch::print_plan(&mut anstream::stdout(), &plan)?;
        }
        return Ok(Exit::Ok);
    }
    // `--json` on a daemon means machine-readable logs.
    init_logging(if g.json { LogFormat::Json } else { args.log_format });
    let runtime = tugboat_watch::runtime()?;
    runtime.block_on(async move {
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration");
                let _ = reload_tx.send(()).await;
            }
        });
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM"),
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            }
        };
        watch::run(options, loaded, reload_rx, shutdown, None).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Ok)
}

/// The system clock, or (tests) one started at `TUGBOAT_WATCH_CLOCK_START`.
fn clock() -> anyhow::Result<Arc<dyn Clock>> {
    let Some(start) = std::env::var(CLOCK_START_ENV).ok().filter(|s| !s.is_empty()) else {
        return Ok(Arc::new(SystemClock));
    };
    let at = chrono::DateTime::parse_from_rfc3339(&start)
        .map_err(|e| anyhow::anyhow!("{CLOCK_START_ENV}={start}: not an RFC 3339 time: {e}"))?;
    Ok(Arc::new(ShiftedClock { offset_ms: at.timestamp_millis() - SystemClock.now_ms() }))
}

/// The system clock moved by a fixed amount.
struct ShiftedClock {
    offset_ms: i64,
}

impl Clock for ShiftedClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms().saturating_add(self.offset_ms)
    }
}

/// Runs `watch.schedule`'s jobs in process: `backup` and `drill` of every source, through
/// [`ops::execute`] like `tug backup` and `tug drill`, so each run leaves one audit event and records its
/// snapshots, manifests and drill results in the state database.
pub struct EngineJobs;

impl JobRunner for EngineJobs {
    fn run(&self, job: &Job<'_>) -> JobOutcome {
        // The stack as it is now (a `.env` edited since the daemon started counts), with real values: no
        // template fallback, as for `tug backup`.
        let options = LoadOptions { environment: job.environment.map(str::to_string), ..LoadOptions::default() };
        let stack = match stack::load(job.dir, &options) {
            Ok(stack) => stack,
            Err(e) => return JobOutcome::failed(format!("{}: cannot load the stack: {e}", job.name), vec![]),
        };
        let mut store = match Store::open(job.state) {
            Ok(store) => store,
            Err(e) => return JobOutcome::failed(format!("{}: {e}", job.name), vec![]),
        };
        let mut ctx = Ctx { store: &mut store, progress: &(), cancel: job.cancel.clone(), clock: &SystemClock };
        match job.name {
            "backup" => match execute(&Backup::all(&stack), &mut ctx) {
                Ok(report) => backup_outcome(&report),
                Err(e) => JobOutcome::failed(format!("backup: {}", e.summary()), vec![]),
            },
            "drill" => match execute(&Drill::all(&stack), &mut ctx) {
                Ok(report) => drill_outcome(&report),
                Err(e) => JobOutcome::failed(format!("drill: {}", e.summary()), vec![]),
            },
            "scan" => {
                let scan = Scan {
                    stack: Some(&stack),
                    services: vec![],
                    images: vec![],
                    db: job.state.with_file_name("osv.db"),
                    sbom_only: false,
                    max_db_age_days: None,
                };
                match execute(&scan, &mut ctx) {
                    Ok(report) => scan_outcome(&report),
                    Err(e) => JobOutcome::failed(format!("scan: {}", e.summary()), vec![]),
                }
            }
            other => JobOutcome::failed(format!("{other}: not a job tug watch runs (backup, drill, scan)"), vec![]),
        }
    }
}

fn execute<O: Operation>(op: &O, ctx: &mut Ctx) -> ops::Result<O::Report> {
    match ops::execute(op, ctx, Mode::Run)? {
        Executed::Ran(_, report) => Ok(report),
        Executed::Planned(_) => Err(ops::Error::cannot_act("the job was only planned")),
    }
}

/// A scheduled scan fails (and alerts) while an image has a high or critical finding that is not ignored.
fn scan_outcome(report: &ScanReport) -> JobOutcome {
    let failures: Vec<(&str, String)> = report
        .images
        .iter()
        .filter_map(|image| {
            let serious: Vec<&str> = image
                .findings
                .iter()
                .filter(|f| f.ignored.is_none() && f.severity >= Severity::High)
                .map(|f| f.id.as_str())
                .collect();
            (!serious.is_empty()).then(|| (image.image.as_str(), format!("high or critical: {}", serious.join(", "))))
        })
        .collect();
    job_outcome("scan", report.images.len(), "images", failures, "free of high and critical findings")
}

fn backup_outcome(report: &BackupRun) -> JobOutcome {
    let failures = report.failures().into_iter().map(|(source, why)| (source, why.to_string())).collect();
    job_outcome("backup", report.sources.len(), "sources", failures, "backed up")
}

fn drill_outcome(report: &DrillResults) -> JobOutcome {
    job_outcome("drill", report.drills.len(), "sources", report.failures(), "restored and proven")
}

/// The typed outcome of a job: which sources failed, and why.
fn job_outcome(job: &str, total: usize, what: &str, failures: Vec<(&str, String)>, passed: &str) -> JobOutcome {
    if failures.is_empty() {
        return JobOutcome::passed(format!("{job}: {total} of {total} {what} {passed}"));
    }
    let summary = format!("{job}: {} of {total} {what} failed", failures.len());
    let failures =
        failures.into_iter().map(|(source, reason)| SourceFailure { source: source.to_string(), reason }).collect();
    JobOutcome::failed(summary, failures)
}

fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
