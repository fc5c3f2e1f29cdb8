//! `tug restore SOURCE [--snapshot ID] [--to URL|NAME|scratch|PATH] [--force]`: request → plan → (dry run:
//! print | run) → render.

use tugboat_backup::Restore;

use crate::cli::{Global, RestoreArgs};
use crate::exit::Exit;
use crate::render;

pub fn run(g: &Global, args: &RestoreArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let request = Restore {
        stack: &stack,
        source: args.source.clone(),
        snapshot: args.snapshot.clone(),
        to: args.to.clone(),
        force: args.force,
    };
    super::run_operation(&args.dir, g, &request, args.dry_run, |_, report| {
        render::restore::print(g, report)?;
        Ok(Exit::Ok)
    })
}
