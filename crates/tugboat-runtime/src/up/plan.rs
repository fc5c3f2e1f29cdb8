//! Planning `up`: resolve the spec, read the engine's state, decide every step. Changes nothing.

use std::collections::{BTreeSet, HashMap};

use tugboat::ops::{Error, ErrorKind, Result};

use super::{Action, ContainerStep, ImageStep, ResourceStep, ServicePlan, Up, UpPlan};
use crate::desired;
use crate::engine::ContainerSummary;
use crate::labels;
use crate::observe;
use crate::spec::{self, ProjectSpec, PullPolicy, ServiceSpec};

pub(super) fn plan(up: &Up) -> Result<UpPlan> {
    let spec = spec::resolve(up.stack)?.with_images(&up.options.images);
    let engine = up.engine;
    let (version, api) = engine.version()?;
    let selected = select(&spec, &up.options.services, up.options.no_deps)?;
    let services: Vec<&ServiceSpec> = order(&spec)?.into_iter().filter(|s| selected.contains(&s.name)).collect();

    let used_networks: BTreeSet<&str> =
        services.iter().flat_map(|s| s.networks.iter().map(|e| e.network.as_str())).collect();
    let mut networks = Vec::new();
    for n in spec.networks.iter().filter(|n| used_networks.contains(n.name.as_str())) {
        let existing = engine.network(&n.name)?;
        networks.push(ResourceStep {
            name: n.name.clone(),
            action: resource_action(existing, n.external, &spec.project, labels::NETWORK, &n.key, "network")?,
        });
    }
    let used_volumes: BTreeSet<String> = services.iter().flat_map(|s| named_volumes(s)).collect();
    let mut volumes = Vec::new();
    for v in spec.volumes.iter().filter(|v| used_volumes.contains(&v.name)) {
        let existing = engine.volume(&v.name)?;
        volumes.push(ResourceStep {
            name: v.name.clone(),
            action: resource_action(existing, v.external, &spec.project, labels::VOLUME, &v.key, "volume")?,
        });
    }

    let mut images: Vec<ImageStep> = Vec::new();
    let mut image_ids: HashMap<String, Option<String>> = HashMap::new();
    for s in &services {
        // Services sharing an image reference share its step (the first one builds or pulls it).
        if let Some(step) = images.iter().find(|i| i.reference == s.image) {
            let id = if step.action == "present" { step.id.clone() } else { None };
            image_ids.insert(s.name.clone(), id);
            continue;
        }
        let present = engine.image(&s.image)?;
        let policy = up.options.pull.unwrap_or(s.pull_policy);
        let action = match (&s.build, policy, &present) {
            (Some(_), PullPolicy::Build, _) | (Some(_), _, None) => "build",
            (Some(_), _, Some(_)) if up.options.build => "build",
            (_, PullPolicy::Always, _) => "pull",
            (None, PullPolicy::Never, None) => {
                return Err(Error::new(
                    ErrorKind::CannotAct,
                    format!(
                        "{}: service {}: image {} is not present and pull_policy is never",
                        s.span, s.name, s.image
                    ),
                ))
            }
            (None, _, None) => "pull",
            (_, _, Some(_)) => "present",
        };
        let id = present.map(|p| p.id);
        image_ids.insert(s.name.clone(), if action == "present" { id.clone() } else { None });
        images.push(ImageStep { service: s.name.clone(), reference: s.image.clone(), action, id });
    }

    let observed = observe::project_containers(engine, &spec.project)?;
    let mut plans = Vec::new();
    for s in &services {
        let existing: Vec<&ContainerSummary> =
            observed.iter().filter(|c| c.label(labels::SERVICE) == Some(s.name.as_str())).collect();
        let image_id = image_ids.get(&s.name).cloned().flatten();
        let managed = up.stack.config.deploy.contains_key(&s.name);
        let containers = container_steps(&spec, s, &existing, image_id.as_deref(), up.options.force_recreate, managed);
        let waits_for = s
            .depends_on
            .iter()
            .filter(|d| selected.contains(&d.service))
            .map(|d| (d.service.clone(), d.condition))
            .collect();
        plans.push(ServicePlan { service: s.name.clone(), image: s.image.clone(), waits_for, containers });
    }

    let defined: BTreeSet<&str> = up.stack.project.services.iter().map(|s| s.name.as_str()).collect();
    let orphans: Vec<&ContainerSummary> =
        observed.iter().filter(|c| !c.label(labels::SERVICE).is_some_and(|s| defined.contains(s))).collect();
    Ok(UpPlan {
        project: spec.project.clone(),
        engine: format!("{version} (API {api})"),
        networks,
        volumes,
        images,
        services: plans,
        orphans: orphans.iter().map(|c| c.name.clone()).collect(),
        orphan_ids: orphans.iter().map(|c| c.id.clone()).collect(),
        remove_orphans: up.options.remove_orphans,
        wait: up.options.wait,
        timeout: up.options.timeout,
        spec,
    })
}

/// Named volumes a service mounts (engine names).
pub(super) fn named_volumes(s: &ServiceSpec) -> Vec<String> {
    let host = s.create.host_config.as_ref();
    let mounts = host.and_then(|h| h.mounts.as_ref()).into_iter().flatten();
    let from_mounts = mounts
        .filter(|m| m.typ == Some(bollard::models::MountType::VOLUME))
        .filter_map(|m| m.source.clone())
        .filter(|s| !s.is_empty());
    let binds = host.and_then(|h| h.binds.as_ref()).into_iter().flatten();
    let from_binds = binds
        .filter_map(|b| b.split(':').next().map(str::to_string))
        .filter(|src| !src.starts_with('/') && !src.is_empty());
    from_mounts.chain(from_binds).collect()
}

/// A network or volume: created unless it exists; one that exists must be this project's (Compose's
/// rule), and an `external` one must exist.
fn resource_action(
    existing: Option<std::collections::BTreeMap<String, String>>,
    external: bool,
    project: &str,
    key_label: &str,
    key: &str,
    kind: &str,
) -> Result<&'static str> {
    match (existing, external) {
        (Some(_), true) => Ok("external"),
        (None, true) => Err(Error::new(
            ErrorKind::CannotAct,
            format!("external {kind} {key} not found: create it first (`docker {kind} create`)"),
        )),
        (None, false) => Ok("create"),
        (Some(labels_found), false) => {
            let ours = labels_found.get(labels::PROJECT).map(String::as_str) == Some(project)
                && labels_found.get(key_label).map(String::as_str) == Some(key);
            if ours {
                Ok("exists")
            } else {
                Err(Error::new(
                    ErrorKind::CannotAct,
                    format!(
                        "{kind} {key} exists but was not created for project {project} (its {key_label} label \
                         differs); remove it, or declare it `external: true`"
                    ),
                ))
            }
        }
    }
}

fn container_steps(
    spec: &ProjectSpec,
    service: &ServiceSpec,
    existing: &[&ContainerSummary],
    image_id: Option<&str>,
    force: bool,
    deploy_managed: bool,
) -> Vec<ContainerStep> {
    let wanted = desired::desired(spec, service);
    let numbers: Vec<(u32, String)> = wanted.iter().map(|d| (d.number, d.name.clone())).collect();
    let assignment = observe::assign(&numbers, existing, deploy_managed);
    let mut steps = Vec::new();
    for (d, found) in wanted.iter().zip(&assignment.matched) {
        let (action, reason) = match found {
            None => (Action::Create, None),
            Some(_) if force => (Action::Recreate, Some("--force-recreate".to_string())),
            Some(c) if c.label(labels::CONFIG_HASH) != Some(d.hash.as_str()) => {
                (Action::Recreate, Some("configuration changed".to_string()))
            }
            Some(c) if image_id.is_some_and(|id| c.label(labels::IMAGE) != Some(id)) => {
                (Action::Recreate, Some("image changed".to_string()))
            }
            Some(c) if c.state == "running" => (Action::Keep, None),
            Some(c) => (Action::Start, Some(format!("was {}", c.state))),
        };
        steps.push(ContainerStep {
            // A deployed generation keeps its own name (`…-web-2`).
            name: found.map(|c| c.name.clone()).unwrap_or_else(|| d.name.clone()),
            number: d.number,
            action,
            reason,
            existing: found.map(|c| c.id.clone()),
        });
    }
    let replaced = steps.iter().any(|s| matches!(s.action, Action::Create | Action::Recreate));
    let extra = assignment.leftover.iter().map(|c| (c, "scaled down"));
    // A new generation made by `up` ends what `tug rollback` could go back to.
    let kept = assignment.kept.iter().filter(|_| replaced).map(|c| (c, "an earlier deployed generation"));
    for (c, why) in extra.chain(kept) {
        steps.push(ContainerStep {
            name: c.name.clone(),
            number: observe::number(c),
            action: Action::Remove,
            reason: Some(why.into()),
            existing: Some(c.id.clone()),
        });
    }
    // Removals first: a kept generation may hold the name a new container takes.
    steps.sort_by_key(|s| s.action != Action::Remove);
    steps
}

/// The services asked for, plus (unless `no_deps`) everything they depend on, transitively.
fn select(spec: &ProjectSpec, asked: &[String], no_deps: bool) -> Result<BTreeSet<String>> {
    let by_name: HashMap<&str, &ServiceSpec> = spec.services.iter().map(|s| (s.name.as_str(), s)).collect();
    if asked.is_empty() {
        return Ok(by_name.keys().map(|s| s.to_string()).collect());
    }
    let mut selected = BTreeSet::new();
    let mut queue: Vec<String> = asked.to_vec();
    while let Some(name) = queue.pop() {
        let Some(s) = by_name.get(name.as_str()) else {
            return Err(Error::usage(format!("no such service: {name} (or its profile is not enabled)")));
        };
        if selected.insert(name.clone()) && !no_deps {
            for d in &s.depends_on {
                if by_name.contains_key(d.service.as_str()) || d.required {
                    queue.push(d.service.clone());
                }
            }
        }
    }
    Ok(selected)
}

/// The services in start order: dependencies first, file order otherwise. A required dependency that
/// is not active is an error (Compose's), an optional one is skipped.
pub fn order(spec: &ProjectSpec) -> Result<Vec<&ServiceSpec>> {
    let by_name: HashMap<&str, &ServiceSpec> = spec.services.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in &spec.services {
        for d in s.depends_on.iter().filter(|d| d.required) {
            if !by_name.contains_key(d.service.as_str()) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{}: service {} depends on {}, which is not enabled (its profile is off); \
                         enable it or mark the dependency `required: false`",
                        s.span, s.name, d.service
                    ),
                ));
            }
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut ordered = Vec::new();
    // The loader rejects cycles, so each pass places at least one service.
    while ordered.len() < spec.services.len() {
        let before = ordered.len();
        for s in &spec.services {
            let ready = s
                .depends_on
                .iter()
                .all(|d| done.contains(d.service.as_str()) || !by_name.contains_key(d.service.as_str()));
            if !done.contains(s.name.as_str()) && ready {
                done.insert(s.name.as_str());
                ordered.push(s);
            }
        }
        if ordered.len() == before {
            return Err(Error::new(ErrorKind::Config, "depends_on has a cycle"));
        }
    }
    Ok(ordered)
}
