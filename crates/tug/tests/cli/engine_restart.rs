//! The Docker engine stopped, crashed and restarted under `tug up` and `tug deploy`.
//!
//! Each test runs an engine of its own ([`PrivateEngine`]: its own data root, socket and containerd), so
//! stopping it cannot touch the engine every other test uses. After the fault, whatever point it hit, the
//! state must be consistent: exactly one audit event for the faulted command, `tug status` telling the truth,
//! the next `tug up` / `tug deploy` converging with no manual repair, one container per service, and the
//! proxy sending requests to the version that runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::deploy::{get_version, version_image};
use crate::runtime_support::test_image;
use crate::util::{audit_events, wait_for, Fixture, Spawned, Tug};

const LONG: Duration = Duration::from_secs(180);
/// Every private engine's directory: `/tmp/tugd-<pid>-<n>` (short: the sockets inside must fit in 108 bytes).
const PREFIX: &str = "tugd-";

/// A `dockerd` of the test's own, with its own `containerd` beside it as systemd runs them (so a crashed
/// dockerd leaves containerd and the containers' shims running, and the restarted one finds them).
///
/// Both run in a network namespace of their own (`nsenter --net`: the mount namespace stays the host's, so
/// dockerd's mounts are containerd's too): whatever the engine does to bridges, veths and iptables stays
/// there — a dockerd on the host's network deletes the host's `docker0` when it restarts. A veth pair and a
/// route give the host (tug, the proxy) the containers' addresses, as it has the host engine's.
pub(crate) struct PrivateEngine {
    dir: PathBuf,
    containerd: Option<Child>,
    daemon: Option<Child>,
}

impl PrivateEngine {
    pub(crate) fn start() -> PrivateEngine {
        static N: AtomicUsize = AtomicUsize::new(0);
        remove_stale_engines();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the engine's directory");
        let mut engine = PrivateEngine { dir, containerd: None, daemon: None };
        engine.make_network();
        // The host's /etc/docker/daemon.json sets a data root; this engine reads an empty one instead.
        std::fs::write(engine.dir.join("daemon.json"), "{}").expect("daemon.json");
        let c = engine.dir.join("containerd");
        std::fs::write(
            engine.dir.join("containerd.toml"),
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{0}/containerd.sock\"\n[debug]\n  address = \"{0}/debug.sock\"\n",
                c.display()
            ),
        )
        .expect("containerd.toml");
        let config = engine.dir.join("containerd.toml").display().to_string();
        engine.containerd = Some(engine.spawn_inside("containerd", &["--config", &config], "containerd.log"));
        wait_for("containerd's socket", LONG, || c.join("containerd.sock").exists());
        engine.launch();
        engine
    }

    /// `unix:///…/docker.sock`, for `DOCKER_HOST`.
    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    /// The network namespace, `tugd-<pid>-<n>` like the directory.
    fn netns(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The host's end of the veth pair: `tgh<pid>-<n>` (at most 15 characters, as Linux allows).
    fn veth(&self) -> String {
        format!("tgh{}-{}", std::process::id() % 10_000_000, self.number())
    }

    /// A second octet of its own per process and engine, 10.192–10.207 (cut_off_network uses 10.213):
    /// parallel test processes do not share addresses.
    fn octet(&self) -> usize {
        192 + (std::process::id() as usize * 7 + self.number()) % 16
    }

    /// The namespace, the veth pair into it (10.O.254.1 here, .2 there, forwarding on) and the host's route
    /// to the engine's address pool through it.
    fn make_network(&self) {
        let (ns, host_end, o) = (self.netns(), self.veth(), self.octet());
        let inner = format!("{host_end}n");
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip (iproute2) runs");
            assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        };
        let (here, there, pool) = (format!("10.{o}.254.1/30"), format!("10.{o}.254.2/30"), format!("10.{o}.0.0/17"));
        let gateway = format!("10.{o}.254.2");
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &host_end, "type", "veth", "peer", "name", &inner]);
        ip(&["link", "set", &inner, "netns", &ns]);
        ip(&["addr", "add", &here, "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        for args in [
            vec!["addr", "add", there.as_str(), "dev", inner.as_str()],
            vec!["link", "set", inner.as_str(), "up"],
            vec!["link", "set", "lo", "up"],
            vec!["route", "add", "default", "via", &here[..here.len() - 3]],
        ] {
            let mut full = vec!["netns", "exec", ns.as_str(), "ip"];
            full.extend(args);
            ip(&full);
        }
        let forward = Command::new("ip")
            .args(["netns", "exec", &ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .status()
            .expect("sysctl runs");
        assert!(forward.success(), "cannot enable forwarding in {ns}");
        ip(&["route", "add", &pool, "via", &gateway]);
    }

    /// `program ARGS` in the engine's network namespace, its output appended to `log`.
    fn spawn_inside(&self, program: &str, args: &[&str], log: &str) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(log)).expect("a log");
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns()))
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} (nsenter from util-linux, docker.io): {e}"))
    }

    fn launch(&mut self) {
        let d = |name: &str| self.dir.join(name).display().to_string();
        let pool = format!("base=10.{}.0.0/17,size=24", self.octet());
        let (config, data, exec, pid) = (d("daemon.json"), d("data"), d("exec"), d("dockerd.pid"));
        let (socket, containerd) = (format!("unix://{}", d("docker.sock")), d("containerd/containerd.sock"));
        let args = [
            "--config-file",
            &config,
            "--data-root",
            &data,
            "--exec-root",
            &exec,
            "--pidfile",
            &pid,
            "-H",
            &socket,
            "--containerd",
            &containerd,
            "--iptables=false",
            "--ip-masq=false",
            "--default-address-pool",
            &pool,
        ];
        self.daemon = Some(self.spawn_inside("dockerd", &args, "dockerd.log"));
        let start = Instant::now();
        loop {
            if self.docker_raw(&["info", "--format", "{{.ServerVersion}}"]).status.success() {
                return;
            }
            if let Some(status) = self.daemon.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("dockerd exited ({status}) while starting:\n{}", self.log_tail());
            }
            assert!(start.elapsed() < LONG, "dockerd did not answer within {LONG:?}:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn number(&self) -> usize {
        self.dir.to_string_lossy().rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// `systemctl stop docker`: SIGTERM; the engine stops its containers and exits.
    pub(crate) fn stop(&mut self) {
        self.signal_and_reap("TERM");
    }

    /// The engine crashing: SIGKILL to dockerd (containerd and the containers' shims live on).
    pub(crate) fn crash(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            reap(daemon, "KILL", &self.log_tail());
        }
    }

    pub(crate) fn restart(&mut self) {
        self.launch();
    }

    fn signal_and_reap(&mut self, signal: &str) {
        if let Some(daemon) = self.daemon.take() {
            reap(daemon, signal, &self.log_tail());
        }
    }

    pub(crate) fn docker_raw(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(["-H", &self.host()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
    }

    #[track_caller]
    pub(crate) fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_raw(args);
        assert!(
            out.status.success(),
            "`docker {}` on the private engine failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Copies `image` from the host's engine (nothing can be pulled here).
    pub(crate) fn load(&self, image: &str) {
        let mut save =
            Command::new("docker").args(["save", image]).stdout(Stdio::piped()).spawn().expect("docker save");
        let stdout = save.stdout.take().expect("docker save's stdout");
        let load = Command::new("docker")
            .args(["-H", &self.host(), "load", "-q"])
            .stdin(stdout)
            .output()
            .expect("docker load");
        assert!(save.wait().expect("docker save").success(), "docker save {image} failed");
        assert!(load.status.success(), "docker load: {}", String::from_utf8_lossy(&load.stderr));
    }

    /// `name state` of every container of `project`.
    pub(crate) fn containers(&self, project: &str) -> Vec<(String, String)> {
        let filter = format!("label=com.docker.compose.project={project}");
        let mut all: Vec<(String, String)> = self
            .docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}} {{.State}}"])
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, s)| (n.to_string(), s.to_string())))
            .collect();
        all.sort();
        all
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            let ids = self.docker_raw(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker_raw(&["rm", "-f", "-v", id]);
            }
        }
        self.signal_and_reap("TERM");
        if let Some(containerd) = self.containerd.take() {
            reap(containerd, "TERM", "");
        }
        remove_engine_dir(&self.dir);
        remove_network(&self.netns(), &self.veth(), self.octet());
    }
}

/// The namespace (what runs in it dies with it), the veth pair and the route.
fn remove_network(netns: &str, veth: &str, octet: usize) {
    let _ = Command::new("ip").args(["route", "del", &format!("10.{octet}.0.0/17")]).output();
    let _ = Command::new("ip").args(["link", "del", veth]).output();
    let _ = Command::new("ip").args(["netns", "del", netns]).output();
}

/// Sends `signal` and waits for the exit.
fn reap(mut child: Child, signal: &str, log: &str) {
    let _ = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        assert!(start.elapsed() < LONG, "process {} did not exit on SIG{signal}:\n{log}", child.id());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills what runs from `dir` (dockerd, its containerd and shims), unmounts what it mounted, removes it.
fn remove_engine_dir(dir: &Path) {
    let _ = Command::new("pkill").args(["-KILL", "-f", &dir.display().to_string()]).status();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|p| p.starts_with(&*dir.to_string_lossy())).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount").args(["-l", point]).status();
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Engines (directories, namespaces, veths) of test processes that no longer exist.
fn remove_stale_engines() {
    let dead = |name: &str, prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|r| r.split('-').next())
            .is_some_and(|pid| pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists())
    };
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        if dead(&entry.file_name().to_string_lossy(), PREFIX) {
            remove_engine_dir(&entry.path());
        }
    }
    for entry in std::fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead(&name, PREFIX) {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
    for entry in std::fs::read_dir("/sys/class/net").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead(&name, "tgh") {
            let _ = Command::new("ip").args(["link", "del", &name]).output();
        }
    }
}

/// A stack on the private engine: `tug` runs with `DOCKER_HOST` pointing at it.
struct OnEngine {
    engine: PrivateEngine,
    fixture: Fixture,
    project: String,
}

impl OnEngine {
    fn new(compose_body: &str, tugboat_yml: Option<&str>) -> OnEngine {
        static N: AtomicUsize = AtomicUsize::new(0);
        let engine = PrivateEngine::start();
        engine.load(test_image());
        let project = format!("tuger-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let fixture = Fixture::new();
        fixture.write("compose.yml", &format!("name: {project}\n{}", compose_body.replace("IMAGE", test_image())));
        if let Some(yml) = tugboat_yml {
            fixture.write("tugboat.yml", yml);
        }
        OnEngine { engine, fixture, project }
    }

    fn tug(&self) -> Tug {
        self.fixture.tug().env("DOCKER_HOST", self.engine.host())
    }

    fn containers(&self) -> Vec<(String, String)> {
        self.engine.containers(&self.project)
    }

    fn events(&self, command: &str) -> Vec<serde_json::Value> {
        audit_events(|| self.tug()).into_iter().filter(|e| e["command"] == command).collect()
    }

    /// Every container of the project, one per service, running — and `tug status` agrees.
    #[track_caller]
    fn assert_converged(&self, services: &[&str], why: &str) {
        let expected: Vec<(String, String)> =
            services.iter().map(|s| (format!("{}-{s}-1", self.project), "running".to_string())).collect();
        assert_eq!(self.containers(), expected, "{why}");
        let status = self.tug().arg("status").run();
        status.success();
        status.stdout_contains("in sync");
    }
}

/// A database that is healthy only after several checks, and a web service waiting for it: `up` spends
/// most of its time waiting on health, where an engine restart is most likely to find it.
const GATED: &str = "services:
  db:
    image: IMAGE
    command: [\"--healthy-after\", \"6\"]
    healthcheck: { test: [\"CMD\", \"/tug-testserver\", \"health\"], interval: 1s, retries: 60 }
  web:
    image: IMAGE
    depends_on: { db: { condition: service_healthy } }
";

/// Waits until `up` has created its first container, then runs `fault`; returns how `up` ended.
fn fault_during_up(s: &mut OnEngine, fault: impl FnOnce(&mut PrivateEngine)) -> (Option<i32>, String) {
    let mut up: Spawned = s.tug().arg("up").spawn();
    let db = format!("{}-db-1", s.project);
    wait_for("up to create the database container", LONG, || {
        up.child.try_wait().ok().flatten().is_some() || s.containers().iter().any(|(n, _)| *n == db)
    });
    fault(&mut s.engine);
    let start = Instant::now();
    while up.child.try_wait().ok().flatten().is_none() {
        assert!(start.elapsed() < LONG, "tug up did not end after the engine went away");
        std::thread::sleep(Duration::from_millis(50));
    }
    up.wait()
}

/// `up` interrupted by the engine: it ended (never hung) with success, or exit 3 naming the engine.
#[track_caller]
fn assert_up_ended_cleanly(s: &OnEngine, code: Option<i32>, stderr: &str) {
    match code {
        Some(0) => {}
        Some(3) => assert!(
            stderr.contains("Docker Engine") || stderr.contains("docker.sock"),
            "exit 3 without naming the engine: {stderr}"
        ),
        other => panic!("tug up ended with {other:?} when the engine went away: {stderr}"),
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let events = s.events("up");
    assert_eq!(events.len(), 1, "one audit event for the interrupted up: {events:#?}");
    let outcome = events[0]["outcome"].as_str().unwrap_or_default();
    assert_eq!(outcome == "succeeded", code == Some(0), "{:#}", events[0]);
    s.tug().args(["audit", "verify"]).run().success();
}

#[test]
fn the_engine_stopped_and_restarted_mid_up_leaves_a_state_the_next_up_converges() {
    let mut s = OnEngine::new(GATED, None);
    let (code, stderr) = fault_during_up(&mut s, PrivateEngine::stop);
    // While the engine is away, `status` says so instead of guessing.
    let away = s.tug().arg("status").run();
    away.failure(3);
    away.stderr_contains("cannot reach the Docker Engine");
    assert_up_ended_cleanly(&s, code, &stderr);

    s.engine.restart();
    // The stopped engine stopped the containers: status reports them as drift, truthfully.
    let status = s.tug().arg("status").run();
    assert!(matches!(status.code(), 0 | 1), "{}", status.describe());
    s.tug().arg("up").run().success();
    s.assert_converged(&["db", "web"], "after the restart, up converges");
}

#[test]
fn the_engine_crashing_mid_up_leaves_a_state_the_next_up_converges() {
    let mut s = OnEngine::new(GATED, None);
    let (code, stderr) = fault_during_up(&mut s, PrivateEngine::crash);
    assert_up_ended_cleanly(&s, code, &stderr);
    s.engine.restart();
    s.tug().arg("up").run().success();
    s.assert_converged(&["db", "web"], "after the crash, up converges");
}

/// `tug deploy`'s stack on the private engine: `web` behind a real `tug proxy` on a free port, restarted by
/// the engine as production services are (`restart: unless-stopped`).
struct Deploying {
    s: OnEngine,
    proxy: Option<Spawned>,
    port: u16,
    images: [String; 2],
}

impl Deploying {
    fn new() -> Deploying {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!("tugboat-test/app:er{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let images = [
            version_image(&format!("{tag}-v1"), &[("TESTSERVER_VERSION", "v1")]),
            version_image(&format!("{tag}-v2"), &[("TESTSERVER_VERSION", "v2")]),
        ];
        let yml = format!(
            "proxy: {{ listen: [\"127.0.0.1:{port}\"], access_log: off }}
deploy:
  web:
    host: web.test
    port: 8080
    health: {{ path: /health, interval: 200ms, timeout: 60s }}
    drain: 1s
    watch: 1s
"
        );
        let s = OnEngine::new(
            &format!("services:\n  web:\n    image: {}\n    restart: unless-stopped\n", images[0]),
            Some(&yml),
        );
        for image in &images {
            s.engine.load(image);
        }
        s.tug().arg("up").run().success();
        let proxy = s.tug().arg("proxy").spawn();
        let socket = s.fixture.join(".tugboat/proxy.sock");
        wait_for("the proxy's admin socket", LONG, || socket.exists());
        let d = Deploying { s, proxy: Some(proxy), port, images };
        d.deploy(0).success();
        assert_eq!(get_version(port).as_deref(), Ok("v1"));
        d
    }

    fn deploy(&self, version: usize) -> crate::util::Run {
        self.s.tug().args(["deploy", "web", "--image", &self.images[version]]).run()
    }

    fn running_web(&self) -> Vec<String> {
        let prefix = format!("{}-web-", self.s.project);
        self.s
            .containers()
            .into_iter()
            .filter(|(n, st)| n.starts_with(&prefix) && st == "running")
            .map(|(n, _)| n)
            .collect()
    }
}

impl Drop for Deploying {
    fn drop(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.signal("TERM");
            let _ = p.wait();
        }
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

#[test]
fn the_engine_restarting_mid_deploy_leaves_one_version_serving_after_the_next_deploy() {
    let mut d = Deploying::new();
    let mut deploy = d.s.tug().args(["deploy", "web", "--image", &d.images[1]]).spawn();
    // The green container exists: the engine goes away while the deploy waits for it to be healthy (or later).
    wait_for("the deploy to start green", LONG, || {
        deploy.child.try_wait().ok().flatten().is_some() || d.s.containers().len() > 1
    });
    d.s.engine.stop();
    let start = Instant::now();
    while deploy.child.try_wait().ok().flatten().is_none() {
        assert!(start.elapsed() < LONG, "tug deploy did not end after the engine went away");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, stderr) = deploy.wait();
    assert!(matches!(code, Some(0) | Some(3)), "deploy ended with {code:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    d.s.engine.restart();
    // The engine brought back what has `restart: unless-stopped`, on addresses it chose again: the next
    // deploy finds the stopped one, finishes it, and the proxy serves the one version left running.
    d.deploy(1).success();
    assert_eq!(d.running_web().len(), 1, "{:?}", d.s.containers());
    wait_for("v2 to answer through the proxy", LONG, || get_version(d.port).as_deref() == Ok("v2"));
    let status = d.s.tug().arg("status").run();
    status.success();
    status.stdout_contains("in sync");
    d.s.tug().args(["audit", "verify"]).run().success();
}

#[test]
fn after_an_engine_restart_the_proxy_is_pointed_at_the_containers_new_addresses() {
    let mut d = Deploying::new();
    let address = |d: &Deploying| {
        let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}";
        d.s.engine.docker(&["inspect", "-f", format, &d.running_web()[0]]).trim().to_string()
    };
    let before = address(&d);
    d.s.engine.stop();
    d.s.engine.restart();
    // The engine restarted blue (restart policy) on the first free address: the first `up`'s container
    // had the one before blue's, so blue's changed, and the proxy's route points at nobody.
    wait_for("the engine to restart web", LONG, || d.running_web().len() == 1);
    let after = address(&d);
    assert_ne!(before, after, "the engine kept web's address, so this test would prove nothing");
    let status = d.s.tug().arg("status").run();
    status.failure(1);
    status.stdout_contains(&format!("the proxy routes to {before}:8080"));
    status.stdout_contains(&format!("is at {after}:8080 (run `tug up` to re-point the route)"));
    let up = d.s.tug().arg("up").run();
    up.success();
    up.stdout_contains(&format!("route of web re-pointed from {before}:8080 to {after}:8080"));
    wait_for("v1 to answer through the proxy", LONG, || get_version(d.port).as_deref() == Ok("v1"));
    d.deploy(1).success();
    assert_eq!(get_version(d.port).as_deref(), Ok("v2"));
    assert_eq!(d.running_web().len(), 1, "{:?}", d.s.containers());
}

/// `tug watch` collecting logs while the engine stops and starts again: the container (restart: always)
/// comes back, the collector reconnects and resumes from each container's checkpoint — every line once.
#[test]
fn the_engine_restarting_under_tug_watch_loses_and_duplicates_no_collected_line() {
    let mut s = OnEngine::new(
        "services:\n  web:\n    image: IMAGE\n    restart: always\n    healthcheck: { disable: true }\n",
        Some("stack: logs\n"),
    );
    s.tug().args(["up", "--wait"]).run().success();
    let watch = s.tug().args(["watch", "--listen", "127.0.0.1:0", "--log-format", "json"]).spawn();
    let web = format!("{}-web-1", s.project);
    let address = |engine: &PrivateEngine| {
        let ip = engine.docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &web]);
        format!("{}:8080", ip.trim())
    };
    let at = address(&s.engine);
    for i in 1..=5 {
        crate::logs::get_at(&at, &format!("/before-{i}"));
    }
    let stored = || crate::logs_history::stored(&s.fixture, "web");
    wait_for("the lines before the restart stored", LONG, || {
        crate::logs_history::count(&stored(), "GET /before-") == 5
    });
    s.engine.stop();
    s.engine.restart();
    wait_for("web running again", LONG, || s.containers().iter().any(|(n, st)| *n == web && st == "running"));
    let at = address(&s.engine);
    for i in 1..=5 {
        crate::logs::get_at(&at, &format!("/after-{i}"));
    }
    wait_for("the lines after the restart stored", LONG, || crate::logs_history::count(&stored(), "GET /after-") == 5);
    watch.signal("TERM");
    let (code, stderr) = watch.wait();
    assert_eq!(code, Some(0), "{stderr}");
    let lines = stored();
    for i in 1..=5 {
        for when in ["before", "after"] {
            assert_eq!(crate::logs_history::count(&lines, &format!("GET /{when}-{i} ")), 1, "{lines:#?}");
        }
    }
    assert_eq!(crate::logs_history::count(&lines, "listening on"), 2, "both starts, once each: {lines:#?}");
}
