//! `tug`: operate self-hosted service stacks. This binary parses arguments, calls the engine
//! (`tugboat`), renders its reports and turns outcomes into exit codes; nothing else.

mod cli;
mod commands;
mod exit;
mod interrupt;
mod render;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a backup's threads each got a glibc arena that kept what they had freed,
/// and the first backup of 2 GiB peaked at 274 MiB instead of ~170 MiB (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps freed memory committed for a second (its `purge_delay`) before returning it. A restore frees
/// blob-sized buffers on every thread all the time, so that second held up to twice restic's peak; returned at
/// once, a restore of 1 GiB peaks at 94 MiB instead of 163 (restic: 100) at the same speed. (For a backup it
/// costs ~8-20 % of the time, so a backup keeps mimalloc's default: docs/benchmarks.md, "peak memory".)
/// mimalloc reads its options from the environment once, before `main`, and setting them from Rust needs
/// `unsafe`, so tug sets the variable and runs itself again, once.
const ALLOCATOR_OPTIONS: &str = "MIMALLOC_PURGE_DELAY";

fn with_allocator_options(command: &cli::Command) {
    use std::os::unix::process::CommandExt;
    if !matches!(command, cli::Command::Restore(_)) || std::env::var_os(ALLOCATOR_OPTIONS).is_some() {
        return;
    }
    let Ok(me) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(me);
    if let Some(name) = args.next() {
        again.arg0(name);
    }
    // `exec` only returns when it failed (the binary was replaced meanwhile, say): then run as we are.
    let _ = again.args(args).env(ALLOCATOR_OPTIONS, "0").exec();
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    with_allocator_options(&cli.command);
    // `tug watch` and `tug proxy` handle their own signals (SIGTERM stops them gracefully; SIGHUP reloads
    // watch, SIGUSR2 upgrades the proxy).
    if !matches!(cli.command, cli::Command::Watch(_) | cli::Command::Proxy(_)) {
        interrupt::install();
    }
    // The flag that allows replacing data, for the hint under an error that needs it.
    let replace_flag = match &cli.command {
        cli::Command::Migrate(_) => Some("--replace"),
        cli::Command::Restore(_) | cli::Command::Init(_) | cli::Command::Export(_) => Some("--force"),
        _ => None,
    };
    match commands::run(&cli) {
        Ok(code) => code.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            render::error::print(&err, replace_flag);
            exit::classify(&err).into()
        }
    }
}

/// A closed pipe on stdout (`tug config | head`) is the reader's choice, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
