//! TLS from ACME against a real CA (Debian's pebble, started per test on free ports): issuance over
//! HTTP-01 answered by the proxy, the right chain per SNI, renewal served without a restart, a failed
//! renewal keeping the old certificate with capped exponential backoff, and the HTTP->HTTPS redirect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use support::pebble::Pebble;
use support::*;
use tugboat_proxy::{AcmeConfig, Listen, ProxyConfig, Route, TlsConfig};

/// The plain listener on `http_port` (pebble validates there), the HTTPS one on 127.0.0.2 (its own
/// configured address, so `tls.listen` names it alone), ACME for `domains`.
fn acme_config(dir: &tempfile::TempDir, http_port: u16, pebble: &Pebble, domains: &[&str]) -> ProxyConfig {
    let mut config = TestProxy::config(dir);
    let https: SocketAddr = "127.0.0.2:0".parse().unwrap();
    config.listen = vec![Listen::plain(SocketAddr::from(([127, 0, 0, 1], http_port))), Listen::plain(https)];
    let mut acme = AcmeConfig::new(
        pebble.directory.clone(),
        domains.iter().map(|d| d.to_string()).collect(),
        dir.path().join("certs"),
    );
    acme.email = Some("ops@example.org".into());
    acme.ca_file = Some(pebble.ca_file.clone());
    acme.check_interval_ms = 100;
    acme.retry_min_ms = 100;
    acme.retry_max_ms = 800;
    config.tls = Some(TlsConfig { listen: vec![https], acme });
    config.redirect_http = true;
    config.routes = vec![Route::single("web", backend("v1", &[]))];
    config
}

fn free_port() -> u16 {
    closed_port().port()
}

async fn certificates(proxy: &TestProxy) -> Vec<Value> {
    let (status, body) = proxy.admin(|c| c.request("GET", "/certificates", None).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    body["certificates"].as_array().unwrap().clone()
}

async fn entry(proxy: &TestProxy, name: &str) -> Value {
    certificates(proxy).await.into_iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

async fn wait_issued(proxy: &TestProxy, names: &[&str]) {
    for name in names {
        let name = name.to_string();
        wait_until(&format!("a certificate for {name}"), || async {
            entry(proxy, &name).await["not_after"].is_string()
        })
        .await;
    }
}

/// A TLS handshake to `addr` with SNI `name`, verified against `root_pem` alone (chain and name); then a
/// GET through it. Returns the chain served and the response status.
async fn https_get(
    addr: SocketAddr,
    name: &str,
    root_pem: &str,
) -> Result<(Vec<CertificateDer<'static>>, u16), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let chain = tls.get_ref().1.peer_certificates().unwrap().to_vec();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = hyper::Request::get("/").header("host", name).body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok((chain, status))
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issues_a_certificate_per_name_and_serves_each_by_sni() {
    let http_port = free_port();
    let pebble = tokio::task::spawn_blocking(move || Pebble::start(http_port, None)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = acme_config(&dir, http_port, &pebble, &["a.test", "b.test"]);
    let proxy = TestProxy::start_with(dir, config.clone()).await;
    wait_issued(&proxy, &["a.test", "b.test"]).await;
    let https = proxy.handle.addrs()[1];
    let root = pebble.root_pem();

    let (a_chain, status) = https_get(https, "a.test", &root).await.unwrap();
    assert_eq!(status, 200);
    assert!(a_chain.len() >= 2, "leaf and intermediate: {}", a_chain.len());
    let (b_chain, status) = https_get(https, "b.test", &root).await.unwrap();
    assert_eq!(status, 200);
    assert_ne!(a_chain[0], b_chain[0], "each name has its own certificate");
    // A name without a certificate gets the first name's, which the client rejects for that name.
    let err = https_get(https, "c.test", &root).await.unwrap_err();
    assert!(err.contains("handshake"), "{err}");

    let a = entry(&proxy, "a.test").await;
    assert_eq!(a["source"], "acme");
    assert!(a["error"].is_null() && a["failures"] == 0 && a["next_attempt"].is_string(), "{a}");
    let certs = proxy.dir.path().join("certs");
    assert_eq!(mode(&certs.join("a.test.key")), 0o600);
    assert_eq!(mode(&certs.join("account.key")), 0o600);
    assert!(std::fs::read_to_string(certs.join("b.test.crt")).unwrap().contains("BEGIN CERTIFICATE"));

    // A restarted proxy serves the stored certificates at once, without asking the CA.
    let mut pebble = pebble;
    pebble.stop();
    proxy.handle.shutdown();
    proxy.handle.wait().await;
    let TestProxy { dir, .. } = proxy;
    let proxy = TestProxy::start_with(dir, config).await;
    let (again, _) = https_get(proxy.handle.addrs()[1], "a.test", &root).await.unwrap();
    assert_eq!(again[0], a_chain[0]);
    assert!(entry(&proxy, "a.test").await["error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renews_before_expiry_and_serves_the_new_certificate_without_a_restart() {
    let http_port = free_port();
    // One-hour certificates, renewed two hours before expiry: each is due as soon as it is installed.
    let pebble =
        tokio::task::spawn_blocking(move || Pebble::start(http_port, Some(Duration::from_secs(3600)))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = acme_config(&dir, http_port, &pebble, &["a.test"]);
    config.tls.as_mut().unwrap().acme.renew_before_s = 7200;
    let proxy = TestProxy::start_with(dir, config).await;
    wait_issued(&proxy, &["a.test"]).await;
    let https = proxy.handle.addrs()[1];
    let root = pebble.root_pem();
    let (first, _) = https_get(https, "a.test", &root).await.unwrap();
    let first_renewed = entry(&proxy, "a.test").await["renewed"].clone();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let renewed = loop {
        if let Ok((chain, 200)) = https_get(https, "a.test", &root).await {
            if chain[0] != first[0] {
                break Some(chain);
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no renewed certificate served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let renewed = renewed.unwrap();
    assert!(renewed.len() >= 2);
    let now = entry(&proxy, "a.test").await;
    assert_ne!(now["renewed"], first_renewed, "{now}");
    assert!(now["error"].is_null(), "{now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_renewal_keeps_the_old_certificate_and_backs_off() {
    let http_port = free_port();
    let mut pebble =
        tokio::task::spawn_blocking(move || Pebble::start(http_port, Some(Duration::from_secs(3600)))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = acme_config(&dir, http_port, &pebble, &["a.test"]);
    config.tls.as_mut().unwrap().acme.renew_before_s = 7200;
    let proxy = TestProxy::start_with(dir, config).await;
    wait_issued(&proxy, &["a.test"]).await;
    let root = pebble.root_pem();
    // The CA goes away (a network problem): every renewal from now on fails.
    pebble.stop();
    let https = proxy.handle.addrs()[1];
    let (served, _) = https_get(https, "a.test", &root).await.unwrap();

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let e = entry(&proxy, "a.test").await;
        let failures = e["failures"].as_u64().unwrap();
        if failures > 0 {
            seen.push((failures, e["retry_delay_ms"].as_u64().unwrap(), e["error"].clone()));
        }
        if failures >= 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "five failed renewals: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (failures, delay, error) in &seen {
        // 100 ms doubling per failure, capped at 800 ms.
        assert_eq!(*delay, (100u64 << (failures - 1).min(10)).min(800), "failure {failures}");
        let error = error.as_str().unwrap();
        assert!(error.contains("/dir"), "the error names the CA's URL: {error}");
    }
    assert!(seen.iter().any(|(_, d, _)| *d == 800), "the backoff reached its cap: {seen:?}");
    let e = entry(&proxy, "a.test").await;
    assert!(e["not_after"].is_string() && e["next_attempt"].is_string(), "{e}");

    let (still, status) = https_get(https, "a.test", &root).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(still[0], served[0], "the old certificate is still served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plain_http_redirects_to_https_and_lists_file_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["web.test".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let mut config = TestProxy::config(&dir);
    let tls = Listen { address: "127.0.0.1:0".parse().unwrap(), tls: Some(tugboat_proxy::TlsFiles { cert, key }) };
    config.listen.push(tls);
    config.redirect_http = true;
    config.routes = vec![Route::single("web", backend("v1", &[]))];
    let proxy = TestProxy::start_with(dir, config).await;
    let https_port = proxy.handle.addrs()[1].port();

    let (status, head, _) = raw(proxy.addr(), &get_head("web.test:8080", "/a/b?x=1", "")).await;
    assert_eq!(status, 308, "{head}");
    let location = format!("location: https://web.test:{https_port}/a/b?x=1");
    assert!(head.to_ascii_lowercase().contains(&location), "{head}");
    // A challenge token the proxy does not hold is not redirected: it is routed (an app may answer it).
    let (status, head, body) = raw(proxy.addr(), &get_head("web.test", "/.well-known/acme-challenge/xyz", "")).await;
    assert_ne!(status, 308, "{head}");
    assert!(!body.contains("tug proxy"), "the backend answered: {body}");

    let list = certificates(&proxy).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["source"], "file");
    // rcgen's default notAfter.
    assert_eq!(list[0]["not_after"], "4096-01-01T00:00:00Z", "{list:?}");
}

#[tokio::test]
async fn a_tls_listen_address_missing_from_listen_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestProxy::config(&dir);
    let acme = AcmeConfig::new("https://127.0.0.1:1/dir", vec!["a.test".into()], dir.path().join("certs"));
    config.tls = Some(TlsConfig { listen: vec!["127.0.0.1:443".parse().unwrap()], acme });
    let listeners = tugboat_proxy::Listeners::bind(&config).unwrap();
    let err = tugboat_proxy::start(config, listeners).await.err().unwrap().to_string();
    assert!(err.contains("tls.listen 127.0.0.1:443"), "{err}");
}
