//! `tug watch`: the monitoring daemon. SIGTERM or Ctrl-C stops it gracefully; SIGHUP reloads tugboat.yml
//! (an invalid file is logged and the running configuration kept).

use tokio::signal::unix::{signal, SignalKind};
use tugboat_watch::watch::{self, Options};

use crate::cli::{Global, LogFormat, WatchArgs};
use crate::exit::Exit;

pub fn run(g: &Global, args: &WatchArgs) -> anyhow::Result<Exit> {
    init_logging(args.log_format);
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

fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
