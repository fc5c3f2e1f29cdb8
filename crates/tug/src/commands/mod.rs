//! One file per subcommand; this module dispatches and holds what they share.

mod audit;
mod backup;
mod check;
mod completions;
mod config;
mod deploy;
mod diff_env;
mod doctor;
mod drill;
mod export;
mod init;
mod logs;
mod migrate;
mod parity;
mod plan;
mod proxy;
mod restore;
mod runtime;
mod scan;
mod smoke;
mod watch;

use std::path::{Path, PathBuf};

use anyhow::Context;
use tugboat::ops::{self, Ctx, Executed, Mode, Operation, SystemClock};
use tugboat::stack::{self, LoadOptions, Stack};
use tugboat::store::Store;

pub use crate::render::{display_path, out, print_json};

use crate::cli::{Cli, Command, Global};
use crate::exit::Exit;

pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let g = &cli.global;
    match &cli.command {
        Command::Check(args) => check::run(g, args),
        Command::Config(args) => config::run(g, args),
        Command::Init(args) => init::run(g, args),
        Command::DiffEnv(args) => diff_env::run(g, args),
        Command::Parity(args) => parity::run(g, args),
        Command::Migrate(args) => migrate::run(g, args),
        Command::Backup(args) => backup::run(g, args),
        Command::Restore(args) => restore::run(g, args),
        Command::Drill(args) => drill::run(g, args),
        Command::Smoke(args) => smoke::run(g, args),
        Command::Watch(args) => watch::run(g, args),
        Command::Up(args) => runtime::up(g, args),
        Command::Down(args) => runtime::down(g, args),
        Command::Status(args) => runtime::status(g, args),
        Command::Logs(args) => logs::run(g, args),
        Command::Doctor(args) => doctor::run(g, args),
        Command::Scan(args) => scan::run(g, args),
        Command::Proxy(args) => proxy::run(g, args),
        Command::Deploy(args) => deploy::deploy(g, args),
        Command::Rollback(args) => deploy::rollback(g, args),
        Command::Export(cmd) => export::run(g, cmd),
        Command::Plan(cmd) => plan::run(g, cmd),
        Command::Approve(args) => plan::approve(g, args),
        Command::Audit(cmd) => audit::run(g, cmd),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// Loads the stack in `dir` for `--env`. `static_view` lets commands that only read the configuration
/// (check, config, diff-env) fall back to the env template when no `.env` exists.
pub fn load_stack(dir: &Path, g: &Global, static_view: bool) -> anyhow::Result<Stack> {
    let options = LoadOptions {
        environment: g.environment.clone(),
        process_env: None,
        template_fallback: static_view,
        ignore_config: false,
    };
    let stack = stack::load(dir, &options)?;
    // Compose's own warnings (a variable used unset), once per variable, on stderr.
    for warning in &stack.project.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(stack)
}

/// `--state`, else `.tugboat/state.db` beside tugboat.yml (or in `dir`).
pub fn state_path(dir: &Path, g: &Global) -> PathBuf {
    if let Some(p) = &g.state {
        return p.clone();
    }
    let base =
        stack::find_config(dir).and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| dir.to_path_buf());
    base.join(".tugboat").join("state.db")
}

/// Plans and runs an engine operation against the stack's state database (one audit event on every path),
/// with progress on a terminal; then prints the plan of a dry run, or lets `show` render the report.
pub fn run_operation<O: Operation>(
    dir: &Path,
    g: &Global,
    op: &O,
    dry_run: bool,
    show: impl FnOnce(&O::Plan, &O::Report) -> anyhow::Result<Exit>,
) -> anyhow::Result<Exit> {
    run_operation_in(&mut open_store(dir, g)?, g, op, dry_run, show)
}

/// [`run_operation`] with a store of the caller's choosing.
pub fn run_operation_in<O: Operation>(
    store: &mut Store,
    g: &Global,
    op: &O,
    dry_run: bool,
    show: impl FnOnce(&O::Plan, &O::Report) -> anyhow::Result<Exit>,
) -> anyhow::Result<Exit> {
    let progress = crate::render::progress::Bars::new(!g.json);
    let mut ctx = Ctx { store, progress: &progress, cancel: crate::interrupt::token(), clock: &SystemClock };
    let executed = ops::execute(op, &mut ctx, Mode::dry_run(dry_run));
    progress.finish();
    match executed? {
        Executed::Planned(plan) => {
            print_plan(g, &plan)?;
            Ok(Exit::Ok)
        }
        Executed::Ran(plan, report) => show(&plan, &report),
    }
}

/// Prints a dry run's plan: its `Display`, or with `--json` `{"dry_run": true, "plan": …}`.
pub fn print_plan(g: &Global, plan: &(impl serde::Serialize + std::fmt::Display)) -> anyhow::Result<()> {
    if g.json {
        print_json(&serde_json::json!({"dry_run": true, "plan": plan}))
    } else {
        out(&format!("{plan}"))
    }
}

pub fn open_store(dir: &Path, g: &Global) -> anyhow::Result<Store> {
    let path = state_path(dir, g);
    Store::open(&path).with_context(|| format!("cannot open the state database {}", path.display()))
}
