//! Real Docker containers for the container probe, from a tiny image built on the spot from this host's
//! `sleep`, `true`, `false` and `sh` (`build-probe-image.sh`; nothing can be pulled on the test machines).
//!
//! Needs a running Docker Engine: without one the tests fail saying so. Each container is labelled with
//! the test process's pid and host and removed (`docker rm -f -v`) when its value is dropped; containers
//! left by a killed test run are removed by the next one.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub const IMAGE: &str = "tugboat-test/probe:local";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tugboat-watch/tests/support/build-probe-image.sh");
const NEED_DOCKER: &str = "the container tests need a running Docker Engine: install it (apt-get install docker.io), \
     start it (systemctl start docker) and let this user reach it (`docker info` must work)";
const PID_LABEL: &str = "org.tugboat.test.pid";
const HOST_LABEL: &str = "org.tugboat.test.host";

/// `docker ARGS`; its output.
fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker ({e}): {NEED_DOCKER}"))
}

/// `docker ARGS`; stdout, or a panic with stderr.
#[track_caller]
pub fn docker(args: &[&str]) -> String {
    let out = docker_output(args);
    assert!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Checks the engine, removes containers of dead test processes, builds the image: once per process.
fn image() -> &'static str {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let info = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
        match info {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(format!("`docker info` failed: {}\n{NEED_DOCKER}", String::from_utf8_lossy(&o.stderr)))
            }
            Err(e) => return Err(format!("cannot run docker ({e}): {NEED_DOCKER}")),
        }
        remove_stale_containers();
        let out = Command::new("sh")
            .arg(SCRIPT)
            .arg(IMAGE)
            .output()
            .map_err(|e| format!("cannot run build-probe-image.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "build-probe-image.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
    IMAGE
}

fn remove_stale_containers() {
    let format = format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}} {{{{.Label \"{HOST_LABEL}\"}}}}");
    let out = docker_output(&["ps", "-a", "--filter", &format!("label={PID_LABEL}"), "--format", &format]);
    let host = hostname();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let [id, pid, h] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            if *h == host && !Path::new("/proc").join(pid).exists() {
                let _ = docker_output(&["rm", "-f", "-v", id]);
            }
        }
    }
}

/// A container of the test image, removed on drop.
pub struct TestContainer {
    pub name: String,
    pub id: String,
}

impl TestContainer {
    /// `docker run -d` of the test image (`sleep infinity`), named `tug-test-probe-PID-N`, with
    /// `docker_args` before the image (`--health-cmd`, `--label` …) and `command` after it (empty: the
    /// image's). Returns once Docker reports it created; see [`wait_state`](Self::wait_state).
    pub fn run(docker_args: &[&str], command: &[&str]) -> TestContainer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let image = image();
        let name = format!("tug-test-probe-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        // The guard exists before the container does: whatever fails from here on, it is removed.
        let mut c = TestContainer { name, id: String::new() };
        let (pid, host) = (format!("{PID_LABEL}={}", std::process::id()), format!("{HOST_LABEL}={}", hostname()));
        let mut args = vec!["run", "-d", "--name", &c.name, "--stop-signal", "SIGKILL", "--label", &pid];
        args.extend(["--label", &host]);
        args.extend(docker_args);
        args.push(image);
        args.extend(command);
        c.id = docker(&args).trim().to_string();
        c
    }

    /// A running container with a health check that passes (`/usr/bin/true` every 200 ms), returned once
    /// Docker calls it healthy.
    pub fn healthy(docker_args: &[&str]) -> TestContainer {
        let mut args = vec!["--health-cmd", "/usr/bin/true", "--health-interval", "200ms", "--health-retries", "1"];
        args.extend(docker_args);
        let c = TestContainer::run(&args, &[]);
        c.wait_state("{{.State.Health.Status}}", "healthy", Duration::from_secs(30));
        c
    }

    /// `docker inspect -f FORMAT`, trimmed.
    pub fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.name]).trim().to_string()
    }

    /// Polls `docker inspect -f format` until it prints `want`.
    #[track_caller]
    pub fn wait_state(&self, format: &str, want: &str, timeout: Duration) {
        super::wait_until(
            timeout,
            &format!("container {} to show {format} = {want}", self.name),
            || (self.inspect(format) == want).then_some(()),
            || format!("it shows {:?}", self.inspect(format)),
        );
    }

    /// `docker kill`: the container stays, exited.
    pub fn kill(&self) {
        docker(&["kill", &self.name]);
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = docker_output(&["rm", "-f", "-v", &self.name]);
    }
}
