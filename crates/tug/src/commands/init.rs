//! `tug init [DIR]`: propose a tugboat.yml (and an env template) for an existing compose project.

use tugboat::stack::init::Init;
use tugboat::stack::{self, LoadOptions};
use tugboat::store::Store;

use crate::cli::{Global, InitArgs};
use crate::exit::Exit;

pub fn run(g: &Global, args: &InitArgs) -> anyhow::Result<Exit> {
    // Read the compose project as Compose would, ignoring any tugboat.yml we are about to replace.
    let project = stack::load(
        &args.dir,
        &LoadOptions { template_fallback: true, ignore_config: true, ..LoadOptions::default() },
    )?;
    let request = Init { project: &project, force: args.force };
    // `init` starts a stack: its dry run writes nothing at all, not even a state database.
    let mut store = match args.dry_run && !super::state_path(&args.dir, g).exists() {
        true => Store::open_in_memory()?,
        false => super::open_store(&args.dir, g)?,
    };
    super::run_operation_in(&mut store, g, &request, args.dry_run, |plan, report| {
        crate::render::init::print(g, &args.dir, plan, report)?;
        Ok(Exit::Ok)
    })
}
