//! `tug backup [SOURCE…]`, `tug backup init|snapshots|forget|check`: request → plan → (dry run: print | run) → render.

use tugboat_backup::repo::ReadData;
use tugboat_backup::{open_repo, Backup, Forget, InitRepo};

use crate::cli::{BackupArgs, BackupCommand, CheckRepoArgs, ForgetArgs, Global, RepoInitArgs, SnapshotsArgs};
use crate::exit::{Exit, UsageError};
use crate::render;

pub fn run(g: &Global, args: &BackupArgs) -> anyhow::Result<Exit> {
    match &args.command {
        Some(BackupCommand::Init(a)) => init(g, a),
        Some(BackupCommand::Snapshots(a)) => snapshots(g, a),
        Some(BackupCommand::Forget(a)) => forget(g, a),
        Some(BackupCommand::Check(a)) => check(g, a),
        None => backup(g, args),
    }
}

fn init(g: &Global, args: &RepoInitArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let request = InitRepo { stack: &stack };
    super::run_operation(&args.dir, g, &request, args.dry_run, |_, report| {
        render::backup::print_init(g, report)?;
        Ok(Exit::Ok)
    })
}

fn backup(g: &Global, args: &BackupArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let request = Backup::new(&stack, &args.sources);
    super::run_operation(&args.dir, g, &request, args.dry_run, |_, report| {
        render::backup::print_run(g, report)?;
        // A full or unreachable repository is not a finding about the sources: tug could not act.
        Ok(if report.ok {
            Exit::Ok
        } else if report.sources.iter().any(|s| s.storage_full || s.repository_unreachable) {
            Exit::CannotAct
        } else {
            Exit::Problem
        })
    })
}

fn snapshots(g: &Global, args: &SnapshotsArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let repo = open_repo(&stack)?;
    let mut tags = vec![format!("stack={}", stack.name)];
    if let Some(s) = &args.source {
        tags.push(format!("source={s}"));
    }
    let list = repo.snapshots(&tags).map_err(tugboat::ops::Error::from)?;
    render::backup::print_snapshots(g, &list)?;
    Ok(Exit::Ok)
}

fn forget(g: &Global, args: &ForgetArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let request = Forget { stack: &stack, prune: args.prune };
    super::run_operation(&args.dir, g, &request, args.dry_run, |_, report| {
        render::backup::print_forget(g, report)?;
        Ok(Exit::Ok)
    })
}

fn check(g: &Global, args: &CheckRepoArgs) -> anyhow::Result<Exit> {
    let read = match (args.read_data, args.read_data_subset) {
        (true, _) => ReadData::All,
        (false, Some(p)) if (0.0..=100.0).contains(&p) => ReadData::Subset(p),
        (false, Some(p)) => {
            return Err(UsageError(format!("--read-data-subset {p}: give a percentage from 0 to 100")).into())
        }
        _ => ReadData::No,
    };
    let stack = super::load_stack(&args.dir, g, false)?;
    let repo = open_repo(&stack)?;
    let report = repo.check(read).map_err(tugboat::ops::Error::from)?;
    render::backup::print_check(g, &report)?;
    Ok(if report.ok { Exit::Ok } else { Exit::Problem })
}
