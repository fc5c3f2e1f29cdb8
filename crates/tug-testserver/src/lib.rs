//! A tiny HTTP server for tug's runtime and deploy tests. It runs as PID 1 in a `FROM scratch` image
//! (a static binary that needs nothing from the filesystem), so it handles SIGTERM itself.
//!
//! - `GET /` -> 200 `{"version": …, "hostname": …, "env": {APP_* vars}}`
//! - `GET /health` -> 200 `ok`, or 503 with `--unhealthy` / for the first N with `--healthy-after N`
//! - `--slow MS` delays every response; `--exit-after MS` exits on its own (with `--exit-code`, default 0);
//!   `--exit-code CODE` alone exits at once; `--ignore-sigterm` to test grace periods
//! - `GET /status/CODE` -> that status; `GET /headers` -> the request headers as JSON (proxy tests)
//! - `GET /sse?n=N&every=MS` -> `text/event-stream`: N events (`data: I`), each flushed, MS apart
//! - `GET /ws` -> a WebSocket (RFC 6455) that echoes text/binary frames and answers pings
//! - `--fail-after N` answers 500 to every request after the first N (deploy rollback tests)
//! - `--print TEXT`, `--print-stderr TEXT`, `--print-bytes N` write a line at start (to stdout, to
//!   stderr, and [`pattern_line`]`(N)` to stdout): known lines for `tug logs` tests
//! - `tug-testserver health [--url …]`: the HEALTHCHECK command
//!
//! Every flag is also read from `TESTSERVER_<FLAG>` (e.g. `TESTSERVER_VERSION`); flags win.
//! [`build_static_binary`] / [`write_image_context`] are for tests that need the image.

mod args;
mod health;
mod image;
mod server;
mod ws;

pub use args::{parse_args, Command, Config, DEFAULT_HEALTH_URL, USAGE};
pub use health::{get_status, health_command};
pub use image::{build_static_binary, workspace_root, write_image_context, DOCKERFILE, TARGET};
pub use server::{root_json, Server};
pub use ws::accept_key;

/// A line of `n` bytes (no newline) anyone can rebuild: `0123456789ABCDEF…Z` repeated.
pub fn pattern_line(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..n).map(|i| char::from(ALPHABET[i % ALPHABET.len()])).collect()
}

#[cfg(test)]
mod tests;
