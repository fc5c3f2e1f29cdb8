//! Blue-green deploys against the real Docker Engine and a real `tug proxy`: versions of the test server
//! (images built FROM the workspace's test image with another `TESTSERVER_*` environment), continuous
//! load through the proxy while `tug deploy` switches, and the failure paths — a green that never gets
//! healthy, one that fails after the switch, two deploys at once, a rollback.

use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::runtime_support::{derived_image, Project};
use crate::util::{audit_events, failed_reason, wait_for, Fixture, Spawned};

pub(crate) const LONG: Duration = Duration::from_secs(120);

/// An image FROM the test image with `env` (`TESTSERVER_VERSION=v2`, …), tagged `reference`.
pub(crate) fn version_image(reference: &str, env: &[(&str, &str)]) -> String {
    derived_image(reference, env, &[])
}

/// A stack with one HTTP service behind `tug proxy`, up and proxied, and its versions' images.
pub(crate) struct Deployed {
    pub(crate) project: Project,
    pub(crate) fixture: Fixture,
    pub(crate) proxy: Option<Spawned>,
    /// A proxy this test started other than through `proxy` (the successor of an upgrade): stopped on drop.
    pub(crate) proxy_pid: Option<u32>,
    pub(crate) port: u16,
    pub(crate) images: Vec<String>,
}

impl Deployed {
    pub(crate) fn new(watch: &str) -> Deployed {
        let project = Project::new();
        let v = |n: &str| format!("tugboat-test/app:{}-{n}", project.name);
        let images = vec![
            version_image(&v("v1"), &[("TESTSERVER_VERSION", "v1")]),
            version_image(&v("v2"), &[("TESTSERVER_VERSION", "v2")]),
        ];
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let fixture = Fixture::new();
        fixture.write("compose.yml", &format!("name: {}\nservices:\n  web:\n    image: {}\n", project.name, images[0]));
        fixture.write(
            "tugboat.yml",
            &format!(
                "proxy: {{ listen: [\"127.0.0.1:{port}\"], access_log: off }}
deploy:
  web:
    host: web.test
    port: 8080
    health: {{ path: /health, interval: 200ms, timeout: 60s }}
    drain: 5s
    watch: {watch}
"
            ),
        );
        fixture.tug().arg("up").run().success();
        let proxy = fixture.tug().arg("proxy").spawn();
        let socket = fixture.join(".tugboat/proxy.sock");
        wait_for("the proxy's admin socket", LONG, || socket.exists());
        let mut d = Deployed { project, fixture, proxy: Some(proxy), proxy_pid: None, port, images };
        // The first deploy puts the running v1 behind the proxy.
        d.deploy(&d.images[0].clone()).success();
        d
    }

    pub(crate) fn deploy(&mut self, image: &str) -> crate::util::Run {
        self.fixture.tug().args(["deploy", "web", "--image", image]).run()
    }

    /// GET / through the proxy: the version that answered, or the error.
    pub(crate) fn get(&self) -> Result<String, String> {
        get_version(self.port)
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.signal("TERM");
            let _ = p.wait();
        }
        if let Some(pid) = self.proxy_pid.take() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        drop(self.fixture.tug().args(["down"]).run());
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

pub(crate) fn get_version(port: u16) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(s, "GET / HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    if !body.starts_with("HTTP/1.1 200") {
        return Err(body.lines().next().unwrap_or("").to_string());
    }
    let version = body.split("\"version\": \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
    Ok(version.to_string())
}

/// Continuous, bounded load through the proxy: two clients in a loop until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    versions: Arc<Mutex<std::collections::BTreeSet<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let versions = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let threads = (0..2)
            .map(|_| {
                let (stop, ok, failures, versions) = (stop.clone(), ok.clone(), failures.clone(), versions.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match get_version(port) {
                            Ok(v) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                versions.lock().unwrap().insert(v);
                            }
                            Err(e) => failures.lock().unwrap().push(e),
                        }
                    }
                })
            })
            .collect();
        Load { stop, ok, failures, versions, threads }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub(crate) fn finish(self) -> (u64, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let versions = self.versions.lock().unwrap().iter().cloned().collect();
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures, versions)
    }
}

#[test]
fn deploys_under_load_drop_no_request_and_roll_back_to_the_previous_version() {
    let mut d = Deployed::new("1s");
    assert_eq!(d.get().as_deref(), Ok("v1"));
    let load = Load::start(d.port);
    wait_for("load to flow", LONG, || load.requests() > 20);
    for image in [d.images[1].clone(), d.images[0].clone(), d.images[1].clone()] {
        let before = load.requests();
        d.deploy(&image).success().stdout_contains("deployed");
        wait_for("requests after the switch", LONG, || load.requests() > before + 20);
    }
    let (ok, failures, versions) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        ok + failures.len() as u64,
        &failures[..failures.len().min(5)]
    );
    assert_eq!(versions, ["v1", "v2"]);
    assert_eq!(d.get().as_deref(), Ok("v2"));

    // Rollback: back to the version the last deploy replaced, and `tug status` agrees with what runs.
    d.fixture.tug().args(["rollback", "web"]).run().success().stdout_contains("rolled back");
    assert_eq!(d.get().as_deref(), Ok("v1"));
    d.fixture.tug().arg("status").run().success();
    let events = audit_events(|| d.fixture.tug());
    let deploys: Vec<&serde_json::Value> = events.iter().filter(|e| e["command"] == "deploy").collect();
    assert_eq!(deploys.len(), 4, "{events:#?}");
    assert!(deploys.iter().all(|e| e["outcome"] == "ok"));
    assert_eq!(deploys[1]["params"]["to"], d.images[1]);
    assert_eq!(events.last().unwrap()["command"], "rollback");
}

#[test]
fn a_green_that_never_gets_healthy_gets_no_traffic_and_blue_keeps_serving() {
    let mut d = Deployed::new("1s");
    let broken = version_image(
        &format!("tugboat-test/app:{}-v3", d.project.name),
        &[("TESTSERVER_VERSION", "v3"), ("TESTSERVER_UNHEALTHY", "true")],
    );
    d.images.push(broken.clone());
    d.fixture.edit("tugboat.yml", |t| t.replace("timeout: 60s", "timeout: 3s"));
    let load = Load::start(d.port);
    wait_for("load to flow", LONG, || load.requests() > 20);
    let run = d.deploy(&broken);
    run.failure(3).stderr_contains("did not become healthy").stderr_contains("blue still serves");
    let (_, failures, versions) = load.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(versions, ["v1"], "v3 must never answer");
    let last = audit_events(|| d.fixture.tug()).pop().unwrap();
    assert!(failed_reason(&last).contains("did not become healthy"), "{last:#}");
    // The failed green is gone; v1 is the one container and status is in sync.
    d.fixture.tug().arg("status").run().success();
}

#[test]
fn a_green_that_fails_after_the_switch_is_rolled_back_automatically() {
    let mut d = Deployed::new("20s");
    // Healthy at first, then every request fails.
    let flaky = version_image(
        &format!("tugboat-test/app:{}-v4", d.project.name),
        &[("TESTSERVER_VERSION", "v4"), ("TESTSERVER_FAIL_AFTER", "40")],
    );
    d.images.push(flaky.clone());
    let load = Load::start(d.port);
    wait_for("load to flow", LONG, || load.requests() > 20);
    let run = d.deploy(&flaky);
    run.failure(1).stdout_contains("rolled back");
    let (_, _, versions) = load.finish();
    assert!(versions.contains(&"v1".to_string()));
    assert_eq!(d.get().as_deref(), Ok("v1"), "traffic is back on blue");
    let last = audit_events(|| d.fixture.tug()).pop().unwrap();
    assert!(failed_reason(&last).contains("rolled back"), "{last:#}");
}

#[test]
fn a_second_deploy_while_one_runs_is_refused_naming_the_owner() {
    let mut d = Deployed::new("1s");
    // A green that never gets healthy: the first deploy holds the lock until it is stopped.
    let stuck = version_image(
        &format!("tugboat-test/app:{}-v5", d.project.name),
        &[("TESTSERVER_VERSION", "v5"), ("TESTSERVER_UNHEALTHY", "true")],
    );
    d.images.push(stuck.clone());
    let first = d.fixture.tug().args(["deploy", "web", "--image", &stuck]).spawn();
    // up's container (kept), the first deploy's (live), and now the stuck green.
    let prefix = format!("{}-web-", d.project.name);
    wait_for("the first deploy's green", LONG, || {
        d.project.containers().iter().filter(|(n, _)| n.starts_with(&prefix)).count() >= 3
    });
    let second = d.deploy(&d.images[1].clone());
    second.failure(3).stderr_contains("another deploy of stack").stderr_contains(&format!("pid {}", first.child.id()));
    first.signal("INT");
    let (code, stderr) = first.wait();
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(d.get().as_deref(), Ok("v1"), "the stuck green never served");
    // The interrupted deploy is resolved by the next one, which goes through.
    d.deploy(&d.images[1].clone()).success();
    assert_eq!(d.get().as_deref(), Ok("v2"));
    let journal = audit_events(|| d.fixture.tug());
    assert!(journal.iter().any(|e| e["command"] == "deploy" && e["outcome"] == "interrupted"), "{journal:#?}");
}
