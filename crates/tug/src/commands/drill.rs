//! `tug drill [SOURCE…] [--deep] [--snapshot ID]`: request → plan → (dry run: print | run: restore, prove,
//! time) → render.

use tugboat_backup::Drill;

use crate::cli::{DrillArgs, Global};
use crate::exit::Exit;
use crate::render;

pub fn run(g: &Global, args: &DrillArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let request = Drill { deep: args.deep, snapshot: args.snapshot.clone(), ..Drill::new(&stack, &args.sources) };
    super::run_operation(&args.dir, g, &request, args.dry_run, |_, report| {
        render::drill::print(g, report)?;
        Ok(if report.ok { Exit::Ok } else { Exit::Problem })
    })
}
