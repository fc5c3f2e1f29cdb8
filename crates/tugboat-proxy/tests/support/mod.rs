//! Test support: in-process tug-testserver backends, a proxy on temporary files, small clients.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tugboat_proxy::{AdminClient, Listen, ProxyConfig, ProxyHandle, Route};

pub mod pebble;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// A tug-testserver on a free port, answering `{"version": version, …}` on `/`.
pub fn backend(version: &str, extra: &[&str]) -> SocketAddr {
    let mut args: Vec<String> = vec!["--version".into(), version.into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let config = match tug_testserver::parse_args(&args, &|_| None).unwrap() {
        tug_testserver::Command::Serve(mut config) => {
            config.listen = "127.0.0.1:0".parse().unwrap();
            config
        }
        other => panic!("{other:?}"),
    };
    tug_testserver::Server::bind(config).unwrap().spawn().unwrap()
}

/// A port nothing listens on (bound, then closed).
pub fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

pub struct TestProxy {
    pub dir: tempfile::TempDir,
    pub handle: ProxyHandle,
    pub config: ProxyConfig,
}

impl TestProxy {
    pub fn config(dir: &tempfile::TempDir) -> ProxyConfig {
        let mut config = ProxyConfig::new(
            vec![Listen::plain("127.0.0.1:0".parse().unwrap())],
            dir.path().join("admin.sock"),
            dir.path().join("state/proxy-routes.json"),
        );
        config.access_log = Some(dir.path().join("access.log").display().to_string());
        config
    }

    pub async fn start(routes: Vec<Route>) -> TestProxy {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TestProxy::config(&dir);
        config.routes = routes;
        TestProxy::start_with(dir, config).await
    }

    pub async fn start_with(dir: tempfile::TempDir, config: ProxyConfig) -> TestProxy {
        let listeners = tugboat_proxy::Listeners::bind(&config).unwrap();
        let handle = tugboat_proxy::start(config.clone(), listeners).await.unwrap();
        TestProxy { dir, handle, config }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addrs()[0]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    pub fn socket(&self) -> PathBuf {
        self.config.admin_socket.clone()
    }

    /// Runs a blocking admin call off the runtime's workers.
    pub async fn admin<T: Send + 'static>(&self, f: impl FnOnce(AdminClient) -> T + Send + 'static) -> T {
        admin(self.socket(), f).await
    }
}

pub async fn admin<T: Send + 'static>(socket: PathBuf, f: impl FnOnce(AdminClient) -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(move || f(AdminClient::new(socket))).await.unwrap()
}

/// A keep-alive HTTP/1.1 client.
pub fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET through a client: (status, body).
pub async fn get(client: &Client<HttpConnector, Empty<Bytes>>, url: &str) -> Result<(u16, String), String> {
    let response = client.get(url.parse().unwrap()).await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The `version` in a testserver's `/` body.
pub fn version(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    value["version"].as_str().unwrap().to_string()
}

/// A raw HTTP/1.1 exchange with `Connection: close`: (status, head, body).
pub async fn raw(addr: SocketAddr, request_head: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request_head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

pub fn get_head(host: &str, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
}

/// Waits until `f` is true (polling), or panics at the deadline.
pub async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A minimal WebSocket client over a raw stream: the handshake, masked text frames, reading frames.
pub struct Ws {
    pub stream: TcpStream,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, host: &str) -> Ws {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        Ws { stream }
    }

    pub async fn send_text(&mut self, text: &str) {
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).unwrap()];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// (opcode, payload) of the next server frame.
    pub async fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let read = async {
            let b0 = self.stream.read_u8().await.unwrap();
            let len = self.stream.read_u8().await.unwrap() & 0x7f;
            assert!(len < 126);
            let mut payload = vec![0; usize::from(len)];
            self.stream.read_exact(&mut payload).await.unwrap();
            (b0 & 0x0f, payload)
        };
        tokio::time::timeout(DEADLINE, read).await.unwrap()
    }

    pub async fn echo(&mut self, text: &str) -> String {
        self.send_text(text).await;
        let (opcode, payload) = self.read_frame().await;
        assert_eq!(opcode, 1);
        String::from_utf8(payload).unwrap()
    }

    pub async fn close(mut self) {
        self.stream.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await.unwrap();
        let (opcode, _) = self.read_frame().await;
        assert_eq!(opcode, 8);
    }
}
