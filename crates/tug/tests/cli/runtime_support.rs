//! What the runtime tests share: the real Docker Engine (a test fails, saying what to install, without
//! one), the test image built from this workspace's own `tug-testserver` (a static binary in `FROM
//! scratch`, built once per test process through tug's own Engine API builder), and a [`Project`] guard
//! that removes every container, network and volume of its Compose project when the test ends, passed
//! or failed. Projects a killed test run left behind are removed by the next run (their name carries the
//! test process's pid).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tugboat_runtime::engine::{BuildRequest, Docker, Engine};

pub const IMAGE: &str = "tugboat-test/server:local";
pub const NEED_DOCKER: &str =
    "the runtime tests need a running Docker Engine: install it (apt-get install docker.io), \
     start it (systemctl start docker) and let this user reach it (`docker info` must work)";
/// Every test project's name starts so: `tugt-<pid>-<n>`.
const PREFIX: &str = "tugt-";

/// `docker ARGS`: stdout, or the test fails with stderr.
#[track_caller]
pub fn docker(args: &[&str]) -> String {
    let out = docker_raw(args);
    assert!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn docker_raw(args: &[&str]) -> std::process::Output {
    ready();
    Command::new("docker").args(args).output().unwrap_or_else(|e| panic!("cannot run docker: {e}\n{NEED_DOCKER}"))
}

/// `docker inspect` of one object, as JSON.
#[track_caller]
pub fn inspect(what: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&docker(&["inspect", what])).expect("docker inspect JSON");
    v[0].clone()
}

fn ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let out = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!("`docker info` failed: {}\n{NEED_DOCKER}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => panic!("cannot run docker: {e}\n{NEED_DOCKER}"),
        }
        remove_stale_projects();
    });
}

/// The test image, built once per test process from the static `tug-testserver`.
pub fn test_image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    ready();
    let built = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        tug_testserver::write_image_context(dir.path())?;
        let context = tugboat_runtime::build::context_tar(dir.path(), "Dockerfile", None).map_err(|e| e.to_string())?;
        let engine = Docker::connect().map_err(|e| e.to_string())?;
        let request = BuildRequest {
            tag: IMAGE.into(),
            dockerfile: context.dockerfile,
            context: context.bytes,
            args: Default::default(),
            labels: Default::default(),
            target: None,
            network: None,
            extra_hosts: Vec::new(),
            shm_size: None,
            no_cache: false,
            pull: false,
        };
        engine.build(request, &mut |_| {}).map(|_| ()).map_err(|e| e.to_string())
    });
    if let Err(e) = built {
        panic!("cannot build the test image {IMAGE}: {e}");
    }
    IMAGE
}

/// An image FROM the test image with `env` (`TESTSERVER_VERSION=v2`, …) and more Dockerfile `lines`
/// (`LABEL …`, `HEALTHCHECK NONE`), tagged `reference` (the legacy builder: no buildx here).
pub fn derived_image(reference: &str, env: &[(&str, &str)], lines: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut dockerfile = format!("FROM {}\n", test_image());
    for (k, v) in env {
        dockerfile.push_str(&format!("ENV {k}={v}\n"));
    }
    for line in lines {
        dockerfile.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write the Dockerfile");
    let out = Command::new("docker")
        .args(["build", "-q", "-t", reference])
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}\n{NEED_DOCKER}"));
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
    reference.to_string()
}

/// A Compose project name owned by one test; everything of it is removed on drop.
pub struct Project {
    pub name: String,
}

impl Project {
    pub fn new() -> Project {
        static N: AtomicUsize = AtomicUsize::new(0);
        ready();
        Project { name: format!("{PREFIX}{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)) }
    }

    /// Containers of the project: `name -> state` (`docker ps -a`).
    pub fn containers(&self) -> Vec<(String, String)> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}} {{.State}}"])
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, s)| (n.to_string(), s.to_string())))
            .collect()
    }

    pub fn networks(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        docker(&["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]).lines().map(str::to_string).collect()
    }

    pub fn volumes(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        docker(&["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"]).lines().map(str::to_string).collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        remove_project(&self.name);
    }
}

fn remove_project(name: &str) {
    let filter = format!("label=com.docker.compose.project={name}");
    let run = |args: &[&str]| Command::new("docker").args(args).output().ok();
    let list = |args: &[&str]| -> Vec<String> {
        run(args).map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()).unwrap_or_default()
    };
    for id in list(&["ps", "-aq", "--filter", &filter]) {
        run(&["rm", "-f", "-v", &id]);
    }
    for id in list(&["network", "ls", "-q", "--filter", &filter]) {
        run(&["network", "rm", &id]);
    }
    for id in list(&["volume", "ls", "-q", "--filter", &filter]) {
        run(&["volume", "rm", "-f", &id]);
    }
}

/// Projects of test processes that no longer exist.
fn remove_stale_projects() {
    let Ok(out) = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Label \"com.docker.compose.project\"}}",
        ])
        .output()
    else {
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for project in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(pid) = project.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else { continue };
        if !Path::new("/proc").join(pid).exists() && seen.insert(project.to_string()) {
            remove_project(project);
        }
    }
}

/// Removes everything of `project` now (its guard still removes whatever is left on drop): the
/// conformance tests run Compose's copy of a stack and tug's one after the other, on the same host ports.
pub fn clear_project(project: &Project) {
    remove_project(&project.name);
}
