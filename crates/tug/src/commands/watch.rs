//! `tug watch`: the monitoring daemon. SIGTERM or Ctrl-C stops it gracefully; SIGHUP reloads tugboat.yml
//! (an invalid file is logged and the running configuration kept).

use std::io::Write;

use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};
use tugboat::stack::checks::HumanDuration;
use tugboat_watch::watch::{self, Loaded, Options};

use crate::cli::{Global, LogFormat, WatchArgs};
use crate::exit::Exit;
use crate::render::style::{paint, BOLD, DIM};

pub fn run(g: &Global, args: &WatchArgs) -> anyhow::Result<Exit> {
    let mut job_command = vec![std::env::current_exe()?.into_os_string()];
    if let Some(env) = &g.environment {
        job_command.extend(["--env".into(), env.into()]);
    }
    let options = Options {
        dir: args.dir.clone(),
        environment: g.environment.clone(),
        state: super::state_path(&args.dir, g),
        listen: args.listen.clone(),
        job_command,
    };
    let loaded = watch::load(&options)?;
    if args.dry_run {
        return dry_run(g, &loaded);
    }
    // `--json` on a daemon means machine-readable logs.
    init_logging(if g.json { LogFormat::Json } else { args.log_format });
    let runtime = tugboat_watch::runtime()?;
    runtime.block_on(async move {
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration");
                let _ = reload_tx.send(()).await;
            }
        });
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM"),
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            }
        };
        watch::run(options, loaded, reload_rx, shutdown, None).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Ok)
}

/// The plan: every check with its interval and alert rule, the providers, schedules and windows.
fn dry_run(g: &Global, loaded: &Loaded) -> anyhow::Result<Exit> {
    let now = chrono::Local::now();
    let checks: Vec<serde_json::Value> = loaded
        .checks
        .iter()
        .map(|c| {
            let rule = &loaded.rules[&c.id];
            json!({
                "check": c.id, "kind": c.kind, "target": c.target,
                "interval": HumanDuration(loaded.intervals[&c.id]).to_string(),
                "conditions": c.steps.iter().flat_map(|s| s.conditions.iter().map(|c| c.text.clone())).collect::<Vec<_>>(),
                "alert": {
                    "enabled": rule.enabled, "failure_threshold": rule.failure_threshold,
                    "success_threshold": rule.success_threshold,
                    "renotify": rule.renotify.map(|d| HumanDuration(d).to_string()),
                    "providers": if rule.providers.is_empty() { loaded.notifier.names() } else { rule.providers.clone() },
                },
            })
        })
        .collect();
    let schedules: Vec<serde_json::Value> = loaded
        .schedules
        .iter()
        .map(|(what, cron)| json!({"job": what, "cron": cron.to_string(), "next": cron.next_after(now).map(|t| t.to_rfc3339())}))
        .collect();
    let plan = json!({
        "stack": loaded.stack.name,
        "listen": loaded.listen,
        "token": loaded.token.is_some(),
        "checks": checks,
        "providers": loaded.notifier.names(),
        "schedules": schedules,
        "maintenance": loaded.maintenance.iter().map(|(c, d)| json!({"cron": c.to_string(), "duration": HumanDuration(*d).to_string()})).collect::<Vec<_>>(),
        "heartbeat": loaded.heartbeat.as_ref().map(|(_, every)| HumanDuration(*every).to_string()),
    });
    if g.json {
        super::print_json(&plan)?;
        return Ok(Exit::Ok);
    }
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "{} would watch {} checks, status page on http://{}/",
        paint(BOLD, &loaded.stack.name),
        checks.len(),
        loaded.listen
    );
    for c in &checks {
        let a = &c["alert"];
        let alert = if a["enabled"] == true {
            format!(
                "alert after {} failures via {}",
                a["failure_threshold"],
                a["providers"]
                    .as_array()
                    .map(|p| p.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            )
        } else {
            "no alerts".into()
        };
        let _ = writeln!(
            out,
            "  {:<28} every {:<5} {:<9} {}  {}",
            c["check"].as_str().unwrap_or_default(),
            c["interval"].as_str().unwrap_or_default(),
            c["kind"].as_str().unwrap_or_default(),
            c["target"].as_str().unwrap_or_default(),
            paint(DIM, &alert)
        );
    }
    for s in &schedules {
        let _ = writeln!(
            out,
            "  schedule {:<19} {}  next {}",
            s["job"].as_str().unwrap_or_default(),
            s["cron"].as_str().unwrap_or_default(),
            s["next"].as_str().unwrap_or("never")
        );
    }
    if loaded.notifier.names().is_empty() {
        let _ = writeln!(out, "  {}", paint(DIM, "no alert providers: failures are shown and measured, not sent"));
    }
    Ok(Exit::Ok)
}

fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
