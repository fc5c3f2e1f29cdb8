//! The engine the runtime acts through: a small, synchronous [`Engine`] trait over the Docker Engine API,
//! so `up`, `down`, `status` and the deploy logic read as plain steps, and [`Docker`], its implementation
//! with bollard (API version negotiated: this project's engines speak 1.41).

mod auth;
mod docker;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, NetworkCreateRequest, VolumeCreateRequest,
};
use tugboat::ops::{CancelToken, Classify, ErrorKind};

use crate::logs::{LogsQuery, Stream};

pub use auth::{registry_credentials, registry_of};
pub use docker::{split_tag, Docker};

pub type Result<T> = std::result::Result<T, EngineError>;

/// A container of the project as the engine lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSummary {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `running`, `exited`, `created`, `restarting`, …
    pub state: String,
}

impl ContainerSummary {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// An image present on the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageInfo {
    /// `sha256:…`
    pub id: String,
    /// `registry/name@sha256:…` for pulled images; empty for local builds.
    pub repo_digests: Vec<String>,
}

/// A progress line from a pull or a build (what the engine streams).
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// Build output (`Step 2/4 : COPY …`).
    Line(String),
    /// Pull progress: bytes of one layer.
    Bytes(u64),
}

/// What a build sends: the options and the context tar.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The reference the image is tagged with.
    pub tag: String,
    pub dockerfile: String,
    pub context: Vec<u8>,
    pub args: std::collections::BTreeMap<String, String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub target: Option<String>,
    pub network: Option<String>,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub no_cache: bool,
    pub pull: bool,
}

/// The operations the runtime needs from a container engine, and nothing more.
pub trait Engine {
    /// The engine's version and API version (`20.10.24`, `1.41`): proves it is reachable.
    fn version(&self) -> Result<(String, String)>;
    /// Every container (running or not) carrying all of these `key=value` labels.
    fn containers(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>>;
    fn inspect(&self, id: &str) -> Result<ContainerInspectResponse>;
    /// `None` when the image is not present.
    fn image(&self, reference: &str) -> Result<Option<ImageInfo>>;
    fn pull(&self, reference: &str, on_event: &mut dyn FnMut(StreamEvent)) -> Result<()>;
    /// Builds through the legacy builder; returns the image id.
    fn build(&self, request: BuildRequest, on_event: &mut dyn FnMut(StreamEvent)) -> Result<String>;
    fn tag(&self, image: &str, reference: &str) -> Result<()>;
    /// The network's labels, `None` when it does not exist.
    fn network(&self, name: &str) -> Result<Option<std::collections::BTreeMap<String, String>>>;
    fn create_network(&self, request: NetworkCreateRequest) -> Result<()>;
    fn remove_network(&self, name: &str) -> Result<()>;
    /// The volume's labels, `None` when it does not exist.
    fn volume(&self, name: &str) -> Result<Option<std::collections::BTreeMap<String, String>>>;
    fn create_volume(&self, request: VolumeCreateRequest) -> Result<()>;
    fn remove_volume(&self, name: &str) -> Result<()>;
    /// Creates a container named `name`; returns its id.
    fn create(&self, name: &str, body: ContainerCreateBody) -> Result<String>;
    fn connect(&self, network: &str, container: &str, endpoint: EndpointSettings) -> Result<()>;
    fn start(&self, id: &str) -> Result<()>;
    /// Stops with the container's stop signal, killing after `timeout_seconds`.
    fn stop(&self, id: &str, timeout_seconds: Option<i64>) -> Result<()>;
    fn rename(&self, id: &str, name: &str) -> Result<()>;
    /// Removes the container (forcibly) and its anonymous volumes when `volumes`.
    fn remove(&self, id: &str, volumes: bool) -> Result<()>;
    /// The logs of these containers (stdout and stderr, each entry timestamped), read concurrently; each
    /// chunk goes to `on_chunk` with its container's index as it arrives (false stops). Returns when every
    /// stream has ended (with `follow`: the containers stopped) or `cancel` is set.
    fn logs(
        &self,
        ids: &[String],
        query: &LogsQuery,
        cancel: &CancelToken,
        on_chunk: &mut dyn FnMut(usize, Stream, &[u8]) -> bool,
    ) -> Result<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker Engine at {host}: {cause}; check that it runs (`systemctl status docker`), \
         that DOCKER_HOST points at it, and that this user may use its socket"
    )]
    Unreachable { host: String, cause: String },
    #[error("{what}: {message}")]
    NotFound { what: String, message: String },
    #[error("{what}: {message}")]
    Conflict { what: String, message: String },
    #[error("the Docker Engine answered {status} to {what}: {message}")]
    Api { what: String, status: u16, message: String },
    #[error("{what}: {message}")]
    Failed { what: String, message: String },
}

impl EngineError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::NotFound { .. })
    }
}

impl Classify for EngineError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::CannotAct
    }
}
