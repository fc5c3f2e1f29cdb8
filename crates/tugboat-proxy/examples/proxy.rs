//! Runs the proxy from a JSON config file (until `tug proxy` exists): `cargo run --release -p
//! tugboat-proxy --example proxy -- proxy.json`. Upgrades re-run this same binary with the same arguments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: proxy CONFIG.json");
        return ExitCode::from(2);
    };
    let mut config = match tugboat_proxy::ProxyConfig::from_file(std::path::Path::new(path)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("proxy: {e}");
            return ExitCode::from(2);
        }
    };
    if config.upgrade.is_none() {
        let program = std::env::current_exe().expect("current_exe");
        config.upgrade = Some(tugboat_proxy::UpgradeCommand { program, args: args[1..].to_vec() });
    }
    match tugboat_proxy::run(config) {
        Ok(exit) => {
            eprintln!("proxy {}: {exit:?}", std::process::id());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("proxy: {e}");
            ExitCode::from(1)
        }
    }
}
