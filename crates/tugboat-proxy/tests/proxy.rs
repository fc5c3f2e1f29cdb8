//! The proxy end to end, in process: tug-testserver backends on free ports, the admin API on a temporary
//! socket. Waits are on conditions (with a 30 s deadline), never on sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use support::*;
use tugboat_proxy::{Canary, Route, Target};

fn route(service: &str, hosts: &[&str], prefix: &str, target: SocketAddr) -> Route {
    Route {
        service: service.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        path_prefix: prefix.into(),
        targets: vec![Target { address: target, weight: 1 }],
        canary: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routes_by_host_and_prefix_with_forwarded_headers() {
    let v1 = backend("v1", &[]);
    let v2 = backend("v2", &[]);
    let proxy = TestProxy::start(vec![
        route("site", &["example.com"], "/", v1),
        route("headers", &[], "/headers", v2),
        route("dead", &["dead.test"], "/", closed_port()),
    ])
    .await;
    let addr = proxy.addr();

    // Host match is case-insensitive and ignores the port.
    let (status, _, body) = raw(addr, &get_head("EXAMPLE.com:8088", "/?token=secret", "")).await;
    assert_eq!((status, version(&body).as_str()), (200, "v1"));
    // No route for this host and path: 404.
    let (status, _, body) = raw(addr, &get_head("other.org", "/", "")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no route"), "{body}");
    // The upstream refuses: 502.
    let (status, _, _) = raw(addr, &get_head("dead.test", "/", "")).await;
    assert_eq!(status, 502);

    // What the origin sees: X-Forwarded-* added (For appended), hop-by-hop headers gone.
    let extra = "X-Forwarded-For: 10.9.8.7\r\nX-Hop: drop-me\r\nConnection: X-Hop, close\r\nKeep-Alive: timeout=5\r\n\
                 Authorization: Bearer hunter2\r\nCookie: session=hunter3\r\n";
    let request = format!("GET /headers HTTP/1.1\r\nHost: Other.org:8088\r\n{extra}\r\n");
    let (status, _, body) = raw(addr, &request).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["x-forwarded-for"], "10.9.8.7, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], "Other.org:8088");
    assert_eq!(seen["host"], "Other.org:8088");
    assert!(seen.get("x-hop").is_none() && seen.get("keep-alive").is_none(), "{seen}");
    // End-to-end headers pass (the proxy is not the place to drop credentials; it just never logs them).
    assert_eq!(seen["authorization"], "Bearer hunter2");

    // HTTP/2 with prior knowledge (h2c) on the same plain listener.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    for _ in 0..3 {
        let request = hyper::Request::get("http://example.com/").body(Empty::<Bytes>::new()).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(version(&String::from_utf8_lossy(&body)), "v1");
    }

    // Stats count per target; the access log has the fields and no query, cookie or credential.
    let stats = proxy.admin(|c| c.stats("site").unwrap()).await;
    assert!(stats["targets"][v1.to_string()]["status"]["2xx"].as_u64().unwrap() >= 4, "{stats}");
    let dead = proxy.admin(|c| c.stats("dead").unwrap()).await;
    assert_eq!(dead["targets"].as_object().unwrap().values().next().unwrap()["status"]["5xx"], 1);
    let metrics = proxy.admin(|c| c.metrics().unwrap()).await;
    assert!(metrics.contains("tug_proxy_requests_total{route=\"site\",status=\"2xx\"} 4"), "{metrics}");
    assert!(metrics.contains("tug_proxy_request_duration_seconds_count{route=\"site\"} 4"), "{metrics}");
    wait_until("access log lines", || {
        let n = proxy.access_log().lines().count();
        async move { n >= 7 }
    })
    .await;
    let log = proxy.access_log();
    for line in log.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        for field in ["time", "route", "target", "method", "path", "status", "duration_ms", "bytes"] {
            assert!(entry.get(field).is_some(), "{field} missing in {line}");
        }
    }
    assert!(log.contains("\"route\":\"site\",\"target\":\"") && log.contains("\"path\":\"/\""), "{log}");
    for secret in ["secret", "hunter2", "hunter3"] {
        assert!(!log.contains(secret), "{secret} in the access log: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeouts_and_admin_errors() {
    let slow = backend("slow", &["--slow", "3000"]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestProxy::config(&dir);
    config.request_timeout_ms = 200;
    config.idle_timeout_ms = 300;
    config.routes = vec![route("slow", &[], "/", slow)];
    let proxy = TestProxy::start_with(dir, config).await;
    let (status, _, _) = raw(proxy.addr(), &get_head("x", "/", "")).await;
    assert_eq!(status, 504);
    // A client that connects and says nothing is closed after the idle timeout.
    let mut idle = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut idle, &mut buf);
    tokio::time::timeout(DEADLINE, read).await.expect("idle connection not closed").ok();

    let (status, body) =
        proxy.admin(|c| c.request("PUT", "/routes/web", Some(&serde_json::json!({ "targets": [] }))).unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = proxy
        .admin(|c| {
            c.request(
                "PUT",
                "/routes/web",
                Some(&serde_json::json!({ "service": "other", "targets": [{"address": "127.0.0.1:1"}] })),
            )
            .unwrap()
        })
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(proxy.admin(|c| c.request("DELETE", "/routes/nope", None).unwrap().0).await, 404);
    assert_eq!(proxy.admin(|c| c.request("GET", "/nope", None).unwrap().0).await, 404);
    assert_eq!(proxy.admin(|c| c.request("POST", "/routes", None).unwrap().0).await, 405);
    let health = proxy.admin(|c| c.health().unwrap()).await;
    assert_eq!(health["status"], "ok");
    // Without an upgrade command, an upgrade is refused and the proxy keeps serving.
    let (status, _) = proxy.admin(|c| c.request("POST", "/upgrade", None).unwrap()).await;
    assert_eq!(status, 409);
    // The socket is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(proxy.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    proxy.handle.shutdown();
    assert_eq!(tokio::time::timeout(DEADLINE, proxy.handle.wait()).await.unwrap(), tugboat_proxy::Exit::Stopped);
    assert!(!proxy.socket().exists(), "the admin socket is removed on stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn switching_under_load_drops_nothing() {
    let v1 = backend("v1", &[]);
    let v2 = backend("v2", &[]);
    let proxy = TestProxy::start(vec![route("web", &[], "/", v1)]).await;
    let url = proxy.url("/");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (url, stop) = (url.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let client = client();
            let (mut ok, mut failures, mut versions) = (0u64, Vec::new(), std::collections::BTreeSet::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match get(&client, &url).await {
                    Ok((200, body)) => {
                        ok += 1;
                        versions.insert(version(&body));
                    }
                    other => failures.push(format!("{other:?}")),
                }
            }
            (ok, failures, versions)
        }));
    }
    let started = Instant::now();
    let client = client();
    // v1 -> v2 -> v1 ..., each time until a fresh request sees the new target; at least ~3 s of load.
    let mut switches = 0;
    while (switches < 6 || started.elapsed() < Duration::from_secs(3)) && switches < 1000 {
        let (to, name) = if switches % 2 == 0 { (v2, "v2") } else { (v1, "v1") };
        proxy.admin(move |c| c.put_route(&route("web", &[], "/", to)).unwrap()).await;
        let (status, body) = get(&client, &url).await.unwrap();
        assert_eq!((status, version(&body)), (200, name.to_string()), "a request after the switch");
        switches += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    for worker in workers {
        let (ok, failures, versions) = worker.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        assert!(versions.iter().all(|v| v == "v1" || v == "v2"), "{versions:?}");
        total += ok;
    }
    assert!(total > 100, "only {total} requests under load");
    let stats = proxy.admin(|c| c.stats("web").unwrap()).await;
    for target in [v1, v2] {
        let t = &stats["targets"][target.to_string()];
        assert_eq!(t["status"]["5xx"], 0, "{stats}");
        assert!(t["requests"].as_u64().unwrap() > 0, "{stats}");
    }
}

/// A client that connected before a stop began but sends its first request only after the idle grace
/// (a loaded machine can delay it that long) is still answered, told to close, and the stop waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_accepted_before_a_stop_is_answered_however_late_its_first_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let v1 = backend("v1", &[]);
    let proxy = TestProxy::start(vec![route("web", &[], "/", v1)]).await;
    // An idle keep-alive connection (it has had a request): the proxy closes it once the grace is over.
    let mut idle = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        idle.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let length: usize = head.split("content-length: ").nth(1).and_then(|r| r.lines().next()).unwrap().parse().unwrap();
    idle.read_exact(&mut vec![0; length]).await.unwrap();
    let mut early = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    // Accepted: both connections and the health request's own are open.
    wait_until("the proxy to accept the connection", || {
        let socket = proxy.socket();
        async move { admin(socket, |c| c.health().unwrap()["connections"].as_u64()).await >= Some(3) }
    })
    .await;
    proxy.handle.shutdown();
    // The idle connection closed: the grace is over.
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, idle.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    early.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, early.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response).to_lowercase();
    assert!(response.starts_with("http/1.1 200"), "{response:?}");
    assert!(response.contains("connection: close"), "{response}");
    assert!(response.contains("\"v1\""), "{response}");
    assert_eq!(tokio::time::timeout(DEADLINE, proxy.handle.wait()).await.unwrap(), tugboat_proxy::Exit::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_and_websockets_survive_a_switch_and_drain_waits_for_them() {
    let v1 = backend("v1", &[]);
    let v2 = backend("v2", &[]);
    let proxy = TestProxy::start(vec![route("web", &[], "/", v1)]).await;
    let client = client();

    // An SSE stream (15 events, 100 ms apart) and a WebSocket, both opened on v1.
    let response = client.get(proxy.url("/sse?n=15&every=100").parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut received = String::new();
    let next_event = async |body: &mut hyper::body::Incoming, received: &mut String| {
        let want = received.matches("\n\n").count() + 1;
        while received.matches("\n\n").count() < want {
            let frame = tokio::time::timeout(DEADLINE, body.frame()).await.unwrap().unwrap().unwrap();
            if let Some(data) = frame.data_ref() {
                received.push_str(&String::from_utf8_lossy(data));
            }
        }
    };
    next_event(&mut body, &mut received).await;
    assert!(received.starts_with("data: 1\n\n"), "{received:?}");
    let mut ws = Ws::connect(proxy.addr(), "x").await;
    assert_eq!(ws.echo("before").await, "before");

    proxy.admin(move |c| c.put_route(&route("web", &[], "/", v2)).unwrap()).await;
    let (_, body_v2) = get(&client, &proxy.url("/")).await.unwrap();
    assert_eq!(version(&body_v2), "v2");

    // Both keep flowing after the switch: events arrive one by one while the stream is still open.
    next_event(&mut body, &mut received).await;
    assert!(received.contains("data: 2\n\n"), "{received:?}");
    assert_eq!(ws.echo("after").await, "after");
    let (drained, in_flight) = proxy.admin(move |c| c.drain("web", v1, Duration::from_millis(50)).unwrap()).await;
    assert!(!drained);
    assert_eq!(in_flight, 2, "the stream and the tunnel are in flight on v1");
    ws.close().await;

    // The drain returns once the stream has ended (and the tunnel closed).
    let socket = proxy.socket();
    let drain = tokio::spawn(admin(socket, move |c| c.drain("web", v1, DEADLINE).unwrap()));
    while let Some(frame) = tokio::time::timeout(DEADLINE, body.frame()).await.unwrap() {
        if let Some(data) = frame.unwrap().data_ref() {
            received.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert_eq!(received.matches("\n\n").count(), 15, "{received:?}");
    assert_eq!(drain.await.unwrap(), (true, 0));
    let stats = proxy.admin(|c| c.stats("web").unwrap()).await;
    assert_eq!(stats["targets"][v1.to_string()]["in_flight"], 0);
    assert_eq!(stats["targets"][v1.to_string()]["status"]["1xx"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_proxy_serves_the_persisted_routes_at_once() {
    let v1 = backend("v1", &[]);
    let first = TestProxy::start(vec![]).await;
    let (status, _, _) = raw(first.addr(), &get_head("x", "/", "")).await;
    assert_eq!(status, 404);
    first.admin(move |c| c.put_route(&route("web", &["app.test"], "/", v1)).unwrap()).await;
    first.admin(|c| c.put_route(&route("down", &["down.test"], "/", closed_port())).unwrap()).await;
    first.admin(|c| c.maintenance("down", true, Some("<h1>back soon</h1>")).unwrap()).await;
    // Persisted before the answer: the file already has both.
    let saved = tugboat_proxy::load_state(&first.config.state).unwrap().unwrap();
    assert_eq!(saved.routes.len(), 2);
    assert_eq!(saved.maintenance["down"], "<h1>back soon</h1>");
    first.handle.shutdown();
    first.handle.wait().await;

    // Same state file, same admin socket path, fresh listeners: no PUT needed.
    let TestProxy { dir, config, .. } = first;
    let second = TestProxy::start_with(dir, config).await;
    let (status, _, body) = raw(second.addr(), &get_head("app.test", "/", "")).await;
    assert_eq!((status, version(&body).as_str()), (200, "v1"));
    let (status, head, body) = raw(second.addr(), &get_head("down.test", "/", "")).await;
    assert_eq!(status, 503);
    assert!(head.to_ascii_lowercase().contains("content-type: text/html"), "{head}");
    assert_eq!(body, "<h1>back soon</h1>");
    let routes = second.admin(|c| c.routes().unwrap()).await;
    assert_eq!(routes.iter().map(|r| r.service.as_str()).collect::<Vec<_>>(), ["down", "web"]);
    second.admin(|c| c.delete_route("web").unwrap()).await;
    let (status, _, _) = raw(second.addr(), &get_head("app.test", "/", "")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_is_bounded_and_maintenance_shows_the_page() {
    let v1 = backend("v1", &[]);
    let proxy = TestProxy::start(vec![route("web", &[], "/", v1)]).await;
    let addr = proxy.addr();

    // Bounded: held for max_ms, then 503.
    proxy.admin(|c| c.pause("web", Duration::from_millis(300)).unwrap()).await;
    let started = Instant::now();
    let (status, _, body) = raw(addr, &get_head("x", "/", "")).await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Held until resumed, then served.
    proxy.admin(|c| c.pause("web", DEADLINE).unwrap()).await;
    let held = tokio::spawn(async move { raw(addr, &get_head("x", "/", "")).await });
    wait_until("the request to be held", || {
        let socket = proxy.socket();
        async move { admin(socket, |c| c.health().unwrap()["held"] == 1).await }
    })
    .await;
    proxy.admin(|c| c.resume("web").unwrap()).await;
    let (status, _, body) = held.await.unwrap();
    assert_eq!((status, version(&body).as_str()), (200, "v1"));

    proxy.admin(|c| c.maintenance("web", true, Some("closed for cleaning")).unwrap()).await;
    let (status, head, body) = raw(addr, &get_head("x", "/", "")).await;
    assert_eq!((status, body.as_str()), (503, "closed for cleaning"));
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain"), "{head}");
    proxy.admin(|c| c.maintenance("web", false, None).unwrap()).await;
    let (status, _, _) = raw(addr, &get_head("x", "/", "")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary_sessions_are_drawn_and_sticky() {
    let stable = backend("stable", &[]);
    let canary = backend("canary", &[]);
    let mut r = route("web", &[], "/", stable);
    r.canary = Some(Canary { address: canary, percent: 30 });
    let proxy = TestProxy::start(vec![r]).await;
    let addr = proxy.addr();
    let clients = 200;
    let mut to_canary = 0;
    for _ in 0..clients {
        let (status, head, body) = raw(addr, &get_head("x", "/", "")).await;
        assert_eq!(status, 200);
        let served = version(&body);
        let cookie = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("set-cookie: ").map(str::to_string))
            .unwrap_or_else(|| panic!("no Set-Cookie for a new client: {head}"));
        let expected = if served == "canary" { "tug_canary=1;" } else { "tug_canary=0;" };
        assert!(cookie.starts_with(expected), "{cookie} for {served}");
        to_canary += usize::from(served == "canary");
    }
    // Exactly 30 of every hundred new sessions (the draw is even, not random).
    assert_eq!(to_canary, 60, "{to_canary} of {clients} new clients went to the canary");
    // The cookie is honoured, and not set again.
    for (cookie, want) in [("tug_canary=1", "canary"), ("tug_canary=0", "stable")] {
        for _ in 0..10 {
            let (_, head, body) = raw(addr, &get_head("x", "/", &format!("Cookie: a=b; {cookie}\r\n"))).await;
            assert_eq!(version(&body), want);
            assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_listener_negotiates_h2_by_alpn() {
    use std::sync::Arc;
    let v1 = backend("v1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let mut config = TestProxy::config(&dir);
    config.listen = vec![tugboat_proxy::Listen {
        address: "127.0.0.1:0".parse().unwrap(),
        tls: Some(tugboat_proxy::TlsFiles { cert, key }),
    }];
    config.routes = vec![route("web", &[], "/", v1)];
    let proxy = TestProxy::start_with(dir, config).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get("https://localhost/headers").body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!((response.status().as_u16(), response.version()), (200, hyper::Version::HTTP_2));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let seen: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["x-forwarded-proto"], "https");
    assert_eq!(seen["host"], "localhost");
}
