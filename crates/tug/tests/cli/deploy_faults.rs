//! Faults during `tug deploy`, against the real Docker Engine and a real `tug proxy`: the deploy
//! SIGKILLed at each phase it journals (found by reading the journal, never by timing), the proxy
//! SIGKILLed mid-deploy and restarted, the proxy upgraded (SIGUSR2) under load, and long-lived streams
//! (SSE, WebSocket) opened on blue before the switch. After each, the next command must leave exactly one
//! version serving, `tug status` in sync and every journal row finished.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::deploy::{Deployed, Load, LONG};
use crate::util::{wait_for, Spawned};

/// One row of the deploy journal (`deploys` in the state DB).
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    kind: String,
    phase: String,
    outcome: Option<String>,
    from_container: Option<String>,
    to_container: Option<String>,
    detail: Option<String>,
}

fn db(d: &Deployed) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(d.fixture.join(".tugboat/state.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// The journal of service `web`, oldest first.
fn journal(d: &Deployed) -> Vec<Row> {
    let conn = db(d);
    let mut stmt = conn
        .prepare(
            "SELECT id, kind, phase, outcome, from_container, to_container, detail FROM deploys \
             WHERE service = 'web' ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            kind: r.get(1)?,
            phase: r.get(2)?,
            outcome: r.get(3)?,
            from_container: r.get(4)?,
            to_container: r.get(5)?,
            detail: r.get(6)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn row(d: &Deployed, id: i64) -> Row {
    journal(d).into_iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no journal row {id}"))
}

/// The killed deploy's row, as the next command left it: finished with `outcome`, saying where it was found.
#[track_caller]
fn assert_resolved(d: &Deployed, killed: &Row, outcome: &str) {
    let now = row(d, killed.id);
    assert_eq!(now.kind, "deploy");
    assert_eq!(now.outcome.as_deref(), Some(outcome), "killed at {}: {now:?}", killed.phase);
    // A deploy resolves it saying where it found it; a rollback says it undid it.
    let detail = match outcome {
        "rolled_back" => "by tug rollback".to_string(),
        _ => format!("found at `{}`", killed.phase),
    };
    assert!(now.detail.as_deref().is_some_and(|t| t.contains(&detail)), "{now:?}");
}

fn last_id(d: &Deployed) -> i64 {
    journal(d).last().map(|r| r.id).unwrap_or(0)
}

/// Waits until the deploy `run` (started after journal row `after`) is at one of `phases`, still
/// running; fails at once, with its stderr, when it ends or its row finishes first.
fn wait_phase(d: &Deployed, run: &mut Spawned, after: i64, phases: &[&str]) -> Row {
    let start = Instant::now();
    loop {
        if let Some(r) = journal(d).into_iter().find(|r| r.id > after) {
            assert!(r.outcome.is_none(), "the deploy finished before reaching {phases:?}: {r:?}");
            if phases.contains(&r.phase.as_str()) {
                return r;
            }
        }
        if let Some(status) = run.child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut e) = run.child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("the deploy exited ({status}) before reaching {phases:?}: {stderr}\n{:#?}", journal(d));
        }
        assert!(start.elapsed() < LONG, "timed out waiting for phase {phases:?}: {:#?}", journal(d));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `kill -KILL` and reap: the process must have died of the signal.
fn sigkill(run: Spawned) {
    let status = Command::new("kill").args(["-KILL", &run.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let (code, stderr) = run.wait();
    assert_eq!(code, None, "not killed by the signal: {stderr}");
}

/// Running containers of service `web`.
fn running(d: &Deployed) -> Vec<String> {
    let prefix = format!("{}-web-", d.project.name);
    d.project
        .containers()
        .into_iter()
        .filter(|(n, s)| n.starts_with(&prefix) && s == "running")
        .map(|(n, _)| n)
        .collect()
}

fn ip(container: &str) -> String {
    let out = crate::runtime_support::docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        container,
    ]);
    out.split_whitespace().next().unwrap_or_else(|| panic!("{container} has no address")).to_string()
}

fn admin(d: &Deployed) -> tugboat_proxy::AdminClient {
    tugboat_proxy::AdminClient::new(d.fixture.join(".tugboat/proxy.sock"))
}

/// The targets of web's route, as `ip:port`.
fn route_targets(d: &Deployed) -> Vec<String> {
    let routes = admin(d).routes().unwrap();
    let web = routes.iter().find(|r| r.service == "web").unwrap_or_else(|| panic!("no route for web: {routes:?}"));
    web.targets.iter().map(|t| t.address.to_string()).collect()
}

/// The state the next command must leave: exactly one running container, the route's only target, that
/// answers `version`; every journal row finished; the deploy lock free; `tug status` in sync.
#[track_caller]
fn assert_consistent(d: &Deployed, version: &str) {
    let live = running(d);
    assert_eq!(live.len(), 1, "exactly one container of web runs: {:?}\n{:#?}", d.project.containers(), journal(d));
    assert_eq!(route_targets(d), [format!("{}:8080", ip(&live[0]))], "the route points at the one running {}", live[0]);
    for _ in 0..5 {
        assert_eq!(d.get().as_deref(), Ok(version));
    }
    let open: Vec<Row> = journal(d).into_iter().filter(|r| r.outcome.is_none()).collect();
    assert!(open.is_empty(), "unfinished journal rows: {open:#?}");
    let locks: i64 = db(d).query_row("SELECT count(*) FROM deploy_locks", [], |r| r.get(0)).unwrap();
    assert_eq!(locks, 0, "the deploy lock is still held");
    let status = d.fixture.tug().arg("status").run();
    status.success();
}

fn spawn_deploy(d: &Deployed, image: &str) -> Spawned {
    d.fixture.tug().args(["deploy", "web", "--image", image]).spawn()
}

/// A Unix socket in front of the Docker Engine that forwards every byte both ways, except the response
/// to `POST …/containers/…/start`: the engine starts the container but the client never hears back, so
/// a `tug deploy` pointed here (`DOCKER_HOST`) sits at phase `starting` with green running, until killed.
struct HoldStart {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    held: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl HoldStart {
    fn start() -> HoldStart {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let (held, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (held2, stop2) = (held.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { return };
                let daemon = UnixStream::connect("/var/run/docker.sock").unwrap();
                let hold = Arc::new(AtomicBool::new(false));
                let (mut from_client, mut to_daemon) = (client.try_clone().unwrap(), daemon.try_clone().unwrap());
                let (hold_c, held_c) = (hold.clone(), held2.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    let mut tail: Vec<u8> = Vec::new();
                    while let Ok(n @ 1..) = from_client.read(&mut buf) {
                        tail.extend_from_slice(&buf[..n]);
                        // Hold the response before the request reaches the engine.
                        if is_start_request(&tail) {
                            hold_c.store(true, Ordering::SeqCst);
                            held_c.store(true, Ordering::SeqCst);
                        }
                        let keep = tail.len().saturating_sub(1024);
                        tail.drain(..keep);
                        if to_daemon.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_daemon.shutdown(std::net::Shutdown::Write);
                });
                let (mut from_daemon, mut to_client, stop_d) = (daemon, client, stop2.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n @ 1..) = from_daemon.read(&mut buf) {
                        while hold.load(Ordering::SeqCst) {
                            if stop_d.load(Ordering::SeqCst) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        if to_client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        HoldStart { _dir: dir, socket, held, stop }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for HoldStart {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stop`.
        let _ = UnixStream::connect(&self.socket);
    }
}

/// Whether the bytes hold a `POST /v…/containers/ID/start` request line.
fn is_start_request(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n").any(|line| {
        line.starts_with("POST ")
            && line.contains("/containers/")
            && line.ends_with(" HTTP/1.1")
            && line.split_whitespace().nth(1).is_some_and(|p| p.split('?').next().unwrap_or("").ends_with("/start"))
    })
}

/// SIGKILL of the deploy at `starting`: green exists and runs, but nothing was switched.
#[test]
fn killed_while_starting_green_the_next_deploy_reverts_it_and_goes_through() {
    let mut d = Deployed::new("1s");
    let hold = HoldStart::start();
    let before = last_id(&d);
    let mut run =
        d.fixture.tug().args(["deploy", "web", "--image", &d.images[1]]).env("DOCKER_HOST", hold.docker_host()).spawn();
    wait_for("the deploy's start request", LONG, || hold.held.load(Ordering::SeqCst));
    let killed = wait_phase(&d, &mut run, before, &["starting"]);
    let green = killed.to_container.clone().expect("green's name is journaled at `starting`");
    wait_for("green running", LONG, || running(&d).contains(&green));
    sigkill(run);
    drop(hold);
    assert_eq!(d.get().as_deref(), Ok("v1"), "blue still serves");

    d.deploy(&d.images[1].clone()).success().stdout_contains("deployed");
    assert_resolved(&d, &killed, "reverted");
    assert!(!d.project.containers().iter().any(|(n, _)| *n == green), "the killed deploy's green is removed");
    assert_consistent(&d, "v2");
}

/// SIGKILL of the deploy during the health gate (a green that would take minutes to pass it).
#[test]
fn killed_during_the_health_gate_the_next_deploy_reverts_the_green() {
    let mut d = Deployed::new("1s");
    // No Docker health check (it would mark green unhealthy and end the gate): only GET /health, which
    // answers 503 for the first 100000 requests.
    let slow = crate::runtime_support::derived_image(
        &format!("tugboat-test/app:{}-v3", d.project.name),
        &[("TESTSERVER_VERSION", "v3"), ("TESTSERVER_HEALTHY_AFTER", "100000")],
        &["HEALTHCHECK NONE"],
    );
    d.images.push(slow.clone());
    let before = last_id(&d);
    let mut run = spawn_deploy(&d, &slow);
    let killed = wait_phase(&d, &mut run, before, &["health"]);
    let green = killed.to_container.clone().unwrap();
    wait_for("green running", LONG, || running(&d).contains(&green));
    sigkill(run);
    assert_eq!(d.get().as_deref(), Ok("v1"), "blue still serves");

    d.deploy(&d.images[1].clone()).success().stdout_contains("deployed");
    assert_resolved(&d, &killed, "reverted");
    assert!(!d.project.containers().iter().any(|(n, _)| *n == green), "the killed deploy's green is removed");
    assert_consistent(&d, "v2");
}

/// SIGKILL while blue drains (an SSE stream on blue holds the drain): the route already points at green.
#[test]
fn killed_while_draining_blue_the_next_deploy_finishes_on_one_version() {
    let mut d = Deployed::new("1s");
    d.fixture.edit("tugboat.yml", |t| t.replace("drain: 5s", "drain: 60s"));
    let mut sse = Sse::open(d.port, 600, 100);
    let before = last_id(&d);
    let mut run = spawn_deploy(&d, &d.images[1]);
    let killed = wait_phase(&d, &mut run, before, &["draining"]);
    sigkill(run);
    assert_eq!(d.get().as_deref(), Ok("v2"), "the switch happened before the drain");
    assert!(sse.next_event().is_some(), "the stream on blue still flows after the kill");
    drop(sse);

    d.fixture.edit("tugboat.yml", |t| t.replace("drain: 60s", "drain: 5s"));
    d.deploy(&d.images[1].clone()).success().stdout_contains("deployed");
    assert_resolved(&d, &killed, "recovered");
    assert_consistent(&d, "v2");
}

/// SIGKILL during the watch window: green serves, blue still runs.
#[test]
fn killed_while_watching_green_the_next_deploy_finishes_on_one_version() {
    let mut d = Deployed::new("1s");
    d.fixture.edit("tugboat.yml", |t| t.replace("watch: 1s", "watch: 20s"));
    let before = last_id(&d);
    let mut run = spawn_deploy(&d, &d.images[1]);
    let killed = wait_phase(&d, &mut run, before, &["watching"]);
    sigkill(run);
    assert_eq!(d.get().as_deref(), Ok("v2"));
    assert_eq!(running(&d).len(), 2, "blue and green both run during the watch window");

    d.fixture.edit("tugboat.yml", |t| t.replace("watch: 20s", "watch: 1s"));
    d.deploy(&d.images[1].clone()).success().stdout_contains("deployed");
    assert_resolved(&d, &killed, "recovered");
    assert_consistent(&d, "v2");
}

/// SIGKILL of the watching deploy, then `tug rollback`: it undoes the killed deploy (back to its blue).
#[test]
fn killed_while_watching_green_a_rollback_resolves_it_and_returns_to_blue() {
    let d = Deployed::new("1s");
    d.fixture.edit("tugboat.yml", |t| t.replace("watch: 1s", "watch: 20s"));
    let before = last_id(&d);
    let mut run = spawn_deploy(&d, &d.images[1]);
    let killed = wait_phase(&d, &mut run, before, &["watching"]);
    sigkill(run);
    d.fixture.edit("tugboat.yml", |t| t.replace("watch: 20s", "watch: 1s"));

    d.fixture.tug().args(["rollback", "web"]).run().success().stdout_contains("rolled back");
    assert_resolved(&d, &killed, "rolled_back");
    assert_consistent(&d, "v1");
}

/// The proxy SIGKILLed during the watch window and restarted: it serves the saved route (green) from its
/// first request; the deploy ends (ok or failed, its row finished); the next deploy leaves one version.
#[test]
fn the_proxy_killed_mid_deploy_restarts_on_its_saved_routes_and_the_next_deploy_is_consistent() {
    let mut d = Deployed::new("1s");
    d.fixture.edit("tugboat.yml", |t| t.replace("watch: 1s", "watch: 20s"));
    let before = last_id(&d);
    let mut run = spawn_deploy(&d, &d.images[1]);
    let watching = wait_phase(&d, &mut run, before, &["watching"]);
    let green = watching.to_container.clone().unwrap();

    sigkill(d.proxy.take().unwrap());
    // Without its proxy the deploy cannot watch green: let it find that out (it ends, or, should it wait
    // for the proxy to come back, it is still running after a generous bound) before the restart.
    let ended_early = {
        let start = Instant::now();
        while run.child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        run.child.try_wait().unwrap().is_some()
    };
    let socket = d.fixture.join(".tugboat/proxy.sock");
    // The killed proxy's socket file stays behind: remove it, so its existence means the new one bound it.
    std::fs::remove_file(&socket).unwrap();
    d.proxy = Some(d.fixture.tug().arg("proxy").spawn());
    wait_for("the restarted proxy's admin socket", LONG, || socket.exists());
    assert_eq!(d.get().as_deref(), Ok("v2"), "the first request after the restart is served from the saved route");
    assert_eq!(route_targets(&d), [format!("{}:8080", ip(&green))]);

    let (code, stderr) = run.wait();
    let ended = row(&d, watching.id);
    // Completed; or failed, saying so, with its row left open for the next command (traffic had moved).
    let left_open = match code {
        Some(0) => {
            assert_eq!(ended.outcome.as_deref(), Some("ok"), "{ended:?}");
            false
        }
        Some(3) => {
            assert!(ended.outcome.is_none(), "left open for the next command: {ended:?}");
            assert!(stderr.contains("resolves it"), "{stderr}");
            true
        }
        other => panic!("the deploy neither completed nor failed cleanly (ended early: {ended_early}): exit {other:?}\n{ended:?}\n{stderr}"),
    };
    assert_eq!(left_open, ended_early, "it fails exactly when it lost its proxy for good: {stderr}");

    d.fixture.edit("tugboat.yml", |t| t.replace("watch: 20s", "watch: 1s"));
    d.deploy(&d.images[1].clone()).success();
    if left_open {
        assert_resolved(&d, &ended, "recovered");
    }
    assert_consistent(&d, "v2");
}

/// SIGUSR2 under load: the new process takes the sockets without a gap, the old one exits 0.
#[test]
fn a_proxy_upgrade_under_load_fails_no_request() {
    let mut d = Deployed::new("1s");
    let load = Load::start(d.port);
    wait_for("load to flow", LONG, || load.requests() > 20);
    let mut old = d.proxy.take().unwrap();
    let old_pid = old.child.id();
    old.signal("USR2");
    let new_pid = std::cell::Cell::new(0);
    wait_for("the new proxy on the admin socket", LONG, || {
        let pid = admin(&d).health().ok().and_then(|h| h["pid"].as_u64()).unwrap_or(0) as u32;
        new_pid.set(pid);
        pid != 0 && pid != old_pid
    });
    d.proxy_pid = Some(new_pid.get());
    // Not `wait_with_output`: the successor inherited the pipes and keeps them open.
    let exit = std::cell::Cell::new(None);
    wait_for("the old proxy to exit", LONG, || {
        exit.set(old.child.try_wait().unwrap());
        exit.get().is_some()
    });
    assert_eq!(exit.get().unwrap().code(), Some(0), "the old proxy exits 0");
    let after = load.requests();
    wait_for("requests through the new proxy", LONG, || load.requests() > after + 50);
    let (ok, failures, versions) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        ok,
        &failures[..failures.len().min(5)]
    );
    assert_eq!(versions, ["v1"]);
    let health = admin(&d).health().unwrap();
    assert_eq!(health["pid"].as_u64(), Some(u64::from(new_pid.get())), "{health}");
    assert_eq!(route_targets(&d).len(), 1);
    // The new proxy is the one a deploy switches.
    d.deploy(&d.images[1].clone()).success();
    assert_eq!(d.get().as_deref(), Ok("v2"));
    assert_eq!(admin(&d).health().unwrap()["pid"].as_u64(), Some(u64::from(new_pid.get())));
}

/// An SSE stream and a WebSocket opened on blue before the switch keep flowing there until they end;
/// the drain waits for both (it is bounded by `drain: 60s`, far longer than they last).
#[test]
fn streams_opened_before_the_switch_flow_on_blue_until_they_end_and_the_drain_waits_for_them() {
    let d = Deployed::new("1s");
    d.fixture.edit("tugboat.yml", |t| t.replace("drain: 5s", "drain: 60s"));
    const EVENTS: u64 = 150;
    let mut sse = Sse::open(d.port, EVENTS, 100);
    assert_eq!(sse.next_event().as_deref(), Some("1"));
    let mut ws = Ws::open(d.port);
    ws.echo("before the switch");

    let before = last_id(&d);
    let mut run = spawn_deploy(&d, &d.images[1]);
    let draining = wait_phase(&d, &mut run, before, &["draining"]);
    let blue = draining.from_container.clone().unwrap();
    let blue_target = format!("{}:8080", ip(&blue));
    assert_eq!(d.get().as_deref(), Ok("v2"), "new requests go to green");
    let received_at_switch = sse.events.len();
    assert!((received_at_switch as u64) < EVENTS, "the stream ended before the switch: make it longer");
    let stats = admin(&d).stats("web").unwrap();
    assert!(
        stats["targets"][&blue_target]["in_flight"].as_u64() >= Some(2),
        "SSE and WebSocket in flight on blue: {stats}"
    );

    // The stream runs to its end on blue, after the switch.
    let events = sse.finish();
    let expected: Vec<String> = (1..=EVENTS).map(|i| i.to_string()).collect();
    assert_eq!(events, expected, "every event, in order, none cut");
    // The WebSocket is still open (it is in flight): the drain goes on.
    for i in 0..3 {
        ws.echo(&format!("after the switch {i}"));
    }
    assert_eq!(row(&d, draining.id).phase, "draining", "the drain waits for the open WebSocket");
    ws.close();
    let closed = Instant::now();
    let (code, stderr) = run.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        closed.elapsed() < Duration::from_secs(30),
        "the drain ended when the streams did, not at its 60s bound ({:?})",
        closed.elapsed()
    );
    let done = row(&d, draining.id);
    assert_eq!((done.phase.as_str(), done.outcome.as_deref()), ("done", Some("ok")), "{done:?}");
    // Both streams were served by blue, none by green.
    let logs = |c: &str| {
        let out = crate::runtime_support::docker_raw(&["logs", c]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (blue_log, green_log) = (logs(&blue), logs(done.to_container.as_deref().unwrap()));
    assert!(blue_log.contains("GET /sse 200") && blue_log.contains("GET /ws 101"), "blue's log:\n{blue_log}");
    assert!(!green_log.contains("/sse") && !green_log.contains("/ws"), "green's log:\n{green_log}");
    assert_consistent(&d, "v2");
}

/// `GET /sse?n=N&every=MS` through the proxy; events are read as they come.
struct Sse {
    stream: TcpStream,
    buffer: String,
    events: Vec<String>,
}

impl Sse {
    fn open(port: u16, n: u64, every_ms: u64) -> Sse {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET /sse?n={n}&every={every_ms} HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut sse = Sse { stream, buffer: String::new(), events: Vec::new() };
        while !sse.buffer.contains("\r\n\r\n") {
            assert!(sse.fill(), "the SSE response head never came");
        }
        let (head, rest) = sse.buffer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.to_ascii_lowercase().contains("text/event-stream"), "{head}");
        sse.buffer = rest.to_string();
        sse
    }

    /// Reads more; false at the end of the stream.
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.buffer.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            Err(e) => panic!("the SSE stream broke after {} events: {e}", self.events.len()),
        }
    }

    /// The next `data:` value (whatever the transfer framing around it), None at the end.
    fn next_event(&mut self) -> Option<String> {
        loop {
            if let Some(start) = self.buffer.find("data: ") {
                if let Some(len) = self.buffer[start..].find("\n\n") {
                    let event = self.buffer[start + 6..start + len].to_string();
                    self.buffer.drain(..start + len + 2);
                    self.events.push(event.clone());
                    return Some(event);
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Every event up to the end of the stream.
    fn finish(mut self) -> Vec<String> {
        while self.next_event().is_some() {}
        self.events
    }
}

/// A WebSocket client through the proxy: masked frames out, short frames in.
struct Ws {
    stream: TcpStream,
}

impl Ws {
    fn open(port: u16) -> Ws {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        write!(
            stream,
            "GET /ws HTTP/1.1\r\nHost: web.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains(&tug_testserver::accept_key(key)), "{head}");
        Ws { stream }
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) {
        assert!(payload.len() < 126);
        let mask = [7u8, 1, 8, 3];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).unwrap();
    }

    fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).unwrap();
        let len = usize::from(head[1] & 0x7f);
        assert!(len < 126 && head[1] & 0x80 == 0, "unexpected frame {head:?}");
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).unwrap();
        (head[0] & 0x0f, payload)
    }

    fn echo(&mut self, text: &str) {
        self.send(0x1, text.as_bytes());
        assert_eq!(self.recv(), (0x1, text.as_bytes().to_vec()), "the echo of {text:?}");
    }

    /// A clean close: ours, the server's, then the connection (as a browser does).
    fn close(mut self) {
        self.send(0x8, &1000u16.to_be_bytes());
        assert_eq!(self.recv(), (0x8, 1000u16.to_be_bytes().to_vec()));
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
    }
}
