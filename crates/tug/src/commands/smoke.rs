//! `tug smoke [SUITE]`: run a suite of checks once; exit 1 when any fails.

use tugboat_watch::smoke::Smoke;

use crate::cli::{Global, SmokeArgs};
use crate::exit::Exit;

pub fn run(g: &Global, args: &SmokeArgs) -> anyhow::Result<Exit> {
    // Checks need only their own variables; the compose file's are read from the template when no .env
    // exists (smoke runs from a machine that has no secrets, e.g. the LAN-side exposure checks).
    let stack = super::load_stack(&args.dir, g, true)?;
    let request = Smoke { stack: &stack, suite: args.suite.clone(), concurrency: args.concurrency };
    super::run_operation(&args.dir, g, &request, args.dry_run, |_, report| {
        if g.json {
            super::print_json(report)?;
        } else {
            crate::render::smoke::print(&mut anstream::stdout(), report)?;
        }
        Ok(if report.ok { Exit::Ok } else { Exit::Problem })
    })
}
