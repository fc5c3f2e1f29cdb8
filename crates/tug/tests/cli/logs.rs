//! `tug logs` against the real Docker Engine: a two-service stack of the project's own test image, each
//! container printing known lines at start (`tug-testserver --print…`): lines merged by time with their
//! `service-N |` prefix, --grep, --tail, --since/--until, a line longer than Docker's 16 KiB pieces back
//! whole, a .env secret masked, --json, an unknown service, -f and Ctrl-C, and a recreated container.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::runtime_support::{test_image, Project};
use crate::util::{wait_for, Fixture, Run};

const LONG: Duration = Duration::from_secs(120);
pub(crate) const SECRET: &str = "tok-9f8e7d6c5b4a";
/// Longer than two of Docker's 16 KiB pieces: comes back in three log entries.
const LONG_LINE: usize = 40_000;

/// No healthchecks: the logs hold only the start lines, so every read sees the same lines.
pub(crate) fn stack(project: &Project, port: u16) -> Fixture {
    let f = Fixture::new();
    let compose = format!(
        "name: {name}
services:
  alpha:
    image: {image}
    command: [\"--print\", \"alpha says hello\", \"--print-stderr\", \"alpha warns\", \"--print-bytes\", \"{LONG_LINE}\"]
    healthcheck: {{ disable: true }}
  beta:
    image: {image}
    command: [\"--print\", \"beta token=${{API_TOKEN}}\"]
    healthcheck: {{ disable: true }}
    depends_on: [alpha]
    ports: [\"127.0.0.1:{port}:8080\"]
",
        name = project.name,
        image = test_image()
    );
    f.write("compose.yml", &compose);
    f.write(".env", &format!("API_TOKEN={SECRET}\n"));
    f
}

fn logs(f: &Fixture, args: &[&str]) -> Run {
    f.tug().arg("logs").args(args).run()
}

fn json_lines(run: &Run) -> Vec<Value> {
    run.success();
    run.stdout().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn nanos(line: &Value) -> i128 {
    let time = line["time"].as_str().unwrap_or_else(|| panic!("no time: {line}"));
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{time}: {e}"))
        .unix_timestamp_nanos()
}

fn up(f: &Fixture) {
    f.tug().args(["up", "--wait"]).run().success();
}

#[test]
fn logs_of_a_real_stack_are_merged_filtered_whole_and_masked() {
    let p = Project::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let f = stack(&p, port);
    up(&f);
    wait_for("both containers' start lines", LONG, || {
        let out = logs(&f, &[]).stdout();
        out.contains("alpha-1 | listening on") && out.contains("beta-1  | listening on")
    });

    // Human output: both services, prefixed and padded; the secret masked; stderr included.
    let all = logs(&f, &[]);
    all.success()
        .stdout_contains("alpha-1 | alpha says hello\n")
        .stdout_contains("alpha-1 | alpha warns\n")
        .stdout_contains("beta-1  | beta token=***\n")
        .stdout_lacks(SECRET);

    // --json: one object per line, in time order across the containers.
    let lines = json_lines(&logs(&f, &["--json"]));
    assert_eq!(lines.len(), all.stdout().lines().count());
    let times: Vec<i128> = lines.iter().map(nanos).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order: {lines:#?}");
    let hello = lines.iter().find(|l| l["line"] == "alpha says hello").expect("alpha's line");
    assert_eq!((&hello["service"], &hello["stream"]), (&Value::from("alpha"), &Value::from("stdout")));
    assert_eq!(hello["container"], format!("{}-alpha-1", p.name));
    let warns = lines.iter().find(|l| l["line"] == "alpha warns").expect("alpha's stderr line");
    assert_eq!(warns["stream"], "stderr");
    for l in &lines {
        assert!(!l.to_string().contains(SECRET), "secret in {l}");
    }

    // The long line comes back whole, byte for byte.
    let long = tug_testserver::pattern_line(LONG_LINE);
    assert_eq!(lines.iter().filter(|l| l["line"] == long.as_str()).count(), 1, "the {LONG_LINE}-byte line");

    // --grep on the masked text: a search for the secret finds nothing.
    // (The two lines are written at once to stdout and stderr; the engine's timestamps may order them either way.)
    let grep = logs(&f, &["--grep", "says|warns"]).stdout();
    let mut found: Vec<&str> = grep.lines().collect();
    found.sort_unstable();
    assert_eq!(found, ["alpha-1 | alpha says hello", "alpha-1 | alpha warns"]);
    assert_eq!(logs(&f, &["--grep", SECRET]).success().stdout(), "");

    // --tail per container, and a service selected by name.
    let tail = json_lines(&logs(&f, &["--tail", "1", "--json"]));
    assert_eq!(tail.len(), 2, "{tail:#?}");
    for t in &tail {
        let last = lines.iter().rfind(|l| l["container"] == t["container"]).unwrap();
        assert_eq!(t, last);
    }
    let beta = json_lines(&logs(&f, &["beta", "--json"]));
    assert!(!beta.is_empty() && beta.iter().all(|l| l["service"] == "beta"));

    // --since / --until: RFC 3339 bounds (read to the millisecond), and a duration back from now.
    let at = beta[0]["time"].as_str().unwrap();
    let from_ms = nanos(&beta[0]).div_euclid(1_000_000) * 1_000_000;
    let since = json_lines(&logs(&f, &["--since", at, "--json"]));
    assert_eq!(since, lines.iter().filter(|l| nanos(l) >= from_ms).cloned().collect::<Vec<_>>());
    let until = json_lines(&logs(&f, &["--until", at, "--json"]));
    let to_ms = from_ms + 1_000_000;
    assert_eq!(until, lines.iter().filter(|l| nanos(l) < to_ms).cloned().collect::<Vec<_>>());
    assert_eq!(json_lines(&logs(&f, &["--since", "1h", "--json"])), lines);

    // Bad usage: an unknown service names the services there are; a bad time or regex says what it wants.
    logs(&f, &["gamma"]).failure(2).stderr_contains("no service `gamma` in this stack; its services: alpha, beta");
    logs(&f, &["--since", "yesterday"]).failure(2).stderr_contains("--since \"yesterday\"");
    logs(&f, &["--grep", "("]).failure(2).stderr_contains("--grep");
    let unreachable = f.tug().arg("logs").env("DOCKER_HOST", "unix:///nonexistent/docker.sock").run();
    unreachable.failure(3).stderr_contains("cannot reach the Docker Engine");
}

/// The lines of a spawned `tug logs -f`, read on a thread so the test can wait on them with a deadline.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[track_caller]
fn wait_for_line(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, needle: &str) {
    let deadline = Instant::now() + LONG;
    while !seen.iter().any(|l| l.contains(needle)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line with {needle:?} ({e}); got {seen:#?}"),
        }
    }
}

pub(crate) fn get(port: u16, path: &str) {
    get_at(&format!("127.0.0.1:{port}"), path);
}

/// A request to the test server at `addr` (`ip:port`), read to its end: the server has logged it.
pub(crate) fn get_at(addr: &str, path: &str) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
}

/// `-f` prints a line written after it started; Ctrl-C ends it with exit 0, as `tug watch` stops: following
/// until interrupted is the command's normal end, not an operation cut short. A recreated container's log
/// is gone (the engine removes it with the container; `docker compose logs` loses it the same way):
/// history across recreations comes with the collector in `tug watch`.
#[test]
fn follow_shows_new_lines_until_ctrl_c_and_a_recreated_container_starts_afresh() {
    let p = Project::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let f = stack(&p, port);
    up(&f);

    let mut follow = f.tug().args(["logs", "-f", "beta"]).spawn();
    let rx = lines_of(&mut follow.child);
    let mut seen = Vec::new();
    // The start line proves the stream is attached; what comes after it is followed, not history.
    wait_for_line(&rx, &mut seen, "listening on");
    get(port, "/after-follow");
    wait_for_line(&rx, &mut seen, "GET /after-follow 404");
    assert!(seen.iter().all(|l| l.starts_with("beta-1 | ")), "{seen:#?}");
    follow.signal("INT");
    let (code, stderr) = follow.wait();
    assert_eq!(code, Some(0), "{stderr}");

    f.tug().args(["up", "--force-recreate", "--wait", "beta"]).run().success();
    wait_for("the new beta's start line", LONG, || logs(&f, &["beta"]).stdout().contains("listening on"));
    logs(&f, &["beta"]).success().stdout_lacks("/after-follow");
}
