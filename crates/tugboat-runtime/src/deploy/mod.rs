//! `tug deploy SERVICE [--image REF]` and `tug rollback SERVICE`: blue-green through `tug proxy`.
//!
//! ```text
//!  lock ─ journal ─ image (pull, digest) ─ green started beside blue ─ health gate ─ switch the route
//!    ─ drain blue ─ watch green (health, 5xx through the proxy) ─┬─ ok: stop blue (kept for rollback)
//!                                                                └─ failing: route back to blue, stop green
//! ```
//!
//! A green that never gets healthy never receives traffic: blue keeps serving. Blue stays running through
//! the watch window, so an automatic rollback is one route switch. Every phase is journaled in the state
//! DB, so a deploy killed half-way is reverted (before the switch) or finished (after it) by the next
//! `tug deploy` / `tug rollback`. One deploy lock per stack: a second deploy is refused naming the owner.

mod gate;
mod repoint;
mod rollback;
pub mod router;

pub use repoint::{repoint_routes, stale_routes, Repointed, StaleRoute};
pub use rollback::{Rollback, RollbackPlan, RollbackReport};

/// The images deploys put live, by service (the last successful deploy or rollback of each): `tug up`
/// and `tug status` take them as the services' images.
pub fn deployed_images(
    store: &tugboat::store::Store,
    stack: &Stack,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut images = std::collections::BTreeMap::new();
    for service in stack.config.deploy.keys() {
        let last = store.deploys(&stack.name, service, 20)?.into_iter().find(|d| d.outcome.as_deref() == Some("ok"));
        if let Some(d) = last {
            images.insert(service.clone(), d.to_digest.unwrap_or(d.to_image));
        }
    }
    Ok(images)
}

use std::time::{Duration, Instant};

use serde::Serialize;
use tugboat::ops::{Ctx, Error, ErrorKind, Operation, Result, Subject};
use tugboat::stack::deployment::DeployTarget;
use tugboat::stack::Stack;
use tugboat::store::LockTaken;

use crate::desired::{self, DesiredContainer};
use crate::engine::Engine;
use crate::labels;
use crate::observe::{self, ContainerState};
use crate::spec::{self, ProjectSpec, ServiceSpec};
use router::{socket_addr, Route, Router, Target};

/// Phases after which the route may point at green.
const SWITCHED: &[&str] = &["switching", "draining", "watching", "rolling_back", "done"];

/// The label on containers `tug deploy` created; its value is the deploy's journal id.
pub const DEPLOY_LABEL: &str = "org.tugboat.deploy";

#[derive(Clone, Debug, Serialize)]
pub struct DeployOptions {
    pub service: String,
    /// The image to deploy (as CI publishes it); default: the service's image in the files.
    pub image: Option<String>,
}

pub struct Deploy<'a> {
    pub stack: &'a Stack,
    pub engine: &'a dyn Engine,
    pub router: &'a dyn Router,
    pub options: DeployOptions,
}

/// One side of a deploy.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub container: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeployPlan {
    pub stack: String,
    pub service: String,
    /// `http` (traffic moves through the proxy) or `worker` (start new, health-gate, stop old).
    pub kind: &'static str,
    pub blue: Option<Side>,
    /// The green image as asked; pulled first when missing, recorded by digest.
    pub image: String,
    pub pull: bool,
    pub container: String,
    pub hosts: Vec<String>,
    pub health: String,
    #[serde(serialize_with = "secs")]
    pub health_timeout: Duration,
    #[serde(serialize_with = "secs")]
    pub drain: Duration,
    #[serde(serialize_with = "secs")]
    pub watch: Duration,
    pub max_error_rate: f64,
    /// A deploy a killed `tug` left half-way, and what this one does about it first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover: Option<String>,
    #[serde(skip)]
    spec: ProjectSpec,
    #[serde(skip)]
    target: DeployTarget,
    #[serde(skip)]
    blue_id: Option<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub service: String,
    /// `deployed` or `rolled_back`.
    pub outcome: &'static str,
    pub from: Option<Side>,
    pub to: Side,
    /// The image's digest reference when it came from a registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub healthy_after_ms: u64,
    /// Why green was rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Green's requests and 5xx through the proxy during the watch window.
    pub watched_requests: u64,
    pub watched_errors: u64,
    /// Blue still had requests or streams in flight when the drain timeout ended (they were cut when
    /// blue stopped).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drain_timed_out: bool,
}

impl tugboat::ops::Verdict for DeployReport {
    fn problem(&self) -> Option<String> {
        self.reason.as_ref().map(|r| format!("rolled back: {r}"))
    }

    fn audit_summary(&self) -> serde_json::Value {
        serde_json::json!({
            "outcome": self.outcome,
            "from": self.from.as_ref().map(|s| &s.image),
            "to": self.to.image,
            "digest": self.digest,
            "to_container": self.to.container,
        })
    }
}

impl Operation for Deploy<'_> {
    type Plan = DeployPlan;
    type Report = DeployReport;

    fn command(&self) -> &'static str {
        "deploy"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> serde_json::Value {
        serde_json::to_value(&self.options).unwrap_or_default()
    }

    fn plan(&self, ctx: &mut Ctx) -> Result<DeployPlan> {
        let service = &self.options.service;
        let target = self.stack.config.deploy.get(service).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("service {service} has no `deploy.{service}` in tugboat.yml (its route, port and health gate)"),
            )
        })?;
        let compose = self.stack.service(service).ok_or_else(|| {
            Error::new(ErrorKind::Config, format!("deploy.{service}: no such service in the compose files"))
        })?;
        if let Some(kind) = tugboat::stack::init::database_kind(compose) {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "service {service} is a {kind} database: blue-green would run two servers on one data \
                     directory. Move data with `tug migrate` and switch with a cutover plan instead"
                ),
            ));
        }
        let spec = spec::resolve(self.stack)?;
        let image = self.options.image.clone().unwrap_or_else(|| {
            spec.services.iter().find(|s| &s.name == service).map(|s| s.image.clone()).unwrap_or_default()
        });
        self.engine.version()?;
        let pull = self.engine.image(&image)?.is_none();
        let port = target.port;
        // An HTTP service moves traffic through the proxy: it must answer before anything starts.
        let route = match port {
            Some(_) => self.router.route(service)?,
            None => None,
        };
        let unfinished = ctx.store.unfinished_deploy(&self.stack.name, service)?;
        let blue = current_blue(self.engine, &spec.project, service, port, route.as_ref(), unfinished.as_ref())?;
        let blue_side = blue.as_ref().map(|b| Side {
            container: b.name.clone(),
            image: b.image.clone(),
            address: port.and_then(|p| address(b, p)),
        });
        let recover =
            unfinished.map(|d| format!("deploy {} to {} stopped at `{}`: resolved first", d.id, d.to_image, d.phase));
        let health = match (&target.health.path, port) {
            (Some(path), Some(port)) => format!("GET {path} on port {port}"),
            _ => "the container's health check (running, without one)".into(),
        };
        let number = next_number(self.engine, &spec.project, service)?;
        let container = format!("{}-{service}-{number}", spec.project);
        Ok(DeployPlan {
            stack: self.stack.name.clone(),
            service: service.clone(),
            kind: if port.is_some() { "http" } else { "worker" },
            blue: blue_side,
            image,
            pull,
            container,
            hosts: target.all_hosts(),
            health,
            health_timeout: duration(target.health.timeout.map(|d| d.0), 60),
            drain: duration(target.drain.map(|d| d.0), 10),
            watch: duration(target.watch.map(|d| d.0), 15),
            max_error_rate: target.max_error_rate.unwrap_or(0.05),
            recover,
            blue_id: blue.map(|b| b.id),
            spec,
            target,
        })
    }

    fn run(&self, plan: &DeployPlan, ctx: &mut Ctx) -> Result<DeployReport> {
        let stack = self.stack.name.clone();
        let pid = std::process::id();
        let actor = tugboat::store::current_actor();
        let host = actor.rsplit('@').next().unwrap_or("unknown").to_string();
        match ctx.store.acquire_deploy_lock(&stack, &plan.service, &actor, pid, &host)? {
            LockTaken::HeldBy(lock) => {
                return Err(Error::new(
                    ErrorKind::CannotAct,
                    format!(
                        "another deploy of stack {stack} is running: {} by {} (pid {} on {}); try again when it ends",
                        lock.service, lock.actor, lock.pid, lock.host
                    ),
                ))
            }
            LockTaken::TookOverFrom(lock) => eprintln!(
                "note: took over the deploy lock of {} (pid {} on {}), whose process is gone",
                lock.actor, lock.pid, lock.host
            ),
            LockTaken::Free => {}
        }
        let result = self.deploy(plan, ctx);
        ctx.store.release_deploy_lock(&stack, pid)?;
        result
    }
}

fn duration(d: Option<Duration>, default_secs: u64) -> Duration {
    d.unwrap_or(Duration::from_secs(default_secs))
}

/// The first IPv4 address of the container, with `port`.
pub fn address(c: &ContainerState, port: u16) -> Option<String> {
    c.ip.as_ref().map(|ip| format!("{ip}:{port}"))
}

/// Blue: the running container the proxy routes to; without a route, the one an unfinished deploy started
/// from; else the newest running one. (A deploy killed half-way leaves two running: the route, or the
/// journal, says which one is blue.)
fn current_blue(
    engine: &dyn Engine,
    project: &str,
    service: &str,
    port: Option<u16>,
    route: Option<&Route>,
    unfinished: Option<&tugboat::store::DeployRecord>,
) -> Result<Option<ContainerState>> {
    let mut running = repoint::running_of(engine, project, service)?;
    let routed = |c: &ContainerState| match (port, route) {
        (Some(p), Some(r)) => address(c, p).is_some_and(|a| r.targets.iter().any(|t| t.address.to_string() == a)),
        _ => false,
    };
    let started_from =
        |c: &ContainerState| unfinished.and_then(|d| d.from_container.as_deref()) == Some(c.name.as_str());
    if let Some(i) = running.iter().position(routed).or_else(|| running.iter().position(started_from)) {
        return Ok(Some(running.swap_remove(i)));
    }
    Ok(running.pop())
}

fn next_number(engine: &dyn Engine, project: &str, service: &str) -> Result<u32> {
    let existing = observe::project_containers(engine, project)?;
    let max = existing.iter().filter(|c| c.label(labels::SERVICE) == Some(service)).map(observe::number).max();
    Ok(max.unwrap_or(0) + 1)
}

impl Deploy<'_> {
    fn deploy(&self, plan: &DeployPlan, ctx: &mut Ctx) -> Result<DeployReport> {
        let stack = &self.stack.name;
        let service = &plan.service;
        if plan.recover.is_some() {
            recover(self, ctx)?;
        }
        let from_image = plan.blue.as_ref().map(|b| b.image.as_str());
        let from_container = plan.blue.as_ref().map(|b| b.container.as_str());
        let journal =
            ctx.store.begin_deploy(stack, service, "deploy", from_container, from_image, &plan.image, "pulling")?;
        let outcome = self.phases(plan, ctx, journal);
        match &outcome {
            Ok(report) => {
                let detail = report.reason.clone().or(report.digest.clone());
                let result = if report.reason.is_some() { "rolled_back" } else { "ok" };
                ctx.store.finish_deploy(journal, result, detail.as_deref())?;
            }
            // Interrupted, or failed once traffic had moved (the proxy went away during the watch): left
            // open, so the next `tug deploy` / `tug rollback` resolves it by what the route says.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if ctx
                    .store
                    .unfinished_deploy(stack, service)?
                    .is_some_and(|d| SWITCHED.contains(&d.phase.as_str())) =>
            {
                return Err(Error::new(
                    e.kind(),
                    format!("{e}; traffic had moved to green: the next `tug deploy {service}` or `tug rollback {service}` resolves it"),
                ));
            }
            Err(e) => ctx.store.finish_deploy(journal, "failed", Some(&e.summary()))?,
        }
        outcome
    }

    fn phases(&self, plan: &DeployPlan, ctx: &mut Ctx, journal: i64) -> Result<DeployReport> {
        let engine = self.engine;
        let service = &plan.service;
        let step = |ctx: &mut Ctx, phase: &str, i: usize| {
            ctx.progress.started(phase, i, 6);
        };

        // 1. The image, by digest once resolved.
        step(ctx, "pull", 1);
        if plan.pull {
            engine.pull(&plan.image, &mut |_| {}).map_err(|e| {
                Error::new(ErrorKind::CannotAct, format!("cannot pull {}: {e}; blue was not touched", plan.image))
            })?;
        }
        let image = engine
            .image(&plan.image)?
            .ok_or_else(|| Error::cannot_act(format!("image {} is not present", plan.image)))?;
        let digest = digest_of(&plan.image, &image.repo_digests);
        if let Some(d) = &digest {
            ctx.store.deploy_digest(journal, d)?;
        }

        // 2. Green beside blue.
        ctx.cancel.check()?;
        step(ctx, "start green", 2);
        ctx.store.deploy_phase(journal, "starting", Some(&plan.container))?;
        let mut spec = plan.spec.clone();
        // Pinned: green runs the digest the tag named when it was pulled.
        let green_spec = green_spec(&mut spec, service, digest.as_deref().unwrap_or(&plan.image))?;
        let number: u32 = plan.container.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(1);
        let desired = DesiredContainer {
            service: service.clone(),
            number,
            name: plan.container.clone(),
            hash: desired::config_hash(&green_spec),
        };
        let mut body = desired::create_body(&spec, &green_spec, &desired, &image.id);
        body.labels.get_or_insert_with(Default::default).insert(DEPLOY_LABEL.into(), journal.to_string());
        let green_id = engine.create(&plan.container, body)?;
        for (network, endpoint) in desired::extra_endpoints_for(&green_spec, &desired) {
            engine.connect(&network, &green_id, endpoint)?;
        }
        engine.start(&green_id)?;

        // 3. The health gate: a green that fails it never gets traffic.
        step(ctx, "health", 3);
        ctx.store.deploy_phase(journal, "health", None)?;
        let started = Instant::now();
        let green = match gate::healthy(engine, &green_id, &plan.target, plan.health_timeout, &ctx.cancel) {
            Ok(state) => state,
            Err(e) => {
                let _ = engine.stop(&green_id, Some(2));
                let _ = engine.remove(&green_id, false);
                return Err(Error::new(
                    e.kind(),
                    format!(
                        "green {} did not become healthy, so it got no traffic (blue still serves): {e}",
                        plan.container
                    ),
                ));
            }
        };
        let healthy_after_ms = started.elapsed().as_millis() as u64;
        let to = Side {
            container: plan.container.clone(),
            image: plan.image.clone(),
            address: plan.target.port.and_then(|p| address(&green, p)),
        };

        let grace = plan.spec.services.iter().find(|s| &s.name == service).and_then(|s| s.stop_grace_seconds);
        let green_address = to.address.clone();
        let deployed = DeployReport {
            service: service.clone(),
            outcome: "deployed",
            from: plan.blue.clone(),
            to,
            digest,
            healthy_after_ms,
            reason: None,
            watched_requests: 0,
            watched_errors: 0,
            drain_timed_out: false,
        };
        let rolled_back = |reason: String, watched: &gate::Watched, report: DeployReport| DeployReport {
            outcome: "rolled_back",
            reason: Some(reason),
            watched_requests: watched.requests,
            watched_errors: watched.errors,
            ..report
        };
        let Some(green_address) = green_address else {
            // A worker: start new, health-gate, stop old.
            if let Some(blue) = &plan.blue_id {
                engine.stop(blue, grace)?;
            }
            ctx.store.deploy_phase(journal, "done", None)?;
            return Ok(deployed);
        };

        // 4. Switch: new requests go to green; blue's in-flight ones finish there.
        ctx.cancel.check()?;
        step(ctx, "switch", 4);
        ctx.store.deploy_phase(journal, "switching", None)?;
        let green_addr = socket_addr(&green_address)?;
        let blue_addr = plan.blue.as_ref().and_then(|b| b.address.as_deref()).map(socket_addr).transpose()?;
        let route = |address| route_to(service, &plan.target, address);
        let baseline = self.router.counters(service, green_addr)?;

        // 4a. Canary: a share of sessions to green first; failing, they go back to blue.
        if let (Some(canary), Some(blue)) = (&plan.target.canary, blue_addr) {
            ctx.store.deploy_phase(journal, "canary", None)?;
            let mut split = route(blue);
            split.canary = Some(tugboat_proxy::Canary { address: green_addr, percent: canary.percent.clamp(1, 99) });
            self.router.set_route(&split)?;
            let window = canary.duration.map(|d| d.0).unwrap_or(Duration::from_secs(60));
            let watched =
                gate::watch(engine, self.router, service, &green_id, green_addr, &baseline, plan, window, &ctx.cancel)?;
            if let Some(reason) = watched.failure.clone() {
                self.router.set_route(&route(blue))?;
                self.router.drain(service, green_addr, plan.drain)?;
                engine.stop(&green_id, grace)?;
                return Ok(rolled_back(format!("canary: {reason}"), &watched, deployed));
            }
        }
        self.router.set_route(&route(green_addr))?;
        step(ctx, "drain blue", 5);
        ctx.store.deploy_phase(journal, "draining", None)?;
        let mut drain_timed_out = false;
        if let Some(blue) = blue_addr {
            drain_timed_out = !self.router.drain(service, blue, plan.drain)?;
        }

        // 5. Watch green through the proxy; blue still runs, so going back is one switch.
        step(ctx, "watch green", 6);
        ctx.store.deploy_phase(journal, "watching", None)?;
        let watched =
            gate::watch(engine, self.router, service, &green_id, green_addr, &baseline, plan, plan.watch, &ctx.cancel)?;
        if let Some(reason) = watched.failure.clone() {
            ctx.store.deploy_phase(journal, "rolling_back", None)?;
            match (blue_addr, &plan.blue_id) {
                (Some(blue), Some(_)) => {
                    self.router.set_route(&route(blue))?;
                    self.router.drain(service, green_addr, plan.drain)?;
                }
                _ => {
                    return Err(Error::new(
                        ErrorKind::CannotAct,
                        format!("green failed after the switch ({reason}) and there is no blue to go back to"),
                    ))
                }
            }
            engine.stop(&green_id, grace)?;
            return Ok(rolled_back(reason, &watched, DeployReport { drain_timed_out, ..deployed }));
        }
        if let Some(blue) = &plan.blue_id {
            engine.stop(blue, grace)?;
        }
        remove_older_generations(engine, &plan.spec.project, service, &green_id, plan.blue_id.as_deref())?;
        ctx.store.deploy_phase(journal, "done", None)?;
        Ok(DeployReport {
            watched_requests: watched.requests,
            watched_errors: watched.errors,
            drain_timed_out,
            ..deployed
        })
    }
}

impl std::fmt::Display for DeployPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tug deploy {} ({}) in stack {}", self.service, self.kind, self.stack)?;
        if let Some(r) = &self.recover {
            writeln!(f, "  first:    {r}")?;
        }
        match &self.blue {
            Some(b) => writeln!(f, "  blue:     {} ({}){}", b.container, b.image, at(&b.address))?,
            None => writeln!(f, "  blue:     none running")?,
        }
        let pull = if self.pull { ", pulled first" } else { "" };
        writeln!(f, "  green:    {} ({}{pull})", self.container, self.image)?;
        writeln!(f, "  health:   {}, within {}s", self.health, self.health_timeout.as_secs())?;
        if let Some(c) = &self.target.canary {
            let secs = c.duration.map(|d| d.0.as_secs()).unwrap_or(60);
            writeln!(f, "  canary:   {} % of sessions (sticky) to green for {secs}s first", c.percent)?;
        }
        if self.kind == "http" {
            let hosts = if self.hosts.is_empty() { "any host".to_string() } else { self.hosts.join(", ") };
            writeln!(f, "  switch:   route {hosts} to green; drain blue for up to {}s", self.drain.as_secs())?;
            writeln!(
                f,
                "  watch:    {}s (5xx over {:.0} % or a failing health check rolls back to blue)",
                self.watch.as_secs(),
                self.max_error_rate * 100.0
            )?;
        }
        writeln!(f, "  then:     stop blue (kept for `tug rollback {}`)", self.service)
    }
}

fn at(address: &Option<String>) -> String {
    address.as_ref().map(|a| format!(" at {a}")).unwrap_or_default()
}

/// The digest reference of a pulled image in the reference's own repository (`repo@sha256:…`); none
/// for an image built here.
fn digest_of(reference: &str, repo_digests: &[String]) -> Option<String> {
    let repo =
        if reference.contains('@') { reference.split('@').next() } else { Some(crate::engine::split_tag(reference).0) };
    repo_digests.iter().find(|d| d.split('@').next() == repo).cloned()
}

/// The service's route with one target.
pub(crate) fn route_to(service: &str, target: &DeployTarget, address: std::net::SocketAddr) -> Route {
    Route {
        service: service.to_string(),
        hosts: target.all_hosts(),
        path_prefix: target.path_prefix.clone().unwrap_or_else(|| "/".into()),
        targets: vec![Target { address, weight: 1 }],
        canary: None,
    }
}

/// The service's spec running green's image, exactly as `tug up` and `tug status` will see it once it is
/// live (so the config hash agrees).
fn green_spec(spec: &mut ProjectSpec, service: &str, image: &str) -> Result<ServiceSpec> {
    spec.override_image(service, image);
    let s = spec.services.iter().find(|s| s.name == service).ok_or_else(|| {
        Error::new(ErrorKind::Config, format!("service {service} is not active (its profile is off)"))
    })?;
    if s.container_name.is_some() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("service {service} sets `container_name`: blue and green cannot both have it; remove it to deploy"),
        ));
    }
    Ok(s.clone())
}

/// Keeps the new container and the one before it (for `tug rollback`); older generations go.
fn remove_older_generations(
    engine: &dyn Engine,
    project: &str,
    service: &str,
    green: &str,
    blue: Option<&str>,
) -> Result<()> {
    for c in observe::project_containers(engine, project)?.iter().filter(|c| c.label(labels::SERVICE) == Some(service))
    {
        if c.id != green && Some(c.id.as_str()) != blue && c.state != "running" {
            engine.remove(&c.id, false)?;
        }
    }
    Ok(())
}

/// A deploy a killed `tug` left half-way: before the switch, green is removed (blue never stopped
/// serving); after it, the route decides — whichever container it points at is kept running.
pub(crate) fn recover(deploy: &Deploy, ctx: &mut Ctx) -> Result<()> {
    let service = &deploy.options.service;
    let Some(open) = ctx.store.unfinished_deploy(&deploy.stack.name, service)? else { return Ok(()) };
    let green = open.to_container.clone();
    let switched = SWITCHED.contains(&open.phase.as_str());
    // Killed in the canary: the share of sessions on green goes back to blue.
    if open.phase == "canary" {
        if let Some(mut r) = deploy.router.route(service).ok().flatten() {
            r.canary = None;
            deploy.router.set_route(&r)?;
        }
    }
    let route = deploy.router.route(service).ok().flatten();
    let engine = deploy.engine;
    if let Some(green) = &green {
        let state = observe::inspect(engine, green).ok();
        let green_address =
            state.as_ref().and_then(|s| deploy.stack.config.deploy.get(service)?.port.and_then(|p| address(s, p)));
        let serving = match (&route, &green_address) {
            (Some(r), Some(a)) => r.targets.iter().any(|t| t.address.to_string() == *a),
            _ => false,
        };
        if switched && serving {
            // Green took over before the kill: the old blue stops, as the deploy would have.
            if let Some(old) = open.from_container.as_deref().and_then(|b| observe::inspect(engine, b).ok()) {
                if old.running() {
                    engine.stop(&old.id, None)?;
                }
            }
        } else if let Some(s) = &state {
            engine.stop(&s.id, Some(2))?;
            engine.remove(&s.id, false)?;
        }
    }
    let outcome = if switched { "recovered" } else { "reverted" };
    ctx.store.finish_deploy(open.id, outcome, Some(&format!("found at `{}` by the next deploy", open.phase)))?;
    Ok(())
}
