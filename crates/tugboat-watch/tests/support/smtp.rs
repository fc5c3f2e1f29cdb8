//! A real SMTP server: PyPI `aiosmtpd` running `smtp_sink.py`, which writes each message it accepts to a
//! file. It can be stopped (the port then refuses connections: "SMTP is down"), started again on the
//! same port, told to refuse messages with `451`, and asked to require AUTH or offer STARTTLS.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use super::TestCert;

// Relative to this file, so the CLI tests (another crate) can include the module too.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tugboat-watch/tests/support/smtp_sink.py");
const INSTALL: &str = "install aiosmtpd: python3 -m pip install aiosmtpd";

/// How the server is set up.
#[derive(Default, Clone)]
pub struct SmtpOptions {
    /// Require AUTH (PLAIN or LOGIN, offered without TLS too) with this user and password.
    pub auth: Option<(String, String)>,
    /// Offer STARTTLS with this certificate (its CA is `cert.ca_pem`).
    pub starttls: Option<TestCert>,
}

/// A running `aiosmtpd` on 127.0.0.1 that keeps every message it receives.
pub struct SmtpSink {
    dir: tempfile::TempDir,
    port: u16,
    options: SmtpOptions,
    /// The server and the pipe whose closing tells it to exit (it never outlives this process).
    process: Option<(Child, ChildStdin)>,
}

impl SmtpSink {
    /// Starts a server without TLS or AUTH on a free port.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(SmtpOptions::default())
    }

    pub fn start_with(options: SmtpOptions) -> SmtpSink {
        let dir = tempfile::Builder::new().prefix("tug-smtp-sink-").tempdir().expect("temp dir");
        let mut sink = SmtpSink { dir, port: 0, options, process: None };
        if let Err(e) = sink.spawn() {
            panic!("{e}");
        }
        sink
    }

    /// Starts the server on `self.port` (0: a free one); the server log when it does not come up.
    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("python3");
        cmd.arg(SCRIPT).arg("--dir").arg(self.messages_dir()).arg("--port").arg(self.port.to_string());
        if let Some((user, password)) = &self.options.auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        if let Some(cert) = &self.options.starttls {
            let (c, k) = (self.dir.path().join("cert.pem"), self.dir.path().join("key.pem"));
            std::fs::write(&c, &cert.cert_pem).expect("write cert.pem");
            std::fs::write(&k, &cert.key_pem).expect("write key.pem");
            cmd.arg("--cert").arg(c).arg("--key").arg(k);
        }
        let log = std::fs::File::create(self.log_path()).expect("smtp log");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {INSTALL}"));
        let stdin = child.stdin.take().expect("stdin");
        let mut first = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first);
        let Some(port) = first.strip_prefix("LISTENING ").and_then(|p| p.trim().parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if log.contains("install aiosmtpd") || log.contains("No module named 'aiosmtpd'") {
                panic!("{INSTALL}");
            }
            return Err(format!("the SMTP sink did not start (port {}):\n{log}", self.port));
        };
        self.port = port;
        self.process = Some((child, stdin));
        Ok(())
    }

    fn messages_dir(&self) -> PathBuf {
        let d = self.dir.path().join("messages");
        std::fs::create_dir_all(&d).expect("messages dir");
        d
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server: connections to its port are refused until [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.process.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, keeping the messages received so far.
    pub fn restart(&mut self) {
        if self.process.is_none() {
            let start = std::time::Instant::now();
            // The old socket may linger a moment; retry briefly before calling the port lost.
            while let Err(e) = self.spawn() {
                if start.elapsed() > Duration::from_secs(5) {
                    panic!("{e}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Makes the server answer every message with `451` (a temporary failure) while `on`.
    pub fn set_reject(&self, on: bool) {
        let flag = self.dir.path().join("messages").join("reject");
        if on {
            std::fs::write(flag, "").expect("reject flag");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// The messages received so far, oldest first: two envelope lines (`X-Sink-Mail-From:`,
    /// `X-Sink-Rcpt-To:`), then the message as sent.
    pub fn messages(&self) -> Vec<String> {
        read_messages(&self.messages_dir())
    }

    /// Waits until at least `n` messages arrived; panics listing what did after `timeout`.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        super::wait_until(
            timeout,
            &format!("{n} e-mails at the SMTP sink on port {}", self.port),
            || Some(self.messages()).filter(|m| m.len() >= n),
            || {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                format!("received: {:#?}\nserver log:\n{log}", self.messages())
            },
        )
    }
}

fn read_messages(dir: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    names.sort();
    names.iter().filter_map(|p| std::fs::read(p).ok()).map(|b| String::from_utf8_lossy(&b).into_owned()).collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
