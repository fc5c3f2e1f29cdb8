//! `tug deploy SERVICE [--image REF]`, `tug rollback SERVICE`: blue-green through tug proxy.

use tugboat_runtime::deploy::router::ProxyRouter;
use tugboat_runtime::deploy::{Deploy, DeployOptions, Rollback};
use tugboat_runtime::engine::Docker;

use crate::cli::{DeployArgs, Global, RollbackArgs};
use crate::exit::Exit;

pub use tugboat_runtime::deploy::router::admin_socket;

pub fn deploy(g: &Global, args: &DeployArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let engine = Docker::connect().map_err(tugboat::ops::Error::from)?;
    let router = ProxyRouter::new(admin_socket(&stack));
    let options = DeployOptions { service: args.service.clone(), image: args.image.clone() };
    let op = Deploy { stack: &stack, engine: &engine, router: &router, options };
    super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
        if g.json {
            super::print_json(report)?;
        } else {
            crate::render::deploy::print_deploy(&mut anstream::stdout(), report)?;
        }
        Ok(if report.reason.is_some() { Exit::Problem } else { Exit::Ok })
    })
}

pub fn rollback(g: &Global, args: &RollbackArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let engine = Docker::connect().map_err(tugboat::ops::Error::from)?;
    let router = ProxyRouter::new(admin_socket(&stack));
    let op = Rollback { stack: &stack, engine: &engine, router: &router, service: args.service.clone() };
    super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
        if g.json {
            super::print_json(report)?;
        } else {
            crate::render::deploy::print_rollback(&mut anstream::stdout(), report)?;
        }
        Ok(Exit::Ok)
    })
}
