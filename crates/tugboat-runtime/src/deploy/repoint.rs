//! Routes re-pointed after the engine gave containers new addresses.
//!
//! The proxy routes to `ip:port`. When the engine restarts (or a container is restarted by its restart
//! policy) the container comes back on an address the engine chose again, and a route can point at an
//! address nobody — or another container — holds. `tug up` calls [`repoint_routes`] once its containers
//! run: a route that points at no running container of its service is pointed at the one that serves it
//! (the last successful deploy's container, else the only running one); `tug status` reports such a route
//! as drift ([`stale_routes`]).

use serde::Serialize;
use tugboat::ops::Result;
use tugboat::stack::Stack;

use super::router::{socket_addr, Router};
use super::{address, route_to};
use crate::engine::Engine;
use crate::labels;
use crate::observe::{self, ContainerState};

/// A route whose target was replaced.
#[derive(Clone, Debug, Serialize)]
pub struct Repointed {
    pub service: String,
    /// The addresses the route had.
    pub from: Vec<String>,
    pub to: String,
    pub container: String,
}

/// A route that points at no running container of its service.
#[derive(Clone, Debug, Serialize)]
pub struct StaleRoute {
    pub service: String,
    pub targets: Vec<String>,
    /// The container that should serve, and its address now, when there is one.
    pub serving: Option<(String, String)>,
}

/// Every deployed HTTP service's route that points at no running container of the service. Without a
/// proxy answering there is nothing to judge: the empty list.
pub fn stale_routes(
    engine: &dyn Engine,
    router: &dyn Router,
    store: &tugboat::store::Store,
    stack: &Stack,
    project: &str,
) -> Result<Vec<StaleRoute>> {
    let mut stale = Vec::new();
    for (service, target) in &stack.config.deploy {
        let Some(port) = target.port else { continue };
        let Ok(Some(route)) = router.route(service) else { continue };
        let running = running_of(engine, project, service)?;
        let targets: Vec<String> = route.targets.iter().map(|t| t.address.to_string()).collect();
        let routed = running.iter().any(|c| address(c, port).is_some_and(|a| targets.contains(&a)));
        if routed {
            continue;
        }
        let live = store
            .deploys(&stack.name, service, 20)?
            .into_iter()
            .find(|d| d.outcome.as_deref() == Some("ok"))
            .and_then(|d| d.to_container);
        let serving = running
            .iter()
            .find(|c| live.as_deref() == Some(c.name.as_str()))
            .or(if running.len() == 1 { running.first() } else { None })
            .and_then(|c| Some((c.name.clone(), address(c, port)?)));
        stale.push(StaleRoute { service: service.clone(), targets, serving });
    }
    Ok(stale)
}

/// Points each stale route at the container that serves its service; returns what changed. A stale route
/// with no container to serve (several candidates, or none running) is left for `tug status` to report.
pub fn repoint_routes(
    engine: &dyn Engine,
    router: &dyn Router,
    store: &tugboat::store::Store,
    stack: &Stack,
    project: &str,
) -> Result<Vec<Repointed>> {
    let mut changed = Vec::new();
    for stale in stale_routes(engine, router, store, stack, project)? {
        let (Some((container, to)), Some(target)) = (stale.serving, stack.config.deploy.get(&stale.service)) else {
            continue;
        };
        router.set_route(&route_to(&stale.service, target, socket_addr(&to)?))?;
        changed.push(Repointed { service: stale.service, from: stale.targets, to, container });
    }
    Ok(changed)
}

/// The service's running containers, inspected.
pub(super) fn running_of(engine: &dyn Engine, project: &str, service: &str) -> Result<Vec<ContainerState>> {
    let mut running = Vec::new();
    for c in observe::project_containers(engine, project)?.iter().filter(|c| c.label(labels::SERVICE) == Some(service))
    {
        let state = observe::inspect(engine, &c.id)?;
        if state.running() {
            running.push(state);
        }
    }
    Ok(running)
}
