//! Graceful upgrade under load, across real processes: this test binary is also the new proxy an upgrade
//! starts (`--tug-proxy-child CONFIG` runs `tugboat_proxy::run`, as `tug proxy` will). The first proxy runs
//! in process; it hands its sockets to child 1 (ProxyHandle::upgrade); SIGUSR2 makes child 1 hand them to
//! child 2 and exit 0; SIGTERM stops child 2. Clients never see a failed request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use support::*;
use tugboat_proxy::{AdminClient, ProxyConfig, Route, UpgradeCommand};

const CHILD_FLAG: &str = "--tug-proxy-child";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        let config = ProxyConfig::from_file(std::path::Path::new(&args[i + 1])).unwrap();
        let exit = tugboat_proxy::run(config).unwrap();
        eprintln!("child {}: {exit:?}", std::process::id());
        std::process::exit(0);
    }
    // `cargo test -- --list` and filters: this binary holds one test.
    if args.iter().any(|a| a == "--list") {
        println!("upgrade_under_load: test");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(upgrade_under_load());
    println!("test upgrade_under_load ... ok");
}

fn health_pid(admin: &AdminClient) -> Option<u64> {
    admin.health().ok().and_then(|h| h["pid"].as_u64())
}

async fn upgrade_under_load() {
    let v1 = backend("v1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestProxy::config(&dir);
    config.access_log = None;
    config.drain_timeout_ms = 10_000;
    let config_path = dir.path().join("proxy.json");
    config.upgrade = Some(UpgradeCommand {
        program: std::env::current_exe().unwrap(),
        args: vec![CHILD_FLAG.into(), config_path.display().to_string()],
    });
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let proxy = TestProxy::start_with(dir, config.clone()).await;
    proxy.admin(move |c| c.put_route(&Route::single("web", v1)).unwrap()).await;
    let url = proxy.url("/");
    let addr = proxy.addr();

    // A failing new process: the upgrade is refused and this proxy keeps serving.
    let mut broken = config.clone();
    broken.upgrade = Some(UpgradeCommand { program: "/bin/false".into(), args: vec![] });
    let broken_dir = tempfile::tempdir().unwrap();
    broken.admin_socket = broken_dir.path().join("admin.sock");
    broken.state = broken_dir.path().join("routes.json");
    broken.listen = vec![tugboat_proxy::Listen::plain("127.0.0.1:0".parse().unwrap())];
    let lone = TestProxy::start_with(broken_dir, broken).await;
    let err = lone.handle.upgrade().await.unwrap_err().to_string();
    assert!(err.contains("exited"), "{err}");
    let health = lone.admin(|c| c.health().unwrap()).await;
    assert_eq!(health["status"], "ok");

    // Load: keep-alive clients and a connection-per-request client.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for i in 0..5 {
        let (url, stop, ok) = (url.clone(), stop.clone(), ok.clone());
        workers.push(tokio::spawn(async move {
            let client = client();
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let result = if i == 0 {
                    match raw(addr, &get_head("x", "/", "")).await {
                        (200, _, body) => Ok((200, body)),
                        (status, head, _) => Err(format!("{status} {head}")),
                    }
                } else {
                    get(&client, &url).await
                };
                match result {
                    Ok((200, body)) if version(&body) == "v1" => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    other => failures.push(format!("{other:?}")),
                }
            }
            failures
        }));
    }
    let served = |n: u64| {
        let ok = ok.clone();
        async move {
            let start = ok.load(Ordering::SeqCst);
            wait_until("requests to be served", || {
                let ok = ok.clone();
                async move { ok.load(Ordering::SeqCst) >= start + n }
            })
            .await;
        }
    };
    served(200).await;

    // In-process proxy -> child 1.
    let mut child1 = proxy.handle.upgrade().await.unwrap();
    let child1_pid = u64::from(child1.pid());
    assert_eq!(tokio::time::timeout(DEADLINE, proxy.handle.wait()).await.unwrap(), tugboat_proxy::Exit::Upgraded);
    let socket = proxy.socket();
    assert_eq!(admin(socket.clone(), |c| health_pid(&c)).await, Some(child1_pid));
    served(200).await;

    // Child 1 -> child 2 on SIGUSR2; child 1 exits 0 once drained.
    let status = std::process::Command::new("kill").args(["-USR2", &child1_pid.to_string()]).status().unwrap();
    assert!(status.success());
    wait_until("child 2 to serve the admin socket", || {
        let socket = socket.clone();
        async move { admin(socket, |c| health_pid(&c)).await.is_some_and(|pid| pid != child1_pid) }
    })
    .await;
    let child2_pid = admin(socket.clone(), |c| health_pid(&c)).await.unwrap();
    let exit = tokio::task::spawn_blocking(move || child1.child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "child 1: {exit}");
    served(200).await;

    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        let failures = worker.await.unwrap();
        assert!(failures.is_empty(), "failed requests during the upgrades: {failures:?}");
    }
    // Child 2 loaded the routes from the state file and counts its own requests.
    let stats = admin(socket.clone(), |c| c.stats("web").unwrap()).await;
    assert!(stats["targets"][v1.to_string()]["status"]["2xx"].as_u64().unwrap() >= 200, "{stats}");
    assert_eq!(stats["targets"][v1.to_string()]["status"]["5xx"], 0, "{stats}");

    // SIGTERM: child 2 drains and goes; its admin socket goes with it.
    let status = std::process::Command::new("kill").args(["-TERM", &child2_pid.to_string()]).status().unwrap();
    assert!(status.success());
    wait_until("child 2 to stop", || {
        let socket = socket.clone();
        async move { !socket.exists() && std::net::TcpStream::connect(addr).is_err() }
    })
    .await;
}
