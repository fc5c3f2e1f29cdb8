//! `tug migrate SOURCE TARGET`: request → plan → (dry run: print | run: copy, parity) → render.

use tugboat::migrate::Migrate;

use super::parity as shared;
use crate::cli::{Global, MigrateArgs};
use crate::exit::Exit;
use crate::render;

pub fn run(g: &Global, args: &MigrateArgs) -> anyhow::Result<Exit> {
    let stack = shared::stack_for(&args.compare, g, &[&args.source, &args.target])?;
    let request = Migrate {
        stack: stack.as_ref(),
        source: args.source.clone(),
        target: args.target.clone(),
        replace: args.replace,
        parity: shared::options(&args.compare),
    };
    super::run_operation(&args.compare.dir, g, &request, args.dry_run, |plan, report| {
        render::migrate::print(g, plan, report)?;
        Ok(if report.parity_errored() {
            Exit::CannotAct
        } else if report.parity.equal {
            Exit::Ok
        } else {
            Exit::Problem
        })
    })
}
