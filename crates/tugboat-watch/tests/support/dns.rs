//! A real DNS server: Debian's `dnsmasq` on a free UDP port of 127.0.0.1, authoritative for
//! `tugboat.test` (nothing is forwarded anywhere), with these records:
//!
//! | name                   | type | answer                     |
//! |------------------------|------|----------------------------|
//! | `db.tugboat.test`      | A    | `10.1.2.3`                 |
//! | `both.tugboat.test`    | A    | `10.9.8.7`                 |
//! | `both.tugboat.test`    | AAAA | `fd00::7`                  |
//! | `txt.tugboat.test`     | TXT  | `v=spf1 -all`              |
//! | `tugboat.test`         | MX   | `10 mail.tugboat.test`     |
//! | any other `*.tugboat.test` |  | NXDOMAIN                   |
//!
//! Names outside `tugboat.test` are answered `REFUSED` (no upstream servers).

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

pub struct Dnsmasq {
    port: u16,
    dir: tempfile::TempDir,
    /// `sh` running dnsmasq; closing its stdin makes it kill dnsmasq (so dnsmasq never outlives us).
    process: Option<(Child, ChildStdin)>,
}

impl Dnsmasq {
    /// Starts dnsmasq with the records above; returns once it answers.
    pub fn start() -> Dnsmasq {
        Dnsmasq::start_with(&[])
    }

    /// Like [`start`](Self::start), with more dnsmasq options (`--address=/x.tugboat.test/10.0.0.9` …).
    pub fn start_with(extra: &[&str]) -> Dnsmasq {
        if !std::path::Path::new(DNSMASQ).exists() {
            panic!("{DNSMASQ} is missing: install dnsmasq-base (apt-get install dnsmasq-base)");
        }
        let dir = tempfile::Builder::new().prefix("tug-dnsmasq-").tempdir().expect("temp dir");
        let mut server = Dnsmasq { port: 0, dir, process: None };
        let mut last = String::new();
        for _ in 0..5 {
            match server.spawn(extra) {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("dnsmasq did not start: {last}");
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("dnsmasq.log")
    }

    fn spawn(&mut self, extra: &[&str]) -> Result<(), String> {
        self.port = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map_err(|e| e.to_string())?.port();
        let log = self.log_path();
        let mut args: Vec<String> = [
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            // Stay the user we are (dnsmasq started as root would switch to `nobody`).
            "--user=root",
            "--pid-file=",
            "--local=/tugboat.test/",
            "--address=/db.tugboat.test/10.1.2.3",
            "--host-record=both.tugboat.test,10.9.8.7,fd00::7",
            "--txt-record=txt.tugboat.test,v=spf1 -all",
            "--mx-host=tugboat.test,mail.tugboat.test,10",
            "--log-queries",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--port={}", self.port));
        args.push(format!("--log-facility={}", log.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        // Non-interactive sh gives the background job /dev/null as stdin; `cat` holds ours until it closes.
        let script = format!("{DNSMASQ} \"$@\" & pid=$!; cat >/dev/null; kill $pid; wait $pid");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("stderr.log")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        self.process = Some((child, stdin));
        // Ready when it answers; a port taken meanwhile makes dnsmasq exit with a message.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if query(self.port, "db.tugboat.test").is_some() {
                return Ok(());
            }
            let stderr = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
            if stderr.contains("dnsmasq:") {
                self.stop();
                let _ = std::fs::remove_file(self.dir.path().join("stderr.log"));
                return Err(stderr);
            }
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        self.stop();
        Err(format!("no answer on 127.0.0.1:{} within 10 s; log:\n{log}", self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `dns.server`.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The query log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.process.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One A query for `name`; the rcode of the answer, or `None` when none came within 200 ms.
fn query(port: u16, name: &str) -> Option<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&q, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).ok()?;
    (n >= 12 && buf[..2] == [0x12, 0x34]).then_some(buf[3] & 0x0f)
}
