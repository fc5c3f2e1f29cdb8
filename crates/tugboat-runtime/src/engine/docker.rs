//! [`Engine`] over the Docker Engine API with bollard. The runtime's steps are sequential, so each call
//! blocks on a small current-thread tokio runtime owned by the client; callers already inside tokio (the
//! watch daemon) call it from `spawn_blocking`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, NetworkConnectRequest, NetworkCreateRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters as q;
use futures_util::StreamExt;

use crate::logs::{LogsQuery, Stream};

use super::{BuildRequest, ContainerSummary, Engine, EngineError, ImageInfo, Result, StreamEvent};

/// How often a follow that sees no output looks at the cancellation token.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// Long enough for a build or a stop with a long grace period; an absent engine fails at connect, at once.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(900);

pub struct Docker {
    client: bollard::Docker,
    runtime: tokio::runtime::Runtime,
    host: String,
}

impl Docker {
    /// Connects to `DOCKER_HOST` (default `unix:///var/run/docker.sock`) and negotiates the API version.
    pub fn connect() -> Result<Docker> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let unreachable = |cause: String| EngineError::Unreachable { host: host.clone(), cause };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unreachable(format!("cannot start an I/O runtime: {e}")))?;
        let client = runtime
            .block_on(async {
                let client = bollard::Docker::connect_with_defaults()?.with_timeout(REQUEST_TIMEOUT);
                client.negotiate_version().await
            })
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Docker { client, runtime, host })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Follows the engine's container events for the containers carrying `label` (`key=value`), handing each
    /// event's action (`start`, `die`, `destroy`, …) and container id to `on_event` (false stops), until
    /// `cancel`. Returns when the engine ends the stream (it restarted, say) or on a read error.
    pub fn container_events(
        &self,
        label: &str,
        cancel: &tugboat::ops::CancelToken,
        on_event: &mut dyn FnMut(&str, &str) -> bool,
    ) -> Result<()> {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![label.to_string()]),
        ]);
        let options = q::EventsOptions { filters: Some(filters), ..Default::default() };
        self.runtime.block_on(async {
            let mut events = self.client.events(Some(options));
            while !cancel.is_cancelled() {
                let Ok(next) = tokio::time::timeout(CANCEL_POLL, events.next()).await else { continue };
                let Some(event) = next else { break };
                let event = event.map_err(|e| self.error("reading the engine's events".into(), e))?;
                let id = event.actor.and_then(|a| a.id).unwrap_or_default();
                if !on_event(event.action.as_deref().unwrap_or_default(), &id) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// `docker save`: the image's archive (`GET /images/{name}/get`), written to `out` as it streams.
    pub fn save_image(&self, reference: &str, out: &mut dyn std::io::Write) -> Result<u64> {
        self.runtime.block_on(async {
            let mut body = self.client.export_image(reference);
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| self.error(format!("exporting the image {reference}"), e))?;
                out.write_all(&chunk).map_err(|e| EngineError::Failed {
                    what: format!("writing the archive of the image {reference}"),
                    message: e.to_string(),
                })?;
                written += chunk.len() as u64;
            }
            Ok(written)
        })
    }

    /// `docker info`: storage driver, root dir, runtimes, warnings (`tug doctor`).
    pub fn info(&self) -> Result<bollard::models::SystemInfo> {
        self.block(|| "the info request".into(), self.client.info())
    }

    fn block<T>(
        &self,
        what: impl FnOnce() -> String,
        fut: impl std::future::Future<Output = std::result::Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        self.runtime.block_on(fut).map_err(|e| self.error(what(), e))
    }

    fn error(&self, what: String, e: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError { status_code: 404, message } => EngineError::NotFound { what, message },
            E::DockerResponseServerError { status_code: 409, message } => EngineError::Conflict { what, message },
            E::DockerResponseServerError { status_code, message } => {
                EngineError::Api { what, status: status_code, message }
            }
            E::DockerStreamError { error } => EngineError::Failed { what, message: error },
            E::IOError { .. }
            | E::HyperLegacyError { .. }
            | E::SocketNotFoundError(_)
            | E::HyperResponseError { .. } => {
                EngineError::Unreachable { host: self.host.clone(), cause: e.to_string() }
            }
            other => EngineError::Failed { what, message: other.to_string() },
        }
    }
}

impl Docker {
    /// Leaves one network called `name`: `keep`, or else the oldest. Docker Engine before API 1.44 creates a second
    /// network of the same name unless asked to check (bollard no longer sends `CheckDuplicate`), and a create sent
    /// by a `tug up` that was killed can complete after the next `tug up` made its own; containers then fail to
    /// start ("network … is ambiguous"). The others are empty (their creator is gone) and are removed.
    fn one_network_named(&self, name: &str, keep: Option<&str>) -> Result<()> {
        let filters: HashMap<&str, Vec<String>> = HashMap::from([("name", vec![name.to_string()])]);
        let options = q::ListNetworksOptionsBuilder::default().filters(&filters).build();
        let mut same: Vec<(String, String)> = self
            .block(|| format!("listing networks named {name}"), self.client.list_networks(Some(options)))?
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .map(|n| (n.created.map(|c| c.to_string()).unwrap_or_default(), n.id.unwrap_or_default()))
            .collect();
        if same.len() < 2 {
            return Ok(());
        }
        same.sort();
        let kept = keep.map(str::to_string).unwrap_or_else(|| same[0].1.clone());
        for (_, id) in same.iter().filter(|(_, id)| *id != kept) {
            self.block(|| format!("removing duplicate network {name} ({id})"), self.client.remove_network(id))?;
        }
        Ok(())
    }
}

/// The network named in Docker's "network NAME is ambiguous (N matches found on name)".
fn ambiguous_network(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("network ")?;
    let (name, _) = rest.split_once(" is ambiguous")?;
    Some(name.to_string())
}

impl Engine for Docker {
    fn version(&self) -> Result<(String, String)> {
        let v = self.block(|| "the version request".into(), self.client.version())?;
        Ok((v.version.unwrap_or_default(), v.api_version.unwrap_or_default()))
    }

    fn containers(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>> {
        let filters: HashMap<&str, Vec<String>> =
            HashMap::from([("label", labels.iter().map(|(k, v)| format!("{k}={v}")).collect())]);
        let options = q::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.block(|| "listing containers".into(), self.client.list_containers(Some(options)))?;
        Ok(list
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    fn inspect(&self, id: &str) -> Result<ContainerInspectResponse> {
        self.block(|| format!("container {id}"), self.client.inspect_container(id, None::<q::InspectContainerOptions>))
    }

    fn image(&self, reference: &str) -> Result<Option<ImageInfo>> {
        match self.block(|| format!("image {reference}"), self.client.inspect_image(reference)) {
            Ok(i) => {
                Ok(Some(ImageInfo { id: i.id.unwrap_or_default(), repo_digests: i.repo_digests.unwrap_or_default() }))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn pull(&self, reference: &str, on_event: &mut dyn FnMut(StreamEvent)) -> Result<()> {
        let (from_image, tag) = split_tag(reference);
        let options = q::CreateImageOptions {
            from_image: Some(from_image.to_string()),
            tag: tag.map(str::to_string),
            ..Default::default()
        };
        let credentials = super::registry_credentials(reference);
        self.runtime.block_on(async {
            let mut stream = self.client.create_image(Some(options), None, credentials);
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| self.error(format!("pulling {reference}"), e))?;
                if let Some(current) = event.progress_detail.and_then(|p| p.current) {
                    on_event(StreamEvent::Bytes(current.max(0) as u64));
                } else if let Some(status) = event.status {
                    on_event(StreamEvent::Line(status));
                }
            }
            Ok(())
        })
    }

    fn build(&self, request: BuildRequest, on_event: &mut dyn FnMut(StreamEvent)) -> Result<String> {
        let what = format!("building {}", request.tag);
        let options = q::BuildImageOptions {
            dockerfile: request.dockerfile,
            t: Some(request.tag.clone()),
            buildargs: Some(request.args.into_iter().collect()),
            labels: Some(request.labels.into_iter().collect()),
            target: request.target.unwrap_or_default(),
            networkmode: request.network,
            extrahosts: (!request.extra_hosts.is_empty()).then(|| request.extra_hosts.join(",")),
            shmsize: request.shm_size.and_then(|s| i32::try_from(s).ok()),
            nocache: request.no_cache,
            pull: request.pull.then(|| "1".to_string()),
            rm: true,
            forcerm: true,
            ..Default::default()
        };
        let body = bollard::body_full(request.context.into());
        let id = self.runtime.block_on(async {
            let mut stream = self.client.build_image(options, None, Some(body));
            let mut id = None;
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| self.error(what.clone(), e))?;
                if let Some(detail) = event.error_detail {
                    return Err(EngineError::Failed {
                        what: what.clone(),
                        message: detail.message.unwrap_or_default(),
                    });
                }
                if let Some(line) = event.stream {
                    let line = line.trim_end();
                    if !line.is_empty() {
                        on_event(StreamEvent::Line(line.to_string()));
                    }
                }
                if let Some(aux) = event.aux.and_then(|a| a.id) {
                    id = Some(aux);
                }
            }
            Ok(id)
        })?;
        match id {
            Some(id) => Ok(id),
            // The legacy builder reports the id in `aux` on API 1.41; fall back to the tag.
            None => self
                .image(&request.tag)?
                .map(|i| i.id)
                .ok_or(EngineError::Failed { what, message: "the engine reported no image".into() }),
        }
    }

    fn tag(&self, image: &str, reference: &str) -> Result<()> {
        let (repo, tag) = split_tag(reference);
        let options = q::TagImageOptions { repo: Some(repo.to_string()), tag: tag.map(str::to_string) };
        self.block(|| format!("tagging {reference}"), self.client.tag_image(image, Some(options)))
    }

    fn network(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        let inspect = || {
            self.block(
                || format!("network {name}"),
                self.client.inspect_network(name, None::<q::InspectNetworkOptions>),
            )
        };
        let found = match inspect() {
            Err(e) if ambiguous_network(&e.to_string()).is_some() => {
                self.one_network_named(name, None)?;
                inspect()
            }
            other => other,
        };
        match found {
            Ok(n) => Ok(Some(n.labels.unwrap_or_default().into_iter().collect())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_network(&self, request: NetworkCreateRequest) -> Result<()> {
        let name = request.name.clone();
        let created = self.block(|| format!("creating network {name}"), self.client.create_network(request))?;
        self.one_network_named(&name, Some(&created.id))
    }

    fn remove_network(&self, name: &str) -> Result<()> {
        self.block(|| format!("removing network {name}"), self.client.remove_network(name))
    }

    fn volume(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.block(|| format!("volume {name}"), self.client.inspect_volume(name)) {
            Ok(v) => Ok(Some(v.labels.into_iter().collect())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_volume(&self, request: VolumeCreateRequest) -> Result<()> {
        let name = request.name.clone().unwrap_or_default();
        self.block(|| format!("creating volume {name}"), self.client.create_volume(request)).map(|_| ())
    }

    fn remove_volume(&self, name: &str) -> Result<()> {
        self.block(
            || format!("removing volume {name}"),
            self.client.remove_volume(name, None::<q::RemoveVolumeOptions>),
        )
    }

    fn create(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        let options = q::CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
        self.block(|| format!("creating container {name}"), self.client.create_container(Some(options), body))
            .map(|r| r.id)
    }

    fn connect(&self, network: &str, container: &str, endpoint: EndpointSettings) -> Result<()> {
        let request = NetworkConnectRequest { container: container.to_string(), endpoint_config: Some(endpoint) };
        self.block(|| format!("connecting {container} to {network}"), self.client.connect_network(network, request))
    }

    fn start(&self, id: &str) -> Result<()> {
        let start = || {
            self.block(|| format!("starting {id}"), self.client.start_container(id, None::<q::StartContainerOptions>))
        };
        match start() {
            // A duplicate made after `create_network` looked (see `one_network_named`): keep one, start again.
            Err(e) => match ambiguous_network(&e.to_string()) {
                Some(name) => {
                    self.one_network_named(&name, None)?;
                    start()
                }
                None => Err(e),
            },
            ok => ok,
        }
    }

    fn stop(&self, id: &str, timeout_seconds: Option<i64>) -> Result<()> {
        let options = q::StopContainerOptions { t: timeout_seconds.and_then(|t| i32::try_from(t).ok()), signal: None };
        self.block(|| format!("stopping {id}"), self.client.stop_container(id, Some(options)))
    }

    fn rename(&self, id: &str, name: &str) -> Result<()> {
        let options = q::RenameContainerOptions { name: name.to_string() };
        self.block(|| format!("renaming {id} to {name}"), self.client.rename_container(id, options))
    }

    fn remove(&self, id: &str, volumes: bool) -> Result<()> {
        let options = q::RemoveContainerOptions { v: volumes, force: true, link: false };
        self.block(|| format!("removing {id}"), self.client.remove_container(id, Some(options)))
    }

    fn logs(
        &self,
        ids: &[String],
        query: &LogsQuery,
        cancel: &tugboat::ops::CancelToken,
        on_chunk: &mut dyn FnMut(usize, Stream, &[u8]) -> bool,
    ) -> Result<()> {
        let options = q::LogsOptions {
            follow: query.follow,
            stdout: true,
            stderr: true,
            since: query.since.and_then(|s| i32::try_from(s).ok()).unwrap_or(0),
            until: query.until.and_then(|u| i32::try_from(u).ok()).unwrap_or(0),
            timestamps: true,
            tail: query.tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
        };
        self.runtime.block_on(async {
            // One stream per container, polled together: lines arrive in the order the containers write them.
            let streams = ids
                .iter()
                .enumerate()
                .map(|(i, id)| self.client.logs(id, Some(options.clone())).map(move |item| (i, item)).boxed_local());
            let mut all = futures_util::stream::select_all(streams);
            while !cancel.is_cancelled() {
                let Ok(next) = tokio::time::timeout(CANCEL_POLL, all.next()).await else { continue };
                let Some((i, item)) = next else { break };
                let output = item.map_err(|e| self.error(format!("reading the log of {}", ids[i]), e))?;
                let (stream, bytes) = match output {
                    bollard::container::LogOutput::StdOut { message } => (Stream::Stdout, message),
                    bollard::container::LogOutput::StdErr { message } => (Stream::Stderr, message),
                    // A container with a TTY: one raw stream (the terminal merges stdout and stderr).
                    bollard::container::LogOutput::Console { message } => (Stream::Stdout, message),
                    bollard::container::LogOutput::StdIn { .. } => continue,
                };
                if !on_chunk(i, stream, &bytes) {
                    break;
                }
            }
            Ok(())
        })
    }
}

/// `registry:5000/name:tag` -> (`registry:5000/name`, `tag`); a digest reference keeps its `@sha256:…`.
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    if reference.contains('@') {
        return (reference, None);
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (reference, None),
    }
}

#[cfg(test)]
mod ambiguity_tests {
    use super::ambiguous_network;

    #[test]
    fn the_ambiguous_network_is_named_from_the_engines_message() {
        let message = "the Docker Engine answered 400 to starting 8c51b5: network tugt-24972-15_default is ambiguous (2 matches found on name)";
        assert_eq!(ambiguous_network(message).as_deref(), Some("tugt-24972-15_default"));
        assert_eq!(ambiguous_network("network x not found"), None);
    }
}
