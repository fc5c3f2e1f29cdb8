//! Running `up`'s plan: resources, images, then each service in order — its dependencies waited on,
//! its containers created, recreated or started. A failure names the service and the step, and says
//! which services were started before it (left as they are).

use std::collections::HashMap;

use tugboat::ops::{Ctx, Error, ErrorKind, Result};

use super::{Action, ContainerOutcome, ContainerStep, Up, UpPlan, UpReport};
use crate::build;
use crate::desired::{self, DesiredContainer};
use crate::engine::{BuildRequest, Engine, EngineError, StreamEvent};
use crate::labels;
use crate::spec::{ProjectSpec, ServiceSpec};
use crate::wait::{self, Goal};

pub(super) fn run(up: &Up, plan: &UpPlan, ctx: &mut Ctx) -> Result<UpReport> {
    let engine = up.engine;
    let spec = &plan.spec;
    let total = plan.networks.len() + plan.volumes.len() + plan.images.len() + plan.services.len();
    let mut step = 0;
    let mut begin = |what: &str| {
        step += 1;
        ctx.progress.started(what, step, total);
    };

    // Images first: a pull or build that fails leaves nothing created.
    // Image ids by reference (services sharing a reference share the step).
    let mut image_ids: HashMap<String, String> = HashMap::new();
    for i in &plan.images {
        ctx.cancel.check()?;
        let Some(service) = spec.services.iter().find(|s| s.name == i.service) else { continue };
        let what = format!("{} {}", i.action, i.reference);
        begin(&what);
        let id = match i.action {
            "build" => build_image(engine, service, &what, ctx)?,
            "pull" => {
                let mut on = |e: StreamEvent| {
                    if let StreamEvent::Bytes(n) = e {
                        ctx.progress.bytes(&what, n)
                    }
                };
                engine.pull(&i.reference, &mut on).map_err(|e| {
                    let why = match e {
                        EngineError::Api { message, .. }
                        | EngineError::Failed { message, .. }
                        | EngineError::NotFound { message, .. } => message,
                        other => other.to_string(),
                    };
                    Error::new(
                        ErrorKind::CannotAct,
                        format!(
                            "service {}: cannot pull {}: {why}{}",
                            i.service,
                            i.reference,
                            login_hint(&why, &i.reference)
                        ),
                    )
                })?;
                image_id(engine, &i.reference)?
            }
            _ => i.id.clone().map_or_else(|| image_id(engine, &i.reference), Ok)?,
        };
        image_ids.insert(i.reference.clone(), id);
        ctx.progress.finished(&what, true);
    }

    for n in plan.networks.iter().filter(|n| n.action == "create") {
        let what = format!("network {}", n.name);
        begin(&what);
        let Some(net) = spec.networks.iter().find(|s| s.name == n.name) else { continue };
        let mut request = net.create.clone();
        let l = request.labels.get_or_insert_with(Default::default);
        l.insert(labels::PROJECT.into(), spec.project.clone());
        l.insert(labels::NETWORK.into(), net.key.clone());
        l.insert(labels::TUG.into(), labels::tug_version().into());
        engine.create_network(request)?;
        ctx.progress.finished(&what, true);
    }
    for v in plan.volumes.iter().filter(|v| v.action == "create") {
        let what = format!("volume {}", v.name);
        begin(&what);
        let Some(vol) = spec.volumes.iter().find(|s| s.name == v.name) else { continue };
        let mut request = vol.create.clone();
        let l = request.labels.get_or_insert_with(Default::default);
        l.insert(labels::PROJECT.into(), spec.project.clone());
        l.insert(labels::VOLUME.into(), vol.key.clone());
        l.insert(labels::TUG.into(), labels::tug_version().into());
        engine.create_volume(request)?;
        ctx.progress.finished(&what, true);
    }

    let mut report = UpReport {
        project: spec.project.clone(),
        containers: Vec::new(),
        removed_orphans: Vec::new(),
        repointed_routes: Vec::new(),
    };
    // Container ids by service, for the dependents' waits.
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    let mut recreated: Vec<String> = Vec::new();
    let mut started: Vec<String> = Vec::new();
    for sp in &plan.services {
        ctx.cancel.check()?;
        let Some(service) = spec.services.iter().find(|s| s.name == sp.service) else { continue };
        let what = format!("service {}", sp.service);
        begin(&what);
        let failed = |e: Error, started: &[String]| -> Error {
            let before = if started.is_empty() {
                String::new()
            } else {
                format!(" (started before it and left running: {})", started.join(", "))
            };
            Error::new(e.kind(), format!("service {}: {e}{before}", sp.service))
        };
        for (dep, condition) in &sp.waits_for {
            for id in ids.get(dep).into_iter().flatten() {
                wait::until(engine, dep, id, Goal::Condition(*condition), plan.timeout, &ctx.cancel)
                    .map_err(|e| failed(e, &started))?;
            }
        }
        let image = image_ids.get(&sp.image).cloned().unwrap_or_default();
        let desired = desired::desired(spec, service);
        // `depends_on: {restart: true}`: a recreated dependency restarts this service.
        let restart_for = service.depends_on.iter().find(|d| d.restart && recreated.contains(&d.service));
        for c in &sp.containers {
            let mut action = c.action;
            let mut reason = c.reason.clone();
            if matches!(action, Action::Keep | Action::Start) {
                if let Some(existing) = &c.existing {
                    let current = engine.inspect(existing).ok().and_then(|i| i.config).and_then(|c| c.labels);
                    if current.as_ref().and_then(|l| l.get(labels::IMAGE)) != Some(&image) {
                        (action, reason) = (Action::Recreate, Some("image changed".into()));
                    } else if let (Action::Keep, Some(d)) = (action, restart_for) {
                        (action, reason) = (Action::Start, Some(format!("{} was recreated", d.service)));
                        engine.stop(existing, service.stop_grace_seconds)?;
                    }
                }
            }
            let id = apply(engine, spec, service, &desired, c, action, &image).map_err(|e| failed(e, &started))?;
            if action == Action::Remove {
                continue;
            }
            if action == Action::Recreate {
                recreated.push(sp.service.clone());
            }
            let state = crate::observe::inspect(engine, &id)?;
            ids.entry(sp.service.clone()).or_default().push(id.clone());
            report.containers.push(ContainerOutcome {
                service: sp.service.clone(),
                name: c.name.clone(),
                action,
                reason,
                state: state.summary(),
                id,
            });
        }
        started.push(sp.service.clone());
        ctx.progress.finished(&what, true);
    }

    if plan.remove_orphans {
        for (id, name) in plan.orphan_ids.iter().zip(&plan.orphans) {
            engine.stop(id, None)?;
            engine.remove(id, false)?;
            report.removed_orphans.push(name.clone());
        }
    }

    if plan.wait {
        let one_shots = one_shot_services(spec);
        for outcome in report.containers.iter_mut() {
            let goal = Goal::Settled { one_shot: one_shots.contains(&outcome.service) };
            outcome.state =
                wait::until(engine, &outcome.service, &outcome.id, goal, plan.timeout, &ctx.cancel)?.summary();
        }
    }
    // Containers the engine restarted may hold new addresses: the proxy's routes follow them.
    if let Some(router) = up.router {
        report.repointed_routes = crate::deploy::repoint_routes(engine, router, ctx.store, up.stack, &spec.project)?;
    }
    Ok(report)
}

/// Services other services wait on to complete: exiting 0 is their success, not a failure.
fn one_shot_services(spec: &ProjectSpec) -> Vec<String> {
    spec.services
        .iter()
        .flat_map(|s| &s.depends_on)
        .filter(|d| d.condition == crate::spec::Condition::ServiceCompletedSuccessfully)
        .map(|d| d.service.clone())
        .collect()
}

/// A registry that refused the credentials (or got none): say how to give them.
fn login_hint(why: &str, reference: &str) -> String {
    let refused = ["no basic auth credentials", "unauthorized", "authentication required", "denied"];
    if !refused.iter().any(|w| why.contains(w)) {
        return String::new();
    }
    let registry = crate::engine::registry_of(reference).unwrap_or("docker.io");
    format!(
        "; log in with `docker login {registry}` (tug uses the credentials the docker CLI stores in \
         $DOCKER_CONFIG/config.json, default ~/.docker/config.json)"
    )
}

fn image_id(engine: &dyn Engine, reference: &str) -> Result<String> {
    engine
        .image(reference)?
        .map(|i| i.id)
        .ok_or_else(|| Error::cannot_act(format!("image {reference} is not present after pulling it")))
}

fn build_image(engine: &dyn Engine, service: &ServiceSpec, what: &str, ctx: &Ctx) -> Result<String> {
    let Some(b) = &service.build else { return image_id(engine, &service.image) };
    let context = build::context_tar(&b.context, &b.dockerfile, b.dockerfile_inline.as_deref())
        .map_err(|e| Error::new(ErrorKind::CannotAct, format!("service {}: {e}", service.name)))?;
    let request = BuildRequest {
        tag: service.image.clone(),
        dockerfile: context.dockerfile.clone(),
        context: context.bytes,
        args: b.args.clone(),
        labels: b.labels.clone(),
        target: b.target.clone(),
        network: b.network.clone(),
        extra_hosts: b.extra_hosts.clone(),
        shm_size: b.shm_size,
        no_cache: b.no_cache,
        pull: b.pull,
    };
    let mut last = Vec::new();
    let mut on = |e: StreamEvent| {
        if let StreamEvent::Line(line) = e {
            ctx.progress.started(&format!("{what}: {line}"), 0, 0);
            last.push(line);
        }
    };
    let id = engine.build(request, &mut on).map_err(|e| {
        let tail: Vec<&String> = last.iter().rev().take(10).rev().collect();
        let tail: Vec<&str> = tail.iter().map(|s| s.as_str()).collect();
        Error::new(ErrorKind::CannotAct, format!("service {}: build failed: {e}\n{}", service.name, tail.join("\n")))
    })?;
    for tag in &b.tags {
        engine.tag(&id, tag)?;
    }
    Ok(id)
}

/// One container step; returns the id of the container the service now has.
fn apply(
    engine: &dyn Engine,
    spec: &ProjectSpec,
    service: &ServiceSpec,
    desired: &[DesiredContainer],
    step: &ContainerStep,
    action: Action,
    image: &str,
) -> Result<String> {
    let existing = step.existing.clone().unwrap_or_default();
    let wanted = desired.iter().find(|d| d.number == step.number);
    match (action, wanted) {
        (Action::Keep, _) => Ok(existing),
        (Action::Start, _) => {
            engine.start(&existing)?;
            Ok(existing)
        }
        (Action::Remove, _) => {
            engine.stop(&existing, service.stop_grace_seconds)?;
            engine.remove(&existing, false)?;
            Ok(existing)
        }
        (Action::Create, Some(d)) => create_and_start(engine, spec, service, d, image),
        (Action::Recreate, Some(d)) => {
            // As Compose does: the old container steps aside (renamed) until the new one exists, so a
            // failed create puts it back.
            engine.stop(&existing, service.stop_grace_seconds)?;
            let short: String = existing.chars().take(12).collect();
            engine.rename(&existing, &format!("{short}_{}", d.name))?;
            match create_and_start(engine, spec, service, d, image) {
                Ok(id) => {
                    engine.remove(&existing, false)?;
                    Ok(id)
                }
                Err(e) => {
                    let _ = engine.rename(&existing, &d.name);
                    let _ = engine.start(&existing);
                    Err(e)
                }
            }
        }
        (_, None) => Err(Error::cannot_act(format!("no container numbered {} for {}", step.number, service.name))),
    }
}

fn create_and_start(
    engine: &dyn Engine,
    spec: &ProjectSpec,
    service: &ServiceSpec,
    d: &DesiredContainer,
    image: &str,
) -> Result<String> {
    let body = desired::create_body(spec, service, d, image);
    let id = engine.create(&d.name, body)?;
    for (network, endpoint) in desired::extra_endpoints_for(service, d) {
        engine.connect(&network, &id, endpoint)?;
    }
    engine.start(&id).map_err(|e| Error::new(ErrorKind::CannotAct, format!("cannot start {}: {e}", d.name)))?;
    Ok(id)
}
