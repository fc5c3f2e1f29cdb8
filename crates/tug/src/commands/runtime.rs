//! `tug up`, `tug down`, `tug status`: the stack's runtime through the Docker Engine.

use tugboat::stack::probes::HumanDuration;
use tugboat_runtime::deploy::router::{admin_socket, ProxyRouter, Router};
use tugboat_runtime::down::{Down, DownOptions};
use tugboat_runtime::engine::Docker;
use tugboat_runtime::spec::PullPolicy;
use tugboat_runtime::up::{Up, UpOptions};

use crate::cli::{DownArgs, Global, PullArg, StatusArgs, UpArgs};
use crate::exit::{Exit, UsageError};

fn engine() -> anyhow::Result<Docker> {
    Ok(Docker::connect().map_err(tugboat::ops::Error::from)?)
}

/// What `tug deploy` put live (read from the state database; none when the stack deploys nothing).
fn deployed_images(
    dir: &std::path::Path,
    g: &Global,
    stack: &tugboat::stack::Stack,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    if stack.config.deploy.is_empty() || !super::state_path(dir, g).exists() {
        return Ok(Default::default());
    }
    let store = super::open_store(dir, g)?;
    Ok(tugboat_runtime::deploy::deployed_images(&store, stack)?)
}

pub fn up(g: &Global, args: &UpArgs) -> anyhow::Result<Exit> {
    let timeout =
        HumanDuration::parse(&args.timeout).map_err(|e| UsageError(format!("--timeout {:?}: {e}", args.timeout)))?;
    let stack = super::load_stack(&args.dir, g, false)?;
    let engine = engine()?;
    let options = UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        build: args.build,
        pull: args.pull.map(|p| match p {
            PullArg::Always => PullPolicy::Always,
            PullArg::Missing => PullPolicy::Missing,
            PullArg::Never => PullPolicy::Never,
        }),
        force_recreate: args.force_recreate,
        remove_orphans: args.remove_orphans,
        wait: args.wait,
        images: deployed_images(&args.dir, g, &stack)?,
        timeout: timeout.0,
    };
    let router = ProxyRouter::new(admin_socket(&stack));
    let deploys = !stack.config.deploy.is_empty();
    let op = Up { stack: &stack, engine: &engine, options, router: deploys.then_some(&router as &dyn Router) };
    super::run_operation(&args.dir, g, &op, args.dry_run, |plan, report| {
        if g.json {
            super::print_json(report)?;
        } else {
            crate::render::runtime::print_up(&mut anstream::stdout(), plan, report)?;
        }
        Ok(Exit::Ok)
    })
}

pub fn down(g: &Global, args: &DownArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let engine = engine()?;
    let options = DownOptions { volumes: args.volumes, remove_orphans: args.remove_orphans };
    let op = Down { stack: &stack, engine: &engine, options };
    super::run_operation(&args.dir, g, &op, args.dry_run, |plan, report| {
        if g.json {
            super::print_json(report)?;
        } else {
            crate::render::runtime::print_down(&mut anstream::stdout(), plan, report)?;
        }
        Ok(Exit::Ok)
    })
}

pub fn status(g: &Global, args: &StatusArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let engine = engine()?;
    let images = deployed_images(&args.dir, g, &stack)?;
    let mut report = tugboat_runtime::status::status(&stack, &engine, &images)?;
    if !stack.config.deploy.is_empty() && super::state_path(&args.dir, g).exists() {
        let router = ProxyRouter::new(admin_socket(&stack));
        let store = super::open_store(&args.dir, g)?;
        report.drift.extend(tugboat_runtime::status::route_drift(&stack, &engine, &router, &store)?);
    }
    if g.json {
        super::print_json(&report)?;
    } else {
        crate::render::runtime::print_status(&mut anstream::stdout(), &report)?;
    }
    Ok(if report.in_sync() { Exit::Ok } else { Exit::Problem })
}
