//! Real components for tugboat-watch's integration tests: an SMTP server, a webhook receiver, an HTTP
//! target whose answers change at runtime, a TLS server with a short-lived certificate, a DNS server, a
//! Docker container, and a temporary stack directory to load `checks:` from.
//!
//! Use it from a test file with `mod support;`. Everything listens on 127.0.0.1 on a free port, lives as
//! long as its value, and is stopped (processes killed, threads told to finish, directories removed)
//! when dropped. A missing tool is a test failure that says what to install, never a silent skip.
//!
//! Nothing here sleeps to make an assertion come true: waiting is polling for a state with a generous
//! limit ([`wait_until`]), and the limit only bounds a hang.

#![allow(dead_code)] // each test binary uses its own part of the module
#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken harness should stop the test loudly

mod dns;
mod docker;
mod http;
mod smtp;
mod stack;
mod tls;

use std::time::{Duration, Instant};

// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use dns::Dnsmasq;
#[allow(unused_imports)]
pub use docker::TestContainer;
#[allow(unused_imports)]
pub use http::{HttpTarget, Request, Response, WebhookReceiver};
#[allow(unused_imports)]
pub use smtp::{SmtpOptions, SmtpSink};
#[allow(unused_imports)]
pub use stack::StackDir;
#[allow(unused_imports)]
pub use tls::{TestCert, TlsServer};

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Polls `probe` every 20 ms until it returns `Some`, or panics after `timeout` naming `what` and the
/// last state `describe` gives.
#[track_caller]
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("waited {timeout:?} for {what}; {}", describe());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted now.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok()
}
