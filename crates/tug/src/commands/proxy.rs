//! `tug proxy`: the blue-green reverse proxy in front of the stack (`proxy:` in tugboat.yml), until
//! SIGTERM/SIGINT (drains, then exits 0). SIGUSR2 hands its sockets to a new `tug proxy` process — the
//! binary at the same path, so an upgraded `tug` takes over with no gap.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tugboat_proxy::{AcmeConfig, Listen, ProxyConfig, TlsConfig, TlsFiles, UpgradeCommand};

use crate::cli::{Global, ProxyArgs};
use crate::exit::{Exit, UsageError};

/// `proxy:` of tugboat.yml as the proxy runs it; paths relative to tugboat.yml.
pub fn config(stack: &tugboat::stack::Stack) -> anyhow::Result<ProxyConfig> {
    let p = stack.config.proxy.clone().unwrap_or_default();
    let base =
        stack.config_file.as_ref().and_then(|(f, _)| f.parent().map(Path::to_path_buf)).unwrap_or(stack.dir.clone());
    let listen = if p.listen.is_empty() { vec!["127.0.0.1:8088".to_string()] } else { p.listen.clone() };
    let listen = listen
        .iter()
        .map(|l| {
            l.parse().map(Listen::plain).map_err(|e| UsageError(format!("proxy.listen: `{l}`: {e} (write host:port)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let admin = super::deploy::admin_socket(stack);
    let state = base.join(p.state.as_deref().unwrap_or(".tugboat/proxy-routes.json"));
    let mut config = ProxyConfig::new(listen, admin, state);
    if let Some(t) = p.request_timeout {
        config.request_timeout_ms = t.0.as_millis() as u64;
    }
    if let Some(t) = p.idle_timeout {
        config.idle_timeout_ms = t.0.as_millis() as u64;
    }
    config.access_log = match p.access_log.as_deref() {
        None | Some("stdout") => Some("-".into()),
        Some("off") => None,
        Some(path) => Some(base.join(path).display().to_string()),
    };
    if let Some(tls) = &p.tls {
        tls_config(&mut config, tls, &base)?;
    }
    Ok(config)
}

/// `proxy.tls`: an HTTPS listener with files, or with ACME certificates kept in `.tugboat/certs`.
fn tls_config(config: &mut ProxyConfig, tls: &tugboat::stack::deployment::ProxyTls, base: &Path) -> anyhow::Result<()> {
    let listen = tls.listen.as_deref().unwrap_or("0.0.0.0:443");
    let address =
        listen.parse().map_err(|e| UsageError(format!("proxy.tls.listen: `{listen}`: {e} (write host:port)")))?;
    if config.listen.iter().any(|l| l.address == address) {
        return Err(UsageError(format!("proxy.tls.listen: {address} is also in proxy.listen")).into());
    }
    match (&tls.cert_file, &tls.key_file, &tls.acme) {
        (Some(cert), Some(key), None) => {
            config.listen.push(Listen { address, tls: Some(TlsFiles { cert: base.join(cert), key: base.join(key) }) });
        }
        (None, None, Some(a)) => {
            if a.domains.is_empty() {
                return Err(UsageError("proxy.tls.acme.domains: name at least one domain".into()).into());
            }
            let mut acme = AcmeConfig::new(a.directory.clone(), a.domains.clone(), base.join(".tugboat/certs"));
            acme.email.clone_from(&a.email);
            acme.ca_file = a.ca_file.as_ref().map(|f| base.join(f));
            if let Some(d) = a.renew_before {
                acme.renew_before_s = d.0.as_secs();
            }
            config.listen.push(Listen::plain(address));
            config.tls = Some(TlsConfig { listen: vec![address], acme });
        }
        _ => {
            return Err(UsageError(
                "proxy.tls: give either cert_file and key_file, or acme (not both, not one file alone)".into(),
            )
            .into())
        }
    }
    config.redirect_http = tls.redirect_http;
    Ok(())
}

pub fn run(g: &Global, args: &ProxyArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, true)?;
    let mut config = config(&stack)?;
    if args.dry_run {
        super::print_plan(g, &DryRun(&config))?;
        return Ok(Exit::Ok);
    }
    if let Some(dir) = config.admin_socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The successor of a graceful upgrade is the binary at this path, with the same arguments.
    let program: PathBuf = std::env::current_exe().context("cannot find tug's own executable")?;
    config.upgrade = Some(UpgradeCommand { program, args: std::env::args().skip(1).collect() });
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).try_init();
    tugboat_proxy::run(config)?;
    Ok(Exit::Ok)
}

struct DryRun<'a>(&'a ProxyConfig);

impl serde::Serialize for DryRun<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl std::fmt::Display for DryRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.0;
        let listen: Vec<String> = c.listen.iter().map(|l| l.address.to_string()).collect();
        writeln!(f, "tug proxy: listen {}", listen.join(", "))?;
        writeln!(f, "  admin socket: {}", c.admin_socket.display())?;
        writeln!(f, "  routes kept in: {}", c.state.display())?;
        for l in &c.listen {
            if let Some(files) = &l.tls {
                writeln!(f, "  https on {}: certificate {}", l.address, files.cert.display())?;
            }
        }
        if let Some(tls) = &c.tls {
            let listen: Vec<String> = tls.listen.iter().map(ToString::to_string).collect();
            writeln!(
                f,
                "  https on {}: ACME certificates for {} from {} (kept in {}, renewed {} days before expiry)",
                listen.join(", "),
                tls.acme.domains.join(", "),
                tls.acme.directory,
                tls.acme.dir.display(),
                tls.acme.renew_before_s / 86_400
            )?;
        }
        if c.redirect_http {
            writeln!(f, "  plain HTTP redirects to HTTPS")?;
        }
        writeln!(
            f,
            "  timeouts: request {} ms, idle {} ms, drain {} ms",
            c.request_timeout_ms, c.idle_timeout_ms, c.drain_timeout_ms
        )
    }
}
