//! restic's REST protocol (v2), as served by restic's rest-server, over ureq (which the engine already builds).
//!
//! rustic_backend's own REST backend (reqwest + tokio + hyper + aws-lc) costs about 1.5 minutes more to build on two cores
//! and uploads with chunked transfer encoding, which some REST servers (pyrestserver) reject; this one sends a
//! Content-Length, retries transport errors and 5xx answers with backoff (as restic does), and also serves `locks/`,
//! which rustic_core's backend trait has no file type for. Credentials in the URL (`http://user:pass@host/…`) become
//! Basic auth.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rustic_core::{BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend};

use crate::lock::LockStore;

/// In the error of a request that used up its retries: the repository, not the source, is what failed.
pub(crate) const GAVE_UP: &str = "gave up on the repository";
/// Attempts after the first for a transient failure, with growing pauses (as restic does).
const RETRIES: u32 = 5;
/// How long one read or write on the connection may make no progress. A server that stops answering without a reset
/// (its link dropped, packets blackholed) would otherwise keep a request waiting until the global timeout; a slow
/// but moving transfer is never cut, since every byte restarts the clock.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The time to open a connection (the TCP handshake: a reachable server answers within a SYN retransmit or two).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct RestBackend {
    agent: ureq::Agent,
    /// `http://host:port/path/`
    base: String,
    /// The base for messages: `rest:http://user:***@host/path/`.
    shown: String,
    auth: Option<String>,
    /// Set when a request used up its retries on transient failures, cleared by any answer: while the server is
    /// failing, later requests (the cleanup after a failed backup: index, lock removal) try once, so a dead
    /// link costs one retry series, not one per request.
    failing: AtomicBool,
}

impl std::fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestBackend").field("url", &self.shown).finish_non_exhaustive()
    }
}

/// Why a request failed: worth retrying or not.
enum Failure {
    Transient(String),
    Permanent(u16, String),
}

/// Splits `scheme://user:pass@host/path` into the URL without credentials and a Basic auth header value.
fn split_credentials(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), None) };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return (url.to_string(), None) };
    let decoded = percent_decode(userinfo);
    (format!("{scheme}://{host}/{path}"), Some(format!("Basic {}", base64(decoded.as_bytes()))))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl RestBackend {
    pub fn new(url: &str) -> RestBackend {
        let (clean, auth) = split_credentials(url);
        let mut base = clean;
        if !base.ends_with('/') {
            base.push('/');
        }
        let shown = format!("rest:{}", tugboat::secret::mask_url_password(url));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_per_write(Some(STALL_TIMEOUT))
            .timeout_global(Some(Duration::from_secs(600)))
            .user_agent(concat!("tugboat/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        RestBackend { agent, base, shown, auth, failing: AtomicBool::new(false) }
    }

    fn path(tpe: FileType, id: &Id) -> String {
        match tpe {
            FileType::Config => "config".to_string(),
            _ => format!("{}/{}", tpe.dirname(), id.to_hex().as_str()),
        }
    }

    /// One request: the status and body (empty for HEAD/DELETE/POST).
    fn once(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        range: Option<(u32, u32)>,
    ) -> Result<(u16, Vec<u8>), Failure> {
        let url = format!("{}{path}", self.base);
        let transient = |e: ureq::Error| Failure::Transient(e.to_string());
        let mut resp = match (method, body) {
            ("POST", b) => {
                let mut req = self.agent.post(&url).header("Content-Type", "application/octet-stream");
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.send(b.unwrap_or(&[])).map_err(transient)?
            }
            ("DELETE", _) => {
                let mut req = self.agent.delete(&url);
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.call().map_err(transient)?
            }
            ("HEAD", _) => {
                let mut req = self.agent.head(&url);
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.call().map_err(transient)?
            }
            _ => {
                let mut req = self.agent.get(&url).header("Accept", "application/vnd.x.restic.rest.v2");
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                if let Some((offset, length)) = range {
                    let end = u64::from(offset) + u64::from(length.max(1)) - 1;
                    req = req.header("Range", &format!("bytes={offset}-{end}"));
                }
                req.call().map_err(transient)?
            }
        };
        let status = resp.status().as_u16();
        let data = if method == "GET" {
            resp.body_mut().with_config().limit(u64::MAX).read_to_vec().map_err(transient)?
        } else {
            Vec::new()
        };
        match status {
            200..=299 => Ok((status, data)),
            408 | 429 | 500..=599 => Err(Failure::Transient(format!("HTTP {status}"))),
            _ => Err(Failure::Permanent(status, format!("HTTP {status}"))),
        }
    }

    /// [`RestBackend::once`] with restic's retry policy: transient failures are retried with growing pauses (once
    /// only while the server is failing).
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        range: Option<(u32, u32)>,
    ) -> Result<(u16, Vec<u8>), Failure> {
        let retries = if self.failing.load(Ordering::Relaxed) { 0 } else { RETRIES };
        let mut pause = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            match self.once(method, path, body, range) {
                Err(Failure::Transient(_)) if attempt < retries => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(8));
                    attempt += 1;
                }
                Err(Failure::Transient(reason)) => {
                    self.failing.store(true, Ordering::Relaxed);
                    return Err(Failure::Transient(format!("{reason} ({GAVE_UP} after {} attempts)", attempt + 1)));
                }
                answered => {
                    self.failing.store(false, Ordering::Relaxed);
                    return answered;
                }
            }
        }
    }

    fn rustic_err(&self, method: &str, path: &str, f: Failure) -> Box<RusticError> {
        let (kind, msg) = match f {
            Failure::Transient(m) => (ErrorKind::Backend, m),
            Failure::Permanent(404, m) => (ErrorKind::Backend, format!("{m} (not found)")),
            Failure::Permanent(401 | 403, m) => {
                (ErrorKind::Backend, format!("{m} (check the user and password in the URL)"))
            }
            Failure::Permanent(_, m) => (ErrorKind::Backend, m),
        };
        RusticError::new(kind, "{method} {url} failed: {reason}")
            .attach_context("method", method.to_string())
            .attach_context("url", format!("{}{path}", self.shown.trim_end_matches('/').to_string() + "/"))
            .attach_context("reason", msg)
    }

    fn io_failure(f: Failure) -> io::Error {
        match f {
            Failure::Permanent(404, m) => io::Error::new(io::ErrorKind::NotFound, m),
            Failure::Permanent(_, m) | Failure::Transient(m) => io::Error::other(m),
        }
    }
}

#[derive(serde::Deserialize)]
struct ListEntry {
    name: String,
    #[serde(default)]
    size: u64,
}

impl ReadBackend for RestBackend {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            return match self.request("HEAD", "config", None, None) {
                Ok(_) => Ok(vec![(Id::default(), 0)]),
                Err(Failure::Permanent(404, _)) => Ok(Vec::new()),
                Err(f) => Err(self.rustic_err("HEAD", "config", f)),
            };
        }
        let path = format!("{}/", tpe.dirname());
        let (_, body) = match self.request("GET", &path, None, None) {
            Ok(r) => r,
            Err(Failure::Permanent(404, _)) => return Ok(Vec::new()),
            Err(f) => return Err(self.rustic_err("GET", &path, f)),
        };
        let entries: Option<Vec<ListEntry>> = serde_json::from_slice(&body).map_err(|e| {
            RusticError::with_source(ErrorKind::Backend, "listing {url}: the server's answer is not REST v2 JSON", e)
                .attach_context("url", format!("{}{path}", self.shown))
        })?;
        Ok(entries
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| Some((Id::parse_some(&e.name, tpe)?, u32::try_from(e.size).ok()?)))
            .collect())
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let path = Self::path(tpe, id);
        self.request("GET", &path, None, None)
            .map(|(_, b)| Bytes::from(b))
            .map_err(|f| self.rustic_err("GET", &path, f))
    }

    fn read_partial(&self, tpe: FileType, id: &Id, _cacheable: bool, offset: u32, length: u32) -> RusticResult<Bytes> {
        let path = Self::path(tpe, id);
        let (_, body) =
            self.request("GET", &path, None, Some((offset, length))).map_err(|f| self.rustic_err("GET", &path, f))?;
        if body.len() != length as usize {
            return Err(RusticError::new(ErrorKind::Backend, "GET {url}: asked for {want} bytes, got {got}")
                .attach_context("url", format!("{}{path}", self.shown))
                .attach_context("want", length.to_string())
                .attach_context("got", body.len().to_string()));
        }
        Ok(Bytes::from(body))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        format!("{}{}", self.base, Self::path(tpe, id))
    }
}

impl WriteBackend for RestBackend {
    fn create(&self) -> RusticResult<()> {
        self.request("POST", "?create=true", Some(&[]), None)
            .map(|_| ())
            .map_err(|f| self.rustic_err("POST", "?create=true", f))
    }

    fn write_bytes(&self, tpe: FileType, id: &Id, _cacheable: bool, content: BytesList) -> RusticResult<()> {
        let path = Self::path(tpe, id);
        let mut data = Vec::with_capacity(content.size());
        for part in content.slice() {
            data.extend_from_slice(part);
        }
        self.request("POST", &path, Some(&data), None).map(|_| ()).map_err(|f| self.rustic_err("POST", &path, f))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let path = Self::path(tpe, id);
        match self.request("DELETE", &path, None, None) {
            Ok(_) | Err(Failure::Permanent(404, _)) => Ok(()),
            Err(f) => Err(self.rustic_err("DELETE", &path, f)),
        }
    }
}

impl LockStore for RestBackend {
    fn list(&self) -> io::Result<Vec<String>> {
        let (_, body) = match self.request("GET", "locks/", None, None) {
            Ok(r) => r,
            Err(Failure::Permanent(404, _)) => return Ok(Vec::new()),
            Err(f) => return Err(Self::io_failure(f)),
        };
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(io::Error::other)?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().or_else(|| e.get("name").and_then(|n| n.as_str())))
                    .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        self.request("GET", &format!("locks/{id}"), None, None).map(|(_, b)| b).map_err(Self::io_failure)
    }

    fn write(&self, id: &str, data: &[u8]) -> io::Result<()> {
        self.request("POST", &format!("locks/{id}"), Some(data), None).map(|_| ()).map_err(Self::io_failure)
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        match self.request("DELETE", &format!("locks/{id}"), None, None) {
            Ok(_) | Err(Failure::Permanent(404, _)) => Ok(()),
            Err(f) => Err(Self::io_failure(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_basic_auth() {
        let (url, auth) = split_credentials("http://backup:p%40ss@nas:8000/dms");
        assert_eq!(url, "http://nas:8000/dms");
        assert_eq!(auth.as_deref(), Some("Basic YmFja3VwOnBAc3M="));
        assert_eq!(split_credentials("http://nas:8000/dms"), ("http://nas:8000/dms".to_string(), None));
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
