//! `tug deploy SERVICE [--image REF]`, `tug rollback SERVICE`: blue-green through tug proxy.

use std::path::{Path, PathBuf};

use tugboat::stack::Stack;
use tugboat_runtime::deploy::router::ProxyRouter;
use tugboat_runtime::deploy::{Deploy, DeployOptions, Rollback};
use tugboat_runtime::engine::Docker;

use crate::cli::{DeployArgs, Global, RollbackArgs};
use crate::exit::Exit;

/// The proxy's admin socket: `proxy.admin` beside tugboat.yml, default `.tugboat/proxy.sock`.
pub fn admin_socket(stack: &Stack) -> PathBuf {
    let admin =
        stack.config.proxy.as_ref().and_then(|p| p.admin.clone()).unwrap_or_else(|| ".tugboat/proxy.sock".into());
    let base =
        stack.config_file.as_ref().and_then(|(p, _)| p.parent().map(Path::to_path_buf)).unwrap_or(stack.dir.clone());
    base.join(admin)
}

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
