//! The Docker Engine's own checks: reachable, version and API version, storage driver, the warnings
//! `docker info` prints, and (for GPU stacks) the NVIDIA container runtime.

use bollard::models::SystemInfo;
use tugboat::doctor::{Check, Group};

use crate::engine::{Docker, Engine, EngineError};

/// tug speaks Docker Engine API 1.41 (Docker 20.10) and refuses the compose keys that need newer.
pub const MIN_API: (u32, u32) = (1, 41);

/// What the engine told us, or why it could not.
pub struct Facts {
    pub docker: Result<Docker, EngineError>,
    pub info: Option<SystemInfo>,
}

impl Facts {
    pub fn gather() -> Facts {
        let docker = Docker::connect();
        let info = docker.as_ref().ok().and_then(|d| d.info().ok());
        Facts { docker, info }
    }

    /// Engine-side paths are this machine's only through a unix socket (not a remote `tcp://` engine).
    pub fn is_local(&self) -> bool {
        self.docker.as_ref().is_ok_and(|d| d.host().starts_with("unix://"))
    }
}

fn unreachable(id: &str) -> Check {
    Check::skip(Group::Engine, id, "the engine is unreachable (see engine.reachable)")
}

fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

pub fn checks(facts: &Facts) -> Vec<Check> {
    let docker = match &facts.docker {
        Ok(d) => d,
        Err(e) => {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            let cause = match e {
                EngineError::Unreachable { cause, .. } => cause.clone(),
                other => other.to_string(),
            };
            return vec![
                Check::fail(
                    Group::Engine,
                    "engine.reachable",
                    format!("cannot reach the Docker Engine at {host}: {cause}"),
                    "start it (`systemctl start docker`), or point DOCKER_HOST at it; this user must be able to use its socket (group docker)",
                ),
                unreachable("engine.version"),
                unreachable("engine.storage-driver"),
                unreachable("engine.warnings"),
            ];
        }
    };
    let mut out = vec![Check::pass(Group::Engine, "engine.reachable", format!("Docker Engine at {}", docker.host()))];
    let need = format!("tug needs API {}.{}, Docker 20.10, or newer", MIN_API.0, MIN_API.1);
    out.push(match docker.version() {
        Ok((version, api)) => match parse_api(&api) {
            Some(v) if v >= MIN_API => {
                Check::pass(Group::Engine, "engine.version", format!("Docker Engine {version}, API {api} ({need})"))
            }
            _ => Check::fail(
                Group::Engine,
                "engine.version",
                format!("Docker Engine {version} speaks API {api}; {need}"),
                "upgrade Docker Engine to 20.10 or newer (`apt-get install docker.io` on Debian 12)",
            ),
        },
        Err(e) => Check::fail(
            Group::Engine,
            "engine.version",
            format!("the version request failed: {e}"),
            "check `docker version`",
        ),
    });
    let Some(info) = &facts.info else {
        out.push(Check::skip(Group::Engine, "engine.storage-driver", "the engine did not answer the info request"));
        out.push(Check::skip(Group::Engine, "engine.warnings", "the engine did not answer the info request"));
        return out;
    };
    out.push(storage_driver(info));
    let warnings: Vec<String> = info
        .warnings
        .iter()
        .flatten()
        .map(|w| w.trim().trim_start_matches("WARNING:").trim().to_string())
        .filter(|w| !w.is_empty())
        .collect();
    out.push(if warnings.is_empty() {
        Check::pass(Group::Engine, "engine.warnings", "`docker info` reports no warnings")
    } else {
        Check::warn(
            Group::Engine,
            "engine.warnings",
            format!("`docker info` warns: {}", warnings.join("; ")),
            "act on each warning (`docker info` prints them with their context)",
        )
    });
    out
}

fn storage_driver(info: &SystemInfo) -> Check {
    let id = "engine.storage-driver";
    let driver = info.driver.clone().unwrap_or_default();
    let status = |key: &str| {
        info.driver_status
            .iter()
            .flatten()
            .find(|kv| kv.first().map(String::as_str) == Some(key))
            .and_then(|kv| kv.get(1))
    };
    let to_overlay2 = "use overlay2: `\"storage-driver\": \"overlay2\"` in /etc/docker/daemon.json, restart Docker \
                       (images are pulled again)";
    match driver.as_str() {
        "vfs" => Check::warn(
            Group::Engine,
            id,
            "vfs: no copy-on-write, every layer is a full copy (slow, disk-hungry)",
            to_overlay2,
        ),
        "devicemapper" if status("Data loop file").is_some() => Check::warn(
            Group::Engine,
            id,
            "devicemapper on loopback files (loop-lvm): slow and unfit for production",
            to_overlay2,
        ),
        "devicemapper" | "aufs" => Check::warn(
            Group::Engine,
            id,
            format!("{driver}: deprecated, and removed from Docker Engine 25"),
            to_overlay2,
        ),
        "" => Check::skip(Group::Engine, id, "the engine reports no storage driver"),
        _ => {
            let backing = status("Backing Filesystem").map(|b| format!(" on {b}")).unwrap_or_default();
            Check::pass(Group::Engine, id, format!("{driver}{backing}"))
        }
    }
}

/// `gpu.runtime`: the engine's `nvidia` runtime, or the toolkit hook the engine runs for `--gpus`.
pub fn gpu_runtime(facts: &Facts, services: &[String]) -> Check {
    let id = "gpu.runtime";
    let Some(info) = &facts.info else {
        return Check::skip(Group::Gpu, id, "the engine is unreachable (see engine.reachable)");
    };
    let who = format!("{} reserve a GPU", services.join(", "));
    if info.runtimes.as_ref().is_some_and(|r| r.contains_key("nvidia")) {
        return Check::pass(Group::Gpu, id, format!("{who}; the engine has the nvidia runtime"));
    }
    if let Some(hook) = tugboat::doctor::which("nvidia-container-runtime-hook") {
        return Check::pass(Group::Gpu, id, format!("{who}; {} (the engine's hook for GPU requests)", hook.display()));
    }
    let runtimes: Vec<&String> = info.runtimes.iter().flat_map(|r| r.keys()).collect();
    Check::fail(
        Group::Gpu,
        id,
        format!(
            "{who}; no NVIDIA container runtime: the engine has {}, and nvidia-container-runtime-hook is not on PATH",
            runtimes.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
        ),
        "install the NVIDIA Container Toolkit (`apt-get install nvidia-container-toolkit`), then \
         `nvidia-ctk runtime configure --runtime=docker && systemctl restart docker`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_drivers_vfs_and_loopback_devicemapper_warn() {
        let info = |driver: &str, status: &[(&str, &str)]| SystemInfo {
            driver: Some(driver.into()),
            driver_status: Some(status.iter().map(|(k, v)| vec![k.to_string(), v.to_string()]).collect()),
            ..Default::default()
        };
        use tugboat::doctor::Status::*;
        assert_eq!(storage_driver(&info("overlay2", &[("Backing Filesystem", "extfs")])).status, Pass);
        assert_eq!(storage_driver(&info("overlay2", &[("Backing Filesystem", "extfs")])).observed, "overlay2 on extfs");
        assert_eq!(storage_driver(&info("vfs", &[])).status, Warn);
        let loopback =
            storage_driver(&info("devicemapper", &[("Data loop file", "/var/lib/docker/devicemapper/data")]));
        assert!(loopback.status == Warn && loopback.observed.contains("loop-lvm"), "{loopback:?}");
        assert_eq!(parse_api("1.41"), Some((1, 41)));
        assert!(parse_api("1.40").unwrap() < MIN_API && parse_api("1.45").unwrap() >= MIN_API);
    }
}
