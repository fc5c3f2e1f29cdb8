//! Search-index parity: prove that two Elasticsearch / OpenSearch clusters hold the same indices, mappings
//! and documents, over their REST API.
//!
//! Per index (the non-hidden ones, or those `indices` selects; a pattern that starts with `.` selects hidden
//! ones):
//! 1. the index list of both sides: `GET /_cat/indices?format=json&h=index,docs.count,health,status`;
//! 2. exact document counts: `GET /INDEX/_count` (the `docs.count` of `_cat` also counts nested documents);
//! 3. mapping equality: `GET /INDEX/_mapping`, the `mappings` object of each side compared leaf by leaf, the
//!    differences named by field path (`title.raw`) and setting (`type`);
//! 4. a sampled content comparison. Up to `sample` documents are read from the source with
//!    `POST /INDEX/_search` sorted by `_id` and paged with `search_after`; the target is asked for exactly
//!    those ids with `POST /INDEX/_mget`, and each document's `_source` is compared by the SHA-256 of its
//!    canonical JSON (object keys sorted recursively, no whitespace). The same is done the other way round
//!    with ids only (`_source: false`), which finds documents the target has and the source lacks.
//!
//! Sorting by `_id` needs field data on `_id`, which Elasticsearch 8 disallows by default
//! (`indices.id_field_data.enabled: false`; OpenSearch and Elasticsearch 7 allow it). When the server answers
//! the first `_id`-sorted page with HTTP 400, the sample is read in index order (`_doc`) instead and the
//! report says so. Index order differs between clusters, which does not matter: the robust core is the
//! `_mget` of the source's sampled ids on the target, whatever order they were sampled in. Across several
//! shards, `search_after` on `_doc` may skip documents between pages (never repeat them), so such a sample
//! can be smaller than asked for on very large indices; it is still a true sample of the source.
//!
//! HTTP is plain HTTP/1.1 over `ureq` (rustls for `https://`, with Mozilla's roots or the CA file given in
//! `ca_cert`: Elasticsearch 8 writes its self-signed CA to `config/certs/http_ca.crt`). Basic auth comes from
//! the URL's userinfo; the password is held in a [`Secret`] and every URL shown masks it. Timeouts: 10 s to
//! connect, 60 s to receive a response and 60 s for its body.
//!
//! Testing: this is tested against a recorded-response server, not a real Elasticsearch; none can be
//! installed where the project is built. The tests run the real HTTP client against `testserver`, a small
//! ES-API-compatible server of this crate that answers with the responses in `tests/fixtures/es/`, in the
//! shapes of Elasticsearch 8.13 and OpenSearch 2.11 (`GET /`, `_cat/indices`, `_count`, `_mapping`, `_search`
//! with `sort` values, `_mget` with `found`, and the error bodies for 400, 401 and 404), and computes
//! `_search` paging and `_mget` over in-memory documents. Those responses were written from the two
//! products' API documentation and published examples, not captured from a live cluster (see the README
//! there). Query semantics beyond sorting by `_id`/`_doc` are not modelled. TLS is tested against
//! `openssl s_server` with a private CA.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{glob, Keys, Progress};
use crate::secret::Secret;

#[cfg(any(test, feature = "test-server"))]
#[path = "search_testserver.rs"]
pub mod testserver;

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;

// ---------------------------------------------------------------------------------------------------------
// Endpoints

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

/// A search cluster: `http(s)://[user:password@]host:port[/path-prefix]`. `Display` masks the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchEndpoint {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// A path the cluster is served under behind a reverse proxy (`/es`), without a trailing slash; usually empty.
    pub path_prefix: String,
}

/// Whether `spec` names a search cluster (an `http://` or `https://` URL) rather than a database.
pub fn is_search_url(spec: &str) -> bool {
    let lower = spec.trim().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

impl SearchEndpoint {
    pub fn parse(url: &str) -> Result<SearchEndpoint, SearchError> {
        let shown = crate::secret::mask_url_password(url);
        let bad = |reason: &str| SearchError::BadUrl { url: shown.clone(), reason: reason.to_string() };
        let (scheme, rest) =
            url.trim().split_once("://").ok_or_else(|| bad("expected http://host:port or https://host:port"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("a search cluster is named by an http:// or https:// URL")),
        };
        if rest.contains(['?', '#']) {
            return Err(bad("a query string or fragment is not allowed; give http(s)://[user:password@]host:port"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (name, pw) = match u.split_once(':') {
                    Some((n, p)) => (n, Some(p)),
                    None => (u, None),
                };
                let name = percent_decode(name).ok_or_else(|| bad("bad percent-encoding in the user name"))?;
                let pw = match pw {
                    Some(p) => {
                        Some(Secret::new(percent_decode(p).ok_or_else(|| bad("bad percent-encoding in the password"))?))
                    }
                    None => None,
                };
                (Some(name).filter(|n| !n.is_empty()), pw)
            }
        };
        let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
            let (h, after) = stripped.split_once(']').ok_or_else(|| bad("unclosed '[' in an IPv6 address"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let port = match port {
            Some(p) if !p.is_empty() => {
                p.parse::<u16>().map_err(|_| bad("the port is not a number from 1 to 65535"))?
            }
            _ => {
                return Err(bad(
                    "the port is missing; Elasticsearch and OpenSearch listen on 9200, e.g. http://es-old:9200",
                ))
            }
        };
        if port == 0 {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        Ok(SearchEndpoint { scheme, host, port, user, password, path_prefix: path.trim_end_matches('/').to_string() })
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL requests go to: no user info, no trailing slash.
    fn base_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.host_port(), self.path_prefix)
    }
}

impl std::str::FromStr for SearchEndpoint {
    type Err = SearchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SearchEndpoint::parse(s)
    }
}

impl fmt::Display for SearchEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://")?;
        match (&self.user, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:***@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            (None, Some(_)) => write!(f, ":***@")?,
            (None, None) => {}
        }
        write!(f, "{}{}", self.host_port(), self.path_prefix)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Index names and ids inside a URL path: everything but `[A-Za-z0-9._-]` percent-encoded.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding (for the Basic auth header).
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// Errors

/// Why a comparison could not be made. Every message names the cluster by its masked URL.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("TLS with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url}: {method} {path}: HTTP {status}: {reason}{hint}")]
    Http { url: String, method: String, path: String, status: u16, reason: String, hint: String },
    #[error("{url}: {method} {path}: unexpected response: {reason}")]
    Protocol { url: String, method: String, path: String, reason: String },
    #[error("cannot use the CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
}

impl SearchError {
    /// Bad input from the user (exit 2), as opposed to a cluster that could not be asked (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(self, SearchError::BadUrl { .. } | SearchError::CaCert { .. })
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, SearchError::Unreachable { .. } | SearchError::Tls { .. })
    }

    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SearchError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `type: reason` from an Elasticsearch error body: the first root cause (more specific than the top-level
/// `reason`, which for searches is "all shards failed"), else `error.reason`, else `error` as a string.
fn error_reason(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        let text = body.trim();
        return if text.is_empty() { "(empty body)".into() } else { text.chars().take(300).collect() };
    };
    let err = &v["error"];
    if let Some(s) = err.as_str() {
        return s.to_string();
    }
    let pick = |e: &Value| -> Option<String> {
        let reason = e["reason"].as_str()?;
        Some(match e["type"].as_str() {
            Some(t) => format!("{t}: {reason}"),
            None => reason.to_string(),
        })
    };
    pick(&err["root_cause"][0])
        .or_else(|| pick(err))
        .or_else(|| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 => "; check the user and password in the URL (http://user:password@host:9200)",
        403 => "; the user needs the `monitor` cluster privilege and `read` and `view_index_metadata` on the indices",
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP client

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A page of documents can be large (OCR text); a response over this is refused rather than exhausting memory.
const BODY_LIMIT: u64 = 1 << 30;

struct Client {
    agent: ureq::Agent,
    tls: bool,
    base: String,
    shown: String,
    auth: Option<String>,
}

impl Client {
    fn new(ep: &SearchEndpoint, options: &SearchParityOptions) -> Result<Client, SearchError> {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(READ_TIMEOUT))
            .timeout_recv_body(Some(READ_TIMEOUT))
            .user_agent(concat!("tugboat/", env!("CARGO_PKG_VERSION")));
        if ep.scheme == Scheme::Https {
            if let Some(path) = &options.ca_cert {
                let certs = load_ca(path)?;
                config = config.tls_config(
                    ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build(),
                );
            }
        }
        let auth = ep.user.as_ref().map(|u| {
            let pw = ep.password.as_ref().map(Secret::expose).unwrap_or("");
            format!("Basic {}", base64(format!("{u}:{pw}").as_bytes()))
        });
        Ok(Client {
            agent: config.build().new_agent(),
            tls: ep.scheme == Scheme::Https,
            base: ep.base_url(),
            shown: ep.to_string(),
            auth,
        })
    }

    fn get(&self, path: &str) -> Result<Value, SearchError> {
        self.call("GET", path, None)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, SearchError> {
        self.call("POST", path, Some(body))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, SearchError> {
        let url = format!("{}{path}", self.base);
        let result = match body {
            None => {
                let mut req = self.agent.get(&url).header("Accept", "application/json");
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            Some(b) => {
                let mut req = self
                    .agent
                    .post(&url)
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/json");
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.send(b.to_string())
            }
        };
        let mut response = result.map_err(|e| self.transport_error(method, path, e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| self.transport_error(method, path, e))?;
        if status >= 400 {
            return Err(SearchError::Http {
                url: self.shown.clone(),
                method: method.into(),
                path: path.into(),
                status,
                reason: error_reason(&text),
                hint: status_hint(status).into(),
            });
        }
        serde_json::from_str(&text).map_err(|e| SearchError::Protocol {
            url: self.shown.clone(),
            method: method.into(),
            path: path.into(),
            reason: format!("not JSON ({e}): {}", text.chars().take(200).collect::<String>()),
        })
    }

    fn transport_error(&self, method: &str, path: &str, e: ureq::Error) -> SearchError {
        let url = self.shown.clone();
        match e {
            // rustls reports through the socket as InvalidData.
            ureq::Error::Io(io) if self.tls && io.kind() == std::io::ErrorKind::InvalidData => {
                SearchError::Tls { url, reason: tls_hint(&io.to_string()) }
            }
            ureq::Error::Io(io) => {
                let reason = match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        "connection refused (is Elasticsearch listening on that host and port?)".to_string()
                    }
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => format!("timed out: {io}"),
                    _ => io.to_string(),
                };
                SearchError::Unreachable { url, reason }
            }
            ureq::Error::ConnectionFailed => SearchError::Unreachable { url, reason: "connection failed".into() },
            ureq::Error::HostNotFound => SearchError::Unreachable { url, reason: "host not found (DNS)".into() },
            ureq::Error::Timeout(t) => SearchError::Unreachable {
                url,
                reason: format!(
                    "timed out ({t}; limits: {} s to connect, {} s to answer)",
                    CONNECT_TIMEOUT.as_secs(),
                    READ_TIMEOUT.as_secs()
                ),
            },
            ureq::Error::Tls(reason) => SearchError::Tls { url, reason: reason.to_string() },
            ureq::Error::Rustls(err) => SearchError::Tls { url, reason: tls_hint(&err.to_string()) },
            ureq::Error::BodyExceedsLimit(n) => SearchError::Protocol {
                url,
                method: method.into(),
                path: path.into(),
                reason: format!("response larger than {n} bytes; lower the page size"),
            },
            other => SearchError::Protocol { url, method: method.into(), path: path.into(), reason: other.to_string() },
        }
    }
}

/// A TLS failure with what to do about the two common ones.
fn tls_hint(reason: &str) -> String {
    if reason.contains("InvalidContentType") || reason.contains("corrupt message") {
        format!("{reason}: the server does not speak TLS on this port; use http://")
    } else if reason.to_ascii_lowercase().contains("certificate") {
        format!(
            "{reason}: if the cluster uses a self-signed certificate, pass its CA file \
             (Elasticsearch 8 writes it to config/certs/http_ca.crt)"
        )
    } else {
        reason.to_string()
    }
}

fn load_ca(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>, SearchError> {
    let err = |reason: String| SearchError::CaCert { path: path.display().to_string(), reason };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(err(format!("not a PEM file: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(err("no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into()));
    }
    Ok(certs)
}

// ---------------------------------------------------------------------------------------------------------
// Options and report

#[derive(Debug, Clone)]
pub struct SearchParityOptions {
    /// Only these indices (glob `*`); empty means every index whose name does not start with `.`.
    pub indices: Vec<String>,
    pub exclude: Vec<String>,
    /// Documents per index whose `_source` is compared; 0 compares counts and mappings only.
    pub sample: usize,
    /// How many ids the report lists per kind of difference (totals are exact within the sample).
    pub max_keys: usize,
    /// Documents per `_search` page and ids per `_mget` request.
    pub page_size: usize,
    /// A PEM file of CA certificates to trust for `https://` (instead of Mozilla's roots).
    pub ca_cert: Option<PathBuf>,
}

impl Default for SearchParityOptions {
    fn default() -> Self {
        SearchParityOptions {
            indices: Vec::new(),
            exclude: Vec::new(),
            sample: 1000,
            max_keys: 20,
            page_size: 500,
            ca_cert: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexStatus {
    Equal,
    /// Document counts differ (the sample lists missing and extra ids it met).
    CountDiffers,
    /// Same count; sampled documents are missing, extra or have a different `_source`.
    ContentDiffers,
    /// Counts and sampled content agree; the mappings do not.
    MappingDiffers,
    MissingInTarget,
    MissingInSource,
    /// Closed on one side or both: not compared (`POST /INDEX/_open` to compare it).
    Closed,
    /// The comparison failed (index deleted meanwhile, permissions…); see `notes`.
    Error,
}

/// The order the sample was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleOrder {
    /// Sorted by `_id`: the sample is the first N ids, the same range on both sides.
    Id,
    /// Index order (`_doc`), because the cluster disallows sorting by `_id`.
    Doc,
    /// No content was sampled (sample 0, or the index is not on both sides).
    None,
}

/// One mapping leaf that differs: `field` is the dotted field path (empty for index-level settings such
/// as `dynamic`), `setting` the key under it (`type`, `analyzer`; empty when the whole field is on one side).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingDifference {
    pub field: String,
    pub setting: String,
    pub source: Option<Value>,
    pub target: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub index: String,
    pub status: IndexStatus,
    /// Exact counts (`_count`); null when the index is not on that side or could not be counted.
    pub source_docs: Option<u64>,
    pub target_docs: Option<u64>,
    pub source_health: Option<String>,
    pub target_health: Option<String>,
    pub mapping_differences: Vec<MappingDifference>,
    /// Source documents whose `_source` was compared.
    pub sampled: u64,
    pub sample_order: SampleOrder,
    /// Sampled source ids the target lacks.
    pub missing: Keys,
    /// Sampled ids whose `_source` differs.
    pub changed: Keys,
    /// Sampled target ids the source lacks.
    pub extra: Keys,
    pub notes: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchParityReport {
    /// Always "search": tells stored search reports from database ones.
    pub kind: &'static str,
    pub source: String,
    pub target: String,
    /// `Elasticsearch 8.13.4`, `OpenSearch 2.11.1`.
    pub source_version: String,
    pub target_version: String,
    pub equal: bool,
    /// Documents sampled per index (the option).
    pub sample: usize,
    pub indices: Vec<IndexReport>,
    pub indices_only_in_source: Vec<String>,
    pub indices_only_in_target: Vec<String>,
    pub duration_ms: u64,
}

impl SearchParityReport {
    /// One line for audit events and gates.
    pub fn summary(&self) -> String {
        let compared = self.indices.len() - self.indices_only_in_source.len() - self.indices_only_in_target.len();
        if self.equal {
            return format!("{compared} indices equal");
        }
        let differing = self
            .indices
            .iter()
            .filter(|i| {
                !matches!(i.status, IndexStatus::Equal | IndexStatus::MissingInSource | IndexStatus::MissingInTarget)
            })
            .count();
        format!(
            "{differing} of {compared} indices differ; {} indices only in source, {} only in target",
            self.indices_only_in_source.len(),
            self.indices_only_in_target.len()
        )
    }
}

// ---------------------------------------------------------------------------------------------------------
// Canonical JSON and hashes

/// `value` as compact JSON with object keys sorted at every level, so key order does not matter.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sorted(v))).collect();
                let mut out = serde_json::Map::with_capacity(ordered.len());
                for (k, v) in ordered {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Hex SHA-256 of [`canonical_json`].
pub fn source_hash(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Mappings

/// The leaves that differ between two `mappings` objects. Keys under `properties` and `fields` are field
/// names (joined with `.` into `field`); other keys are settings.
pub fn mapping_differences(source: &Value, target: &Value) -> Vec<MappingDifference> {
    let mut out = Vec::new();
    diff_mapping(source, target, "", "", false, &mut out);
    out
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

fn diff_mapping(a: &Value, b: &Value, field: &str, setting: &str, names: bool, out: &mut Vec<MappingDifference>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (f, s) =
                    if names { (join(field, k), String::new()) } else { (field.to_string(), join(setting, k)) };
                // Children of `properties`/`fields` are field names; their own keys are settings again.
                let child_names = !names && setting.is_empty() && (k == "properties" || k == "fields");
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if child_names {
                            diff_mapping(p, q, field, "", true, out)
                        } else {
                            diff_mapping(p, q, &f, &s, false, out)
                        }
                    }
                    (p, q) => {
                        if child_names {
                            // A whole `properties`/`fields` block on one side: one difference per field.
                            let empty = Value::Object(serde_json::Map::new());
                            diff_mapping(p.unwrap_or(&empty), q.unwrap_or(&empty), field, "", true, out)
                        } else {
                            out.push(MappingDifference { field: f, setting: s, source: p.cloned(), target: q.cloned() })
                        }
                    }
                }
            }
        }
        _ if a == b => {}
        _ => out.push(MappingDifference {
            field: field.to_string(),
            setting: setting.to_string(),
            source: Some(a.clone()),
            target: Some(b.clone()),
        }),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Responses

/// One row of `_cat/indices`.
#[derive(Debug, Clone, PartialEq)]
struct CatIndex {
    index: String,
    docs: Option<u64>,
    health: Option<String>,
    status: Option<String>,
}

fn protocol(client: &Client, method: &str, path: &str, reason: impl Into<String>) -> SearchError {
    SearchError::Protocol { url: client.shown.clone(), method: method.into(), path: path.into(), reason: reason.into() }
}

/// `_cat/indices?format=json`: an array of objects whose values are strings (or null for a closed index).
fn parse_cat_indices(v: &Value) -> Option<Vec<CatIndex>> {
    let text = |row: &Value, k: &str| row.get(k).and_then(Value::as_str).map(str::to_string);
    v.as_array()?
        .iter()
        .map(|row| {
            Some(CatIndex {
                index: text(row, "index")?,
                docs: row.get("docs.count").and_then(|d| match d {
                    Value::String(s) => s.parse().ok(),
                    other => other.as_u64(),
                }),
                health: text(row, "health"),
                status: text(row, "status"),
            })
        })
        .collect()
}

/// `GET /`: `Elasticsearch 8.13.4` or `OpenSearch 2.11.1`.
fn parse_version(v: &Value) -> Option<String> {
    let number = v["version"]["number"].as_str()?;
    let product = match v["version"]["distribution"].as_str() {
        Some("opensearch") => "OpenSearch",
        Some(other) => other,
        None => "Elasticsearch",
    };
    Some(format!("{product} {number}"))
}

/// `GET /INDEX/_mapping`: `{"INDEX": {"mappings": {...}}}`; the one value's `mappings`, whatever its key (an
/// alias answers with the concrete index name).
fn parse_mapping(v: &Value) -> Option<Value> {
    let obj = v.as_object()?;
    let (_, only) = obj.iter().next().filter(|_| obj.len() == 1)?;
    Some(only.get("mappings").cloned().unwrap_or_else(|| json!({})))
}

/// A page of `_search` hits: (id, hash of `_source` when asked for, sort values).
fn parse_hits(v: &Value, with_source: bool) -> Option<Vec<(String, Option<String>, Value)>> {
    v["hits"]["hits"]
        .as_array()?
        .iter()
        .map(|h| {
            let id = h["_id"].as_str()?.to_string();
            let hash = if with_source { Some(source_hash(h.get("_source")?)) } else { None };
            Some((id, hash, h.get("sort").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

/// `_mget`: id -> hash of `_source` (None when `_source` was not asked for) for the documents found.
fn parse_mget(v: &Value, with_source: bool) -> Option<HashMap<String, Option<String>>> {
    let mut out = HashMap::new();
    for d in v["docs"].as_array()? {
        let id = d["_id"].as_str()?.to_string();
        if d.get("error").is_some() {
            return None;
        }
        if d["found"].as_bool()? {
            let hash = if with_source { Some(source_hash(d.get("_source")?)) } else { None };
            out.insert(id, hash);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------------------
// The comparison

/// Compares the indices of `source` and `target`. Errors are for the clusters as a whole (unreachable,
/// unauthorized); a failure within one index lands in its report.
pub fn compare_indices(
    source: &SearchEndpoint,
    target: &SearchEndpoint,
    options: &SearchParityOptions,
) -> Result<SearchParityReport, SearchError> {
    compare_indices_with_progress(source, target, options, &())
}

pub fn compare_indices_with_progress(
    source: &SearchEndpoint,
    target: &SearchEndpoint,
    options: &SearchParityOptions,
    progress: &dyn Progress,
) -> Result<SearchParityReport, SearchError> {
    let started = Instant::now();
    let options = &SearchParityOptions { page_size: options.page_size.clamp(1, 10_000), ..options.clone() };
    let src = Client::new(source, options)?;
    let tgt = Client::new(target, options)?;

    let (sv, tv) = both(&src, &tgt, |c| c.get("/"));
    let (source_version, target_version) = (version_of(&src, sv?)?, version_of(&tgt, tv?)?);
    let cat_path = "/_cat/indices?format=json&h=index,docs.count,health,status";
    let (sc, tc) = both(&src, &tgt, |c| {
        let v = c.get(cat_path)?;
        parse_cat_indices(&v).ok_or_else(|| protocol(c, "GET", cat_path, "expected an array of {index, docs.count, …}"))
    });
    let (src_cat, tgt_cat) = (sc?, tc?);

    let selected = |name: &str| {
        let included = if options.indices.is_empty() {
            !name.starts_with('.')
        } else {
            options.indices.iter().any(|p| glob(p, name) && (!name.starts_with('.') || p.starts_with('.')))
        };
        included && !options.exclude.iter().any(|p| glob(p, name))
    };
    let src_map: BTreeMap<&str, &CatIndex> =
        src_cat.iter().filter(|c| selected(&c.index)).map(|c| (c.index.as_str(), c)).collect();
    let tgt_map: BTreeMap<&str, &CatIndex> =
        tgt_cat.iter().filter(|c| selected(&c.index)).map(|c| (c.index.as_str(), c)).collect();
    let names: BTreeSet<&str> = src_map.keys().chain(tgt_map.keys()).copied().collect();

    let mut indices = Vec::new();
    for (i, name) in names.iter().enumerate() {
        progress.started(name, i, names.len());
        let index_started = Instant::now();
        let (a, b) = (src_map.get(name).copied(), tgt_map.get(name).copied());
        let mut report = empty_report(name, a, b);
        match (a, b) {
            (Some(_), None) => {
                report.status = IndexStatus::MissingInTarget;
                report.source_docs = count_or_note(&src, name, &mut report.notes);
            }
            (None, Some(_)) => {
                report.status = IndexStatus::MissingInSource;
                report.target_docs = count_or_note(&tgt, name, &mut report.notes);
            }
            (Some(a), Some(b)) => {
                let closed = |c: &CatIndex| c.status.as_deref() == Some("close");
                if closed(a) || closed(b) {
                    report.status = IndexStatus::Closed;
                    let sides = match (closed(a), closed(b)) {
                        (true, true) => "on both sides",
                        (true, false) => "on the source",
                        _ => "on the target",
                    };
                    report.notes.push(format!("closed {sides}: not compared (POST /{name}/_open to compare it)"));
                } else if let Err(e) = compare_index(&src, &tgt, name, options, &mut report) {
                    report.status = IndexStatus::Error;
                    report.notes.push(format!("comparison failed (was the index deleted or changed meanwhile?): {e}"));
                }
            }
            (None, None) => continue,
        }
        report.duration_ms = index_started.elapsed().as_millis() as u64;
        indices.push(report);
    }
    let only = |a: &BTreeMap<&str, &CatIndex>, b: &BTreeMap<&str, &CatIndex>| {
        a.keys().filter(|k| !b.contains_key(*k)).map(|k| k.to_string()).collect::<Vec<_>>()
    };
    let indices_only_in_source = only(&src_map, &tgt_map);
    let indices_only_in_target = only(&tgt_map, &src_map);
    let equal = indices.iter().all(|i| i.status == IndexStatus::Equal);
    Ok(SearchParityReport {
        kind: "search",
        source: source.to_string(),
        target: target.to_string(),
        source_version,
        target_version,
        equal,
        sample: options.sample,
        indices,
        indices_only_in_source,
        indices_only_in_target,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

fn version_of(c: &Client, root: Value) -> Result<String, SearchError> {
    parse_version(&root)
        .ok_or_else(|| protocol(c, "GET", "/", "no version.number: is this an Elasticsearch or OpenSearch cluster?"))
}

fn empty_report(name: &str, a: Option<&CatIndex>, b: Option<&CatIndex>) -> IndexReport {
    IndexReport {
        index: name.to_string(),
        status: IndexStatus::Equal,
        source_docs: None,
        target_docs: None,
        source_health: a.and_then(|c| c.health.clone()),
        target_health: b.and_then(|c| c.health.clone()),
        mapping_differences: Vec::new(),
        sampled: 0,
        sample_order: SampleOrder::None,
        missing: Keys::default(),
        changed: Keys::default(),
        extra: Keys::default(),
        notes: Vec::new(),
        duration_ms: 0,
    }
}

/// Runs `f` on both clients at once.
fn both<T: Send>(
    a: &Client,
    b: &Client,
    f: impl Fn(&Client) -> Result<T, SearchError> + Sync,
) -> (Result<T, SearchError>, Result<T, SearchError>) {
    std::thread::scope(|s| {
        let left = s.spawn(|| f(a));
        let right = f(b);
        (left.join().unwrap_or_else(|_| Err(protocol(a, "-", "-", "request thread panicked"))), right)
    })
}

fn count(c: &Client, index: &str) -> Result<u64, SearchError> {
    let path = format!("/{}/_count", encode_path_segment(index));
    let v = c.get(&path)?;
    v["count"].as_u64().ok_or_else(|| protocol(c, "GET", &path, "no count in the answer"))
}

fn count_or_note(c: &Client, index: &str, notes: &mut Vec<String>) -> Option<u64> {
    count(c, index).map_err(|e| notes.push(format!("cannot count: {e}"))).ok()
}

fn mapping(c: &Client, index: &str) -> Result<Value, SearchError> {
    let path = format!("/{}/_mapping", encode_path_segment(index));
    let v = c.get(&path)?;
    parse_mapping(&v).ok_or_else(|| protocol(c, "GET", &path, "expected {\"INDEX\": {\"mappings\": …}}"))
}

fn compare_index(
    src: &Client,
    tgt: &Client,
    index: &str,
    options: &SearchParityOptions,
    report: &mut IndexReport,
) -> Result<(), SearchError> {
    let (na, nb) = both(src, tgt, |c| count(c, index));
    let (na, nb) = (na?, nb?);
    report.source_docs = Some(na);
    report.target_docs = Some(nb);
    let (ma, mb) = both(src, tgt, |c| mapping(c, index));
    report.mapping_differences = mapping_differences(&ma?, &mb?);

    if options.sample > 0 {
        compare_content(src, tgt, index, options, report)?;
    }
    let content_differs = report.missing.total + report.changed.total + report.extra.total > 0;
    report.status = if na != nb {
        IndexStatus::CountDiffers
    } else if content_differs {
        IndexStatus::ContentDiffers
    } else if !report.mapping_differences.is_empty() {
        IndexStatus::MappingDiffers
    } else {
        IndexStatus::Equal
    };
    Ok(())
}

/// Up to `limit` documents of one side: ids with `_source` hashes when `with_source`.
struct Sample {
    order: SampleOrder,
    docs: Vec<(String, Option<String>)>,
    note: Option<String>,
}

fn sample(c: &Client, index: &str, limit: usize, page: usize, with_source: bool) -> Result<Sample, SearchError> {
    let path = format!("/{}/_search", encode_path_segment(index));
    let mut order = SampleOrder::Id;
    let mut note = None;
    let mut docs = Vec::new();
    let mut seen = HashSet::new();
    let mut after: Option<Value> = None;
    while docs.len() < limit {
        let size = page.min(limit - docs.len());
        let sort = match order {
            SampleOrder::Id => json!([{"_id": "asc"}]),
            _ => json!([{"_doc": "asc"}]),
        };
        let mut body = json!({"size": size, "sort": sort, "track_total_hits": false, "_source": with_source});
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let answer = match c.post(&path, &body) {
            Err(e) if e.status() == Some(400) && order == SampleOrder::Id && after.is_none() => {
                order = SampleOrder::Doc;
                let why = match &e {
                    SearchError::Http { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                note = Some(format!("sorting by _id was refused ({why}); sampled in index order (_doc) instead"));
                continue;
            }
            other => other?,
        };
        let hits = parse_hits(&answer, with_source)
            .ok_or_else(|| protocol(c, "POST", &path, "expected hits.hits[] with _id, _source and sort"))?;
        let n = hits.len();
        for (id, hash, sort) in hits {
            after = Some(sort);
            if seen.insert(id.clone()) {
                docs.push((id, hash));
            }
        }
        let exhausted = match &after {
            Some(a) => a.is_null(),
            None => true,
        };
        if n < size || exhausted {
            break;
        }
    }
    docs.truncate(limit);
    Ok(Sample { order, docs, note })
}

/// Which of `ids` the cluster has: id -> hash of `_source` (None without source).
fn mget(
    c: &Client,
    index: &str,
    ids: &[String],
    page: usize,
    with_source: bool,
) -> Result<HashMap<String, Option<String>>, SearchError> {
    let mut path = format!("/{}/_mget", encode_path_segment(index));
    if !with_source {
        path.push_str("?_source=false");
    }
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(page.max(1)) {
        let answer = c.post(&path, &json!({ "ids": chunk }))?;
        let docs = parse_mget(&answer, with_source)
            .ok_or_else(|| protocol(c, "POST", &path, "expected docs[] with _id and found"))?;
        found.extend(docs);
    }
    Ok(found)
}

fn compare_content(
    src: &Client,
    tgt: &Client,
    index: &str,
    options: &SearchParityOptions,
    report: &mut IndexReport,
) -> Result<(), SearchError> {
    let (limit, page, cap) = (options.sample, options.page_size, options.max_keys);
    // Source documents with their hashes, and the target's ids (for the documents the source lacks).
    let (sa, sb) = std::thread::scope(|s| {
        let left = s.spawn(|| sample(src, index, limit, page, true));
        let right = sample(tgt, index, limit, page, false);
        (left.join().unwrap_or_else(|_| Err(protocol(src, "-", "-", "request thread panicked"))), right)
    });
    let (sa, sb) = (sa?, sb?);
    let src_ids: Vec<String> = sa.docs.iter().map(|(id, _)| id.clone()).collect();
    let tgt_ids: Vec<String> = sb.docs.iter().map(|(id, _)| id.clone()).collect();
    let (on_target, on_source) = std::thread::scope(|s| {
        let left = s.spawn(|| mget(tgt, index, &src_ids, page, true));
        let right = mget(src, index, &tgt_ids, page, false);
        (left.join().unwrap_or_else(|_| Err(protocol(tgt, "-", "-", "request thread panicked"))), right)
    });
    let (on_target, on_source) = (on_target?, on_source?);

    for (id, hash) in &sa.docs {
        match on_target.get(id) {
            None => report.missing.add(Value::String(id.clone()), cap),
            Some(h) if h != hash => report.changed.add(Value::String(id.clone()), cap),
            Some(_) => {}
        }
    }
    for (id, _) in &sb.docs {
        if !on_source.contains_key(id) {
            report.extra.add(Value::String(id.clone()), cap);
        }
    }
    report.sampled = sa.docs.len() as u64;
    report.sample_order = sa.order;
    if let Some(n) = sa.note {
        report.notes.push(format!("source: {n}"));
    }
    if let Some(n) = sb.note {
        report.notes.push(format!("target: {n}"));
    }
    Ok(())
}

impl crate::ops::Classify for SearchError {
    fn kind(&self) -> crate::ops::ErrorKind {
        if self.is_usage() {
            crate::ops::ErrorKind::Usage
        } else {
            crate::ops::ErrorKind::CannotAct
        }
    }
}
