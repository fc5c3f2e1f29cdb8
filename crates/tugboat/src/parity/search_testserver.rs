//! A small Elasticsearch-API-compatible HTTP server for tests: no Elasticsearch or OpenSearch can be installed
//! where this project is built, so the search parity code is tested against this instead. It is not a real
//! Elasticsearch.
//!
//! `GET /` and the error bodies are the recorded responses in `tests/fixtures/es/` (Elasticsearch 8.13 and
//! OpenSearch 2.11 shapes, written from their documentation, not captured from a live cluster; `{path}`,
//! `{user}` and `{index}` in them are filled in). `_cat/indices`, `_count`, `_mapping`, `_search` (sorted by
//! `_id` or `_doc`, with `search_after`, `size`, `_source`, `track_total_hits`) and `_mget` (`ids`,
//! `?_source=false`) are computed over an in-memory [`Cluster`] in the shapes of the recorded
//! `cat-indices.json`, `count.json`, `mapping.json`, `search-sorted.json` and
//! `mget.json`. Like Elasticsearch it answers 401 without valid Basic credentials (when the cluster has
//! some), 406 for a body without `Content-Type: application/json`, 404 for an unknown index, 400 for a
//! closed index and, when [`Cluster::disallow_id_sort`] is set (the Elasticsearch 8 default), 400 for
//! sorting by `_id`. [`Cluster::record`] makes one method and path answer a fixed response.
//!
//! HTTP/1.1 with keep-alive, `Content-Length` (or chunked) request bodies; one thread per connection; the
//! server stops when the [`TestServer`] is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

/// The recorded responses and the in-memory cluster model, by file name under `tests/fixtures/es/`.
pub fn fixture(name: &str) -> &'static str {
    match name {
        "root-es-8.13.4.json" => include_str!("../../tests/fixtures/es/root-es-8.13.4.json"),
        "root-opensearch-2.11.1.json" => include_str!("../../tests/fixtures/es/root-opensearch-2.11.1.json"),
        "cluster-lcbp3.json" => include_str!("../../tests/fixtures/es/cluster-lcbp3.json"),
        "cat-indices.json" => include_str!("../../tests/fixtures/es/cat-indices.json"),
        "count.json" => include_str!("../../tests/fixtures/es/count.json"),
        "mapping.json" => include_str!("../../tests/fixtures/es/mapping.json"),
        "search-sorted.json" => include_str!("../../tests/fixtures/es/search-sorted.json"),
        "mget.json" => include_str!("../../tests/fixtures/es/mget.json"),
        "error-401.json" => include_str!("../../tests/fixtures/es/error-401.json"),
        "error-401-missing.json" => include_str!("../../tests/fixtures/es/error-401-missing.json"),
        "error-400-id-fielddata.json" => include_str!("../../tests/fixtures/es/error-400-id-fielddata.json"),
        "error-400-index-closed.json" => include_str!("../../tests/fixtures/es/error-400-index-closed.json"),
        "error-404-index.json" => include_str!("../../tests/fixtures/es/error-404-index.json"),
        other => panic!("no ES fixture named {other}"),
    }
}

/// One index: health and status as `_cat/indices` shows them, the `mappings` object, and the documents in
/// index order (`_doc` order is their position here).
#[derive(Debug, Clone)]
pub struct Index {
    pub health: String,
    pub status: String,
    pub mappings: Value,
    pub docs: Vec<(String, Value)>,
}

impl Index {
    pub fn new(mappings: Value) -> Index {
        Index { health: "green".into(), status: "open".into(), mappings, docs: Vec::new() }
    }

    pub fn doc(&self, id: &str) -> Option<&Value> {
        self.docs.iter().find(|(i, _)| i == id).map(|(_, s)| s)
    }

    pub fn remove_doc(&mut self, id: &str) -> bool {
        let before = self.docs.len();
        self.docs.retain(|(i, _)| i != id);
        self.docs.len() != before
    }

    /// Adds a document, or replaces the `_source` of an existing one in place.
    pub fn put_doc(&mut self, id: &str, source: Value) {
        match self.docs.iter_mut().find(|(i, _)| i == id) {
            Some((_, s)) => *s = source,
            None => self.docs.push((id.to_string(), source)),
        }
    }

    /// Sets one top-level field of a document's `_source`.
    pub fn set_field(&mut self, id: &str, field: &str, value: Value) {
        let (_, source) = self.docs.iter_mut().find(|(i, _)| i == id).unwrap_or_else(|| panic!("no document {id}"));
        source[field] = value;
    }
}

/// What the server knows: the answer to `GET /`, the indices, optional Basic credentials, and whether
/// sorting by `_id` is allowed.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub root: Value,
    pub indices: BTreeMap<String, Index>,
    pub credentials: Option<(String, String)>,
    pub id_sort_allowed: bool,
    /// (method, path without query) -> (status, body): answered before anything else.
    pub recorded: Vec<(String, String, u16, String)>,
}

impl Cluster {
    /// The seed-000 (LCBP3 DMS) cluster of `cluster-lcbp3.json`, answering `GET /` as Elasticsearch 8.13.4.
    pub fn lcbp3() -> Cluster {
        Cluster::from_json(fixture("cluster-lcbp3.json"))
    }

    /// A cluster from the model format of `cluster-lcbp3.json`.
    pub fn from_json(text: &str) -> Cluster {
        let v: Value = serde_json::from_str(text).expect("cluster fixture is JSON");
        let root_name = v["root"].as_str().unwrap_or("root-es-8.13.4.json");
        let mut indices = BTreeMap::new();
        for (name, i) in v["indices"].as_object().expect("indices object") {
            let docs = i["docs"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|doc| (doc["_id"].as_str().expect("_id").to_string(), doc["_source"].clone()))
                        .collect()
                })
                .unwrap_or_default();
            indices.insert(
                name.clone(),
                Index {
                    health: i["health"].as_str().unwrap_or("green").into(),
                    status: i["status"].as_str().unwrap_or("open").into(),
                    mappings: i["mappings"].clone(),
                    docs,
                },
            );
        }
        Cluster {
            root: serde_json::from_str(fixture(root_name)).expect("root fixture"),
            indices,
            credentials: None,
            id_sort_allowed: true,
            recorded: Vec::new(),
        }
    }

    /// Answers `GET /` as OpenSearch 2.11.1.
    pub fn opensearch(mut self) -> Cluster {
        self.root = serde_json::from_str(fixture("root-opensearch-2.11.1.json")).expect("root fixture");
        self
    }

    pub fn with_credentials(mut self, user: &str, password: &str) -> Cluster {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Refuses to sort by `_id`, as Elasticsearch 8 does by default (`indices.id_field_data.enabled: false`).
    pub fn disallow_id_sort(mut self) -> Cluster {
        self.id_sort_allowed = false;
        self
    }

    /// Answers `method path` (path without the query string) with `status` and `body`, whatever else holds.
    pub fn record(mut self, method: &str, path: &str, status: u16, body: &str) -> Cluster {
        self.recorded.push((method.into(), path.into(), status, body.into()));
        self
    }

    /// The index `name`, to change before the server starts.
    pub fn edit(&mut self, name: &str) -> &mut Index {
        self.indices.get_mut(name).unwrap_or_else(|| panic!("no index {name}"))
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub body: String,
}

/// The server: listening on `127.0.0.1:0` until dropped.
pub struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl TestServer {
    pub fn start(cluster: Cluster) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let cluster = Arc::new(cluster);
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (cluster, log) = (cluster.clone(), log.clone());
                    std::thread::spawn(move || serve(stream, &cluster, &log));
                }
            })
        };
        TestServer { addr, stop, thread: Some(thread), log }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:password@127.0.0.1:PORT`
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: String,
}

fn serve(stream: TcpStream, cluster: &Cluster, log: &Mutex<Vec<Logged>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let Some((request, target)) = read_request(&mut reader) else { return };
        if let Ok(mut l) = log.lock() {
            l.push(Logged { method: request.method.clone(), target, body: request.body.clone() });
        }
        let close = request.headers.get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let (status, body) = handle(cluster, &request);
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reason_phrase(status),
            body.len()
        );
        if status == 401 {
            head.push_str("WWW-Authenticate: Basic realm=\"security\" charset=\"UTF-8\"\r\n");
        }
        head.push_str("\r\n");
        // One write: a separate head and body would meet Nagle and delayed ACKs (40 ms a response).
        head.push_str(&body);
        if writer.write_all(head.as_bytes()).and_then(|_| writer.flush()).is_err() || close {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(Request, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect();
    let body = String::from_utf8_lossy(&body).into_owned();
    Some((Request { method, path, query, headers, body }, target))
}

fn decode(s: &str) -> String {
    super::percent_decode(s).unwrap_or_else(|| s.to_string())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn fill(template: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = template.trim().to_string();
    for (k, v) in pairs {
        // The values go inside JSON strings.
        let escaped = serde_json::to_string(v).unwrap_or_default();
        s = s.replace(&format!("{{{k}}}"), &escaped[1..escaped.len() - 1]);
    }
    s
}

fn handle(cluster: &Cluster, req: &Request) -> (u16, String) {
    for (m, p, status, body) in &cluster.recorded {
        if *m == req.method && *p == req.path {
            return (*status, body.clone());
        }
    }
    let full_path = if req.query.is_empty() {
        req.path.clone()
    } else {
        let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", req.path, q.join("&"))
    };
    if let Some((user, password)) = &cluster.credentials {
        match req.headers.get("authorization") {
            None => return (401, fill(fixture("error-401-missing.json"), &[("path", &full_path)])),
            Some(given) => {
                let expected = format!("Basic {}", super::base64(format!("{user}:{password}").as_bytes()));
                if *given != expected {
                    let who = basic_user(given).unwrap_or_default();
                    return (401, fill(fixture("error-401.json"), &[("user", &who), ("path", &full_path)]));
                }
            }
        }
    }
    if !req.body.is_empty() && !req.headers.get("content-type").is_some_and(|c| c.starts_with("application/json")) {
        let ct = req.headers.get("content-type").cloned().unwrap_or_default();
        return (
            406,
            json!({"error": format!("Content-Type header [{ct}] is not supported"), "status": 406}).to_string(),
        );
    }
    let segments: Vec<String> = req.path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    match (method, seg.as_slice()) {
        ("GET" | "HEAD", []) => (200, cluster.root.to_string()),
        ("GET", ["_cat", "indices"]) => cat_indices(cluster, req),
        ("GET" | "POST", [index, "_count"]) => with_index(cluster, index, |i| {
            (200, json!({"count": i.docs.len(), "_shards": shards()}).to_string())
        }),
        ("GET", [index, "_mapping"]) => with_index(cluster, index, |i| {
            let mut out = serde_json::Map::new();
            out.insert(index.to_string(), json!({"mappings": i.mappings}));
            (200, Value::Object(out).to_string())
        }),
        ("GET" | "POST", [index, "_search"]) => with_index(cluster, index, |i| search(cluster, index, i, req)),
        ("GET" | "POST", [index, "_mget"]) => with_index(cluster, index, |i| mget(index, i, req)),
        _ => (
            400,
            json!({"error": format!("no handler found for uri [{}] and method [{}]", req.path, req.method), "status": 400})
                .to_string(),
        ),
    }
}

fn basic_user(header: &str) -> Option<String> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64_decode(encoded)?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':').map(|(u, _)| u.to_string()).unwrap_or(text))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let len = chunk.len().saturating_sub(1);
        for i in 0..len {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

fn shards() -> Value {
    json!({"total": 1, "successful": 1, "skipped": 0, "failed": 0})
}

fn with_index(cluster: &Cluster, name: &str, f: impl FnOnce(&Index) -> (u16, String)) -> (u16, String) {
    match cluster.indices.get(name) {
        None => (404, fill(fixture("error-404-index.json"), &[("index", name)])),
        Some(i) if i.status == "close" => (400, fill(fixture("error-400-index-closed.json"), &[("index", name)])),
        Some(i) => f(i),
    }
}

fn cat_indices(cluster: &Cluster, req: &Request) -> (u16, String) {
    let columns: Vec<String> = match req.query.get("h") {
        Some(h) => h.split(',').map(str::to_string).collect(),
        None => ["health", "status", "index", "docs.count"].iter().map(|s| s.to_string()).collect(),
    };
    let rows: Vec<Value> = cluster
        .indices
        .iter()
        .map(|(name, i)| {
            let mut row = serde_json::Map::new();
            for c in &columns {
                let v = match c.as_str() {
                    "index" => json!(name),
                    "health" => json!(i.health),
                    "status" => json!(i.status),
                    "docs.count" if i.status == "close" => Value::Null,
                    "docs.count" => json!(i.docs.len().to_string()),
                    _ => Value::Null,
                };
                row.insert(c.clone(), v);
            }
            Value::Object(row)
        })
        .collect();
    if req.query.get("format").map(String::as_str) != Some("json") {
        // The text table; the client always asks for JSON.
        let lines: Vec<String> = rows
            .iter()
            .map(|r| columns.iter().map(|c| r[c].as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join(" "))
            .collect();
        return (200, lines.join("\n") + "\n");
    }
    (200, Value::Array(rows).to_string())
}

fn search(cluster: &Cluster, name: &str, index: &Index, req: &Request) -> (u16, String) {
    let body: Value = if req.body.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(&req.body) {
            Ok(v) => v,
            Err(e) => return (400, json!({"error": {"root_cause": [{"type": "parsing_exception", "reason": e.to_string()}], "type": "parsing_exception", "reason": e.to_string()}, "status": 400}).to_string()),
        }
    };
    let size = body["size"].as_u64().unwrap_or(10) as usize;
    if size > 10_000 {
        let reason =
            format!("Result window is too large, from + size must be less than or equal to: [10000] but was [{size}].");
        return (400, json!({"error": {"root_cause": [{"type": "illegal_argument_exception", "reason": reason}], "type": "search_phase_execution_exception", "reason": "all shards failed"}, "status": 400}).to_string());
    }
    // The first sort key: "_id" or "_doc", as a string or {"_id": "asc"} or {"_id": {"order": "asc"}}.
    let key = match &body["sort"][0] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.keys().next().cloned(),
        _ => None,
    };
    let by_id = match key.as_deref() {
        Some("_id") => true,
        Some("_doc") | None => false,
        Some(other) => {
            let reason = format!("No mapping found for [{other}] in order to sort on");
            return (400, json!({"error": {"root_cause": [{"type": "query_shard_exception", "reason": reason}], "type": "search_phase_execution_exception", "reason": "all shards failed"}, "status": 400}).to_string());
        }
    };
    if by_id && !cluster.id_sort_allowed {
        return (400, fill(fixture("error-400-id-fielddata.json"), &[("index", name)]));
    }
    let mut docs: Vec<(usize, &String, &Value)> =
        index.docs.iter().enumerate().map(|(p, (id, s))| (p, id, s)).collect();
    if by_id {
        docs.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
    }
    let after = &body["search_after"][0];
    let docs = docs.into_iter().filter(|(p, id, _)| match after {
        Value::Null => true,
        Value::String(a) if by_id => id.as_bytes() > a.as_bytes(),
        v if !by_id => match v.as_u64() {
            Some(a) => *p as u64 > a,
            None => true,
        },
        _ => true,
    });
    let with_source = body["_source"].as_bool() != Some(false);
    let hits: Vec<Value> = docs
        .take(size)
        .map(|(p, id, source)| {
            let mut hit = json!({"_index": name, "_id": id, "_score": null});
            if with_source {
                hit["_source"] = source.clone();
            }
            hit["sort"] = if by_id { json!([id]) } else { json!([p]) };
            hit
        })
        .collect();
    let mut hits_obj = json!({"max_score": null, "hits": hits});
    if body["track_total_hits"].as_bool() != Some(false) {
        hits_obj["total"] = json!({"value": index.docs.len(), "relation": "eq"});
    }
    (200, json!({"took": 1, "timed_out": false, "_shards": shards(), "hits": hits_obj}).to_string())
}

fn mget(name: &str, index: &Index, req: &Request) -> (u16, String) {
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let ids: Vec<String> = match (body["ids"].as_array(), body["docs"].as_array()) {
        (Some(ids), _) => ids.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        (None, Some(docs)) => docs.iter().filter_map(|d| d["_id"].as_str().map(str::to_string)).collect(),
        _ => {
            let reason = "unexpected content, expected [docs] or [ids]";
            return (400, json!({"error": {"root_cause": [{"type": "action_request_validation_exception", "reason": reason}], "type": "action_request_validation_exception", "reason": reason}, "status": 400}).to_string());
        }
    };
    let with_source = req.query.get("_source").map(String::as_str) != Some("false");
    let docs: Vec<Value> = ids
        .iter()
        .map(|id| match index.docs.iter().position(|(i, _)| i == id) {
            Some(p) => {
                let mut d =
                    json!({"_index": name, "_id": id, "_version": 1, "_seq_no": p, "_primary_term": 1, "found": true});
                if with_source {
                    d["_source"] = index.docs[p].1.clone();
                }
                d
            }
            None => json!({"_index": name, "_id": id, "found": false}),
        })
        .collect();
    (200, json!({"docs": docs}).to_string())
}
