//! `tug backup [SOURCE…]`, `tug backup init|snapshots|forget|check`.

use std::io::Write;

use serde_json::json;

use tugboat::stack::{self, LoadOptions, SecretError, Stack};
use tugboat::store::Outcome;
use tugboat_backup::repo::{KeepPolicy, ReadData, Repo, RepoConfig};
use tugboat_backup::run::{self, SourceOutcome};

use crate::cli::{BackupArgs, BackupCommand, Global};
use crate::exit::{Exit, UsageError};
use crate::render::style::{paint, BOLD, DIM, HIGH, OK};

/// Loads the stack for a command that acts on it (real `.env` values, no template placeholders).
pub fn load(dir: &std::path::Path, g: &Global) -> anyhow::Result<Stack> {
    let options = LoadOptions { environment: g.environment.clone(), ..LoadOptions::default() };
    Ok(stack::load(dir, &options)?)
}

/// The repository named in `backup:`, with its password from `password_env` / `password_file`.
pub fn repo_config(stack: &Stack) -> anyhow::Result<RepoConfig> {
    let backup =
        stack.config.backup.as_ref().ok_or_else(|| UsageError("tugboat.yml has no `backup:` section".into()))?;
    let location = if backup.repository.contains(':') && !backup.repository.starts_with('/') {
        backup.repository.clone()
    } else {
        let dir = std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone());
        tugboat::stack::normalize::resolve_path(&backup.repository, &dir)
    };
    let password = match stack.password("backup", backup.password_env.as_deref(), backup.password_file.as_deref()) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(
                UsageError("backup: set `password_env` (or `password_file`) for the repository key".into()).into()
            )
        }
        Err(e @ SecretError::Unset { .. }) => return Err(UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    Ok(RepoConfig { location, password })
}

pub fn open_repo(stack: &Stack) -> anyhow::Result<Repo> {
    Ok(Repo::open(&repo_config(stack)?)?)
}

pub fn run(g: &Global, args: &BackupArgs) -> anyhow::Result<Exit> {
    match &args.command {
        Some(BackupCommand::Init(a)) => init(g, &a.dir),
        Some(BackupCommand::Snapshots(a)) => snapshots(g, &a.dir, a.source.as_deref()),
        Some(BackupCommand::Forget(a)) => forget(g, &a.dir, a.prune, a.dry_run),
        Some(BackupCommand::Check(a)) => {
            let read = match (a.read_data, a.read_data_subset) {
                (true, _) => ReadData::All,
                (false, Some(p)) if (0.0..=100.0).contains(&p) => ReadData::Subset(p),
                (false, Some(p)) => {
                    return Err(UsageError(format!("--read-data-subset {p}: give a percentage from 0 to 100")).into())
                }
                _ => ReadData::No,
            };
            check(g, &a.dir, read)
        }
        None => backup(g, args),
    }
}

fn init(g: &Global, dir: &std::path::Path) -> anyhow::Result<Exit> {
    let stack = load(dir, g)?;
    let config = repo_config(&stack)?;
    Repo::init(&config)?;
    let mut store = super::open_store(dir, g)?;
    super::record(
        &mut store,
        &stack.name,
        stack.config_digest(),
        "backup init",
        json!({"repository": config.location}),
        Outcome::Ok,
    )?;
    if g.json {
        super::print_json(&json!({"repository": config.location, "created": true}))?;
    } else {
        super::out(&format!("created repository {}\n", config.location))?;
    }
    Ok(Exit::Ok)
}

fn backup(g: &Global, args: &BackupArgs) -> anyhow::Result<Exit> {
    let stack = load(&args.dir, g)?;
    let sources = run::plan(&stack, &args.sources).map_err(UsageError)?;
    let repo = open_repo(&stack)?;
    let run_id = run::new_run_id();
    let progress = Bars::new(!g.json);
    let report = run::run(&repo, &stack, sources, &run_id, &progress);
    let mut store = super::open_store(&args.dir, g)?;
    for s in &report.sources {
        if let (Some(snap), false) = (&s.snapshot, s.manifest.is_empty()) {
            store.record_manifest(&snap.id, &s.name, &json!({"tables": s.manifest, "tool": s.tool}))?;
        }
    }
    let value = serde_json::to_value(&report)?;
    store.record_backup_run(&run_id, &stack.name, report.ok, &value)?;
    let failed: Vec<&str> = report.sources.iter().filter(|s| !s.ok).map(|s| s.name.as_str()).collect();
    let outcome =
        if failed.is_empty() { Outcome::Ok } else { Outcome::Failed(format!("failed: {}", failed.join(", "))) };
    let params = json!({
        "run": run_id,
        "sources": report.sources.iter().map(|s| json!({"source": s.name, "ok": s.ok, "snapshot": s.snapshot.as_ref().map(|x| &x.short_id)})).collect::<Vec<_>>(),
    });
    super::record(&mut store, &stack.name, stack.config_digest(), "backup", params, outcome)?;
    if g.json {
        super::print_json(&report)?;
    } else {
        print_run(&report.sources, report.duration_ms);
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Problem })
}

fn print_run(sources: &[SourceOutcome], duration_ms: u64) {
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "{}",
        paint(
            BOLD,
            &format!(
                "{:<16} {:<9} {:<8} {:>10} {:>10} {:>8}  {}",
                "source", "kind", "result", "size", "added", "time", "snapshot"
            )
        )
    );
    for s in sources {
        let (size, added) = s
            .snapshot
            .as_ref()
            .and_then(|x| x.summary.as_ref())
            .map(|m| (crate::render::human_bytes(m.bytes_total), crate::render::human_bytes(m.bytes_added)))
            .unwrap_or_default();
        let result = if s.ok { paint(OK, "ok      ") } else { paint(HIGH, "failed  ") };
        let snap = s.snapshot.as_ref().map(|x| x.short_id.clone()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:<9} {result} {size:>10} {added:>10} {:>7.1}s  {snap}",
            s.name,
            s.kind,
            s.duration_ms as f64 / 1000.0
        );
        if let Some(e) = &s.error {
            let _ = writeln!(out, "  {}", paint(HIGH, e));
        }
    }
    let failed = sources.iter().filter(|s| !s.ok).count();
    let verdict = if failed == 0 { paint(OK, "ok:") } else { paint(HIGH, "failed:") };
    let _ = writeln!(
        out,
        "\n{verdict} {} of {} sources backed up ({:.1}s)",
        sources.len() - failed,
        sources.len(),
        duration_ms as f64 / 1000.0
    );
}

fn snapshots(g: &Global, dir: &std::path::Path, source: Option<&str>) -> anyhow::Result<Exit> {
    let stack = load(dir, g)?;
    let repo = open_repo(&stack)?;
    let mut tags = vec![format!("stack={}", stack.name)];
    if let Some(s) = source {
        tags.push(format!("source={s}"));
    }
    let list = repo.snapshots(&tags)?;
    if g.json {
        super::print_json(&list)?;
        return Ok(Exit::Ok);
    }
    let mut out = anstream::stdout();
    for s in &list {
        let source = s.tags.iter().find_map(|t| t.strip_prefix("source=")).unwrap_or("-");
        let size = s.summary.as_ref().map(|m| crate::render::human_bytes(m.bytes_total)).unwrap_or_default();
        let _ = writeln!(out, "{}  {}  {source:<16} {size:>10}  {}", s.short_id, s.time, paint(DIM, &s.tags.join(",")));
    }
    if list.is_empty() {
        let _ = writeln!(out, "{}", paint(DIM, "no snapshots"));
    }
    Ok(Exit::Ok)
}

fn forget(g: &Global, dir: &std::path::Path, prune: bool, dry_run: bool) -> anyhow::Result<Exit> {
    let stack = load(dir, g)?;
    let policy: KeepPolicy = stack.config.backup.as_ref().map(|b| b.keep).unwrap_or_default();
    if policy.is_empty() {
        return Err(UsageError(
            "backup.keep is empty: set e.g. { daily: 7, weekly: 4, monthly: 12 } before forgetting anything".into(),
        )
        .into());
    }
    let repo = open_repo(&stack)?;
    let plan = repo.forget(&policy, "source=", dry_run, prune)?;
    let mut store = super::open_store(dir, g)?;
    let params = json!({"prune": prune, "kept": plan.keep.len(), "removed": plan.remove.iter().map(|s| &s.short_id).collect::<Vec<_>>()});
    super::record(
        &mut store,
        &stack.name,
        stack.config_digest(),
        "backup forget",
        params,
        if dry_run { Outcome::DryRun } else { Outcome::Ok },
    )?;
    if g.json {
        super::print_json(&plan)?;
        return Ok(Exit::Ok);
    }
    let mut out = anstream::stdout();
    for (s, reasons) in &plan.keep {
        let _ =
            writeln!(out, "{} {}  {}  {}", paint(OK, "keep  "), s.short_id, s.time, paint(DIM, &reasons.join(", ")));
    }
    for s in &plan.remove {
        let verb = if dry_run { "would remove" } else { "removed" };
        let _ = writeln!(out, "{} {}  {}", paint(HIGH, &format!("{verb:<6}")), s.short_id, s.time);
    }
    Ok(Exit::Ok)
}

fn check(g: &Global, dir: &std::path::Path, read: ReadData) -> anyhow::Result<Exit> {
    let stack = load(dir, g)?;
    let repo = open_repo(&stack)?;
    let report = repo.check(read)?;
    if g.json {
        super::print_json(&report)?;
    } else {
        let mut out = anstream::stdout();
        for e in &report.errors {
            let _ = writeln!(out, "{} {e}", paint(HIGH, "error:"));
        }
        let verdict = if report.ok { paint(OK, "ok:") } else { paint(HIGH, "damaged:") };
        let _ = writeln!(out, "{verdict} {} snapshots, {} packs read", report.snapshots, report.packs_read);
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Problem })
}

/// A byte counter per source on a terminal.
struct Bars {
    multi: Option<indicatif::MultiProgress>,
    bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Bars {
    fn new(enabled: bool) -> Bars {
        use std::io::IsTerminal;
        let multi = (enabled && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
        Bars { multi, bars: Default::default() }
    }
}

impl run::Progress for Bars {
    fn source_started(&self, name: &str) {
        if let Some(m) = &self.multi {
            let bar = m.add(indicatif::ProgressBar::new_spinner());
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {msg:16} {bytes} ({bytes_per_sec}) {elapsed}")
            {
                bar.set_style(style);
            }
            bar.set_message(name.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            if let Ok(mut bars) = self.bars.lock() {
                bars.insert(name.to_string(), bar);
            }
        }
    }
    fn bytes(&self, name: &str, bytes: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(name).cloned()) {
            bar.set_position(bytes);
        }
    }
    fn source_finished(&self, outcome: &SourceOutcome) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(&outcome.name)) {
            bar.finish_and_clear();
        }
    }
}
