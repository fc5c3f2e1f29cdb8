//! What `tug up` creates, resolved from a loaded stack before anything starts: networks, volumes and one
//! [`ServiceSpec`] per active service, each holding the exact Engine API body its containers are created
//! from. Every compose key is either honoured here or refused at its file:line — never dropped silently.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bollard::models::{ContainerCreateBody, NetworkCreateRequest, VolumeCreateRequest};
use tugboat::stack::Span;

mod mounts;
mod network;
mod options;
mod resources;
mod service;
#[cfg(test)]
mod tests;
mod values;

pub use service::resolve;

/// The whole project as the runtime will create it.
#[derive(Clone, Debug)]
pub struct ProjectSpec {
    /// The Compose project name (`com.docker.compose.project`).
    pub project: String,
    /// The project directory (`com.docker.compose.project.working_dir`).
    pub working_dir: PathBuf,
    /// The compose files in merge order (`com.docker.compose.project.config_files`).
    pub config_files: Vec<PathBuf>,
    /// Networks that active services join, in file order (`default` included when used).
    pub networks: Vec<NetworkSpec>,
    /// Named volumes that active services mount, in file order.
    pub volumes: Vec<VolumeSpec>,
    /// Active services (profiles applied), in file order.
    pub services: Vec<ServiceSpec>,
}

impl ProjectSpec {
    /// Runs `service` on `image` instead of the files' (what `tug deploy --image` put live).
    pub fn override_image(&mut self, service: &str, image: &str) {
        if let Some(s) = self.services.iter_mut().find(|s| s.name == service) {
            s.image = image.to_string();
            s.create.image = Some(image.to_string());
            // A built image is not rebuilt over a deployed one.
            s.build = None;
        }
    }

    /// [`ProjectSpec::override_image`] for each `service -> image`.
    pub fn with_images(mut self, images: &std::collections::BTreeMap<String, String>) -> ProjectSpec {
        for (service, image) in images {
            self.override_image(service, image);
        }
        self
    }
}

#[derive(Clone, Debug)]
pub struct NetworkSpec {
    /// The compose key (`default`, `backend`): `com.docker.compose.network`.
    pub key: String,
    /// The engine's name (`myproj_default`, or `name:`).
    pub name: String,
    /// `external: true`: must exist, never created or removed.
    pub external: bool,
    /// The create request: name, driver, driver_opts, internal, attachable, enable_ipv6, ipam and the
    /// network's own `labels`. The runtime adds Compose's labels.
    pub create: NetworkCreateRequest,
}

#[derive(Clone, Debug)]
pub struct VolumeSpec {
    /// The compose key (`db`): `com.docker.compose.volume`.
    pub key: String,
    /// The engine's name (`myproj_db`, or `name:`).
    pub name: String,
    pub external: bool,
    /// name, driver, driver_opts and the volume's own `labels`. The runtime adds Compose's labels.
    pub create: VolumeCreateRequest,
}

#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub name: String,
    /// Where the service is defined, for errors found later (a port in use, a failed pull).
    pub span: Span,
    /// The image reference containers run (`image:`, or `{project}-{service}` for a `build:` without one).
    pub image: String,
    pub build: Option<BuildSpec>,
    pub pull_policy: PullPolicy,
    /// `scale` or `deploy.replicas` (default 1).
    pub replicas: u32,
    /// `container_name`; otherwise containers are named `{project}-{service}-{n}`.
    pub container_name: Option<String>,
    pub depends_on: Vec<DependsOn>,
    /// `stop_grace_period` in whole seconds (what `tug down` and recreation give the container).
    pub stop_grace_seconds: Option<i64>,
    /// Whether the service (or its image) declares a health check the runtime can wait on; `None` when
    /// the compose file says nothing (the image may still have one).
    pub healthcheck: Option<bool>,
    /// Networks to join, highest `priority` first. The first is given at create time; the engine's API
    /// 1.41 takes one endpoint there, so the others are connected before the container starts.
    /// Empty with `network_mode` set.
    pub networks: Vec<EndpointSpec>,
    /// The create body, without `networking_config` and without Compose's labels (the runtime adds
    /// them and the config hash): image, cmd, entrypoint, env, exposed ports, user, working_dir, tty,
    /// labels (the service's own), stop_signal, stop_timeout, healthcheck, and host_config (binds/mounts,
    /// ports, tmpfs, caps, security_opt, privileged, init, restart, resources, device requests,
    /// ulimits, sysctls, extra_hosts, dns, log_config, network_mode, …).
    pub create: ContainerCreateBody,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSpec {
    /// The compose key of the network.
    pub key: String,
    /// The engine's network name.
    pub network: String,
    /// The service name first, then the file's `aliases`.
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DependsOn {
    pub service: String,
    pub condition: Condition,
    /// `required: false`: a dependency that is not in the project (or not active) is skipped.
    pub required: bool,
    /// `restart: true` (recorded in `com.docker.compose.depends_on`).
    pub restart: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BuildSpec {
    /// The build context directory (absolute).
    pub context: PathBuf,
    /// The Dockerfile's path inside the context (`Dockerfile` by default).
    pub dockerfile: String,
    /// `dockerfile_inline`: the Dockerfile's text, added to the context tar under a generated name.
    pub dockerfile_inline: Option<String>,
    /// `args`, values resolved (an arg declared without a value and unset is left out).
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `tags`: extra references given to the built image.
    pub tags: Vec<String>,
    /// `network` for RUN steps.
    pub network: Option<String>,
    pub shm_size: Option<i64>,
    pub extra_hosts: Vec<String>,
    pub no_cache: bool,
    pub pull: bool,
}

/// `pull_policy`, with Compose's spellings folded (`if_not_present` = missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Pull when the image is not present (the default; builds when there is a `build:`).
    Missing,
    Always,
    Never,
    /// Always build (`pull_policy: build`).
    Build,
}
