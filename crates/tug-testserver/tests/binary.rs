//! The binary itself: signals, exit codes, request logs; and the static build used for images.

// Test helpers outside #[test] fns: clippy's allow-unwrap-in-tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// A running server with its stdout lines arriving on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Running {
    fn start(binary: &Path, args: &[&str]) -> Running {
        // No environment: as in a scratch container, and no stray TESTSERVER_* from the caller.
        let mut child = Command::new(binary)
            .env_clear()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = spawn_reader(child.stdout.take().unwrap());
        let first = lines.recv_timeout(DEADLINE).unwrap();
        let addr = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}"));
        Running { addr: addr.parse().unwrap(), child, lines }
    }

    /// Waits for a stdout line equal to `want`.
    fn wait_line(&self, want: &str) {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(_) => continue,
                Err(e) => panic!("no line {want:?}: {e}"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_reader(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < until, "process {} did not exit", child.id());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tug-testserver"))
}

#[test]
fn sigterm_exits_zero_and_requests_are_logged() {
    let mut server = Running::start(binary(), &["--version", "v3"]);
    assert!(get(server.addr, "/").contains("\"version\": \"v3\""));
    server.wait_line("GET / 200");
    assert!(get(server.addr, "/health").ends_with("\r\n\r\nok"));
    server.wait_line("GET /health 200");
    server.signal("TERM");
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn sigint_exits_zero() {
    let mut server = Running::start(binary(), &[]);
    server.signal("INT");
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn ignore_sigterm_keeps_serving() {
    let mut server = Running::start(binary(), &["--ignore-sigterm"]);
    server.signal("TERM");
    server.wait_line("ignoring SIGTERM");
    assert!(get(server.addr, "/health").ends_with("ok"));
    assert_eq!(server.child.try_wait().unwrap(), None);
    // SIGINT still stops it.
    server.signal("INT");
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn exit_code_and_exit_after() {
    let mut child = Command::new(binary()).args(["--exit-code", "3"]).stdout(Stdio::null()).spawn().unwrap();
    assert_eq!(wait_exit(&mut child).code(), Some(3));
    let mut child = Command::new(binary()).env("TESTSERVER_EXIT_CODE", "0").stdout(Stdio::null()).spawn().unwrap();
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    let mut server = Running::start(binary(), &["--exit-after", "300", "--exit-code", "4"]);
    assert_eq!(server.wait_exit().code(), Some(4));
    let mut server = Running::start(binary(), &["--exit-after", "100"]);
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn health_subcommand_exit_codes() {
    let server = Running::start(binary(), &["--healthy-after", "1"]);
    let url = format!("http://{}/health", server.addr);
    let health = || Command::new(binary()).args(["health", "--url", &url]).stderr(Stdio::null()).status().unwrap();
    assert_eq!(health().code(), Some(1));
    assert_eq!(health().code(), Some(0));
    let usage = Command::new(binary()).arg("--bogus").stderr(Stdio::null()).status().unwrap();
    assert_eq!(usage.code(), Some(2));
}

/// The image's binary: statically linked (runs in `FROM scratch`), and it works.
#[test]
fn static_binary_is_static_and_runs() {
    let binary = tug_testserver::build_static_binary().unwrap_or_else(|e| panic!("{e}"));
    let file = Command::new("file").arg(&binary).output().unwrap();
    let file = String::from_utf8_lossy(&file.stdout);
    assert!(file.contains("statically linked") || file.contains("static-pie linked"), "{file}");
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).to_string() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(ldd.contains("not a dynamic executable") || ldd.contains("statically linked"), "{ldd}");
    let mut server = Running::start(&binary, &[]);
    assert!(get(server.addr, "/health").ends_with("ok"));
    server.signal("TERM");
    assert_eq!(server.wait_exit().code(), Some(0));

    let dir = std::env::temp_dir().join(format!("tug-testserver-context-{}", std::process::id()));
    tug_testserver::write_image_context(&dir).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("Dockerfile")).unwrap(), tug_testserver::DOCKERFILE);
    assert_eq!(std::fs::metadata(dir.join("tug-testserver")).unwrap().len(), std::fs::metadata(&binary).unwrap().len());
    std::fs::remove_dir_all(&dir).unwrap();
}
