//! `tug restore SOURCE [--snapshot ID] [--to URL|NAME|scratch|PATH] [--force]`.

use serde_json::json;
use tugboat::db::scratch::ScratchServer;
use tugboat::db::{schema, Session};
use tugboat::migrate::{clear_target, dump_file_name, restore_from};
use tugboat::store::Outcome;
use tugboat_backup::repo::{Repo, SnapshotInfo};

use super::backup::{load, open_repo};
use crate::cli::{Global, RestoreArgs};
use crate::exit::{Exit, UsageError};

/// The snapshot to use: the given id (prefix), or the latest of the source.
pub fn pick_snapshot(repo: &Repo, stack: &str, source: &str, id: Option<&str>) -> anyhow::Result<Option<SnapshotInfo>> {
    let list = repo.snapshots(&[format!("stack={stack}"), format!("source={source}")])?;
    Ok(match id {
        Some(id) => Some(
            list.into_iter()
                .find(|s| s.id.starts_with(id))
                .ok_or_else(|| UsageError(format!("no snapshot {id} of source `{source}`")))?,
        ),
        None => list.into_iter().last(),
    })
}

pub fn run(g: &Global, args: &RestoreArgs) -> anyhow::Result<Exit> {
    let stack = load(&args.dir, g)?;
    let source = stack
        .config
        .backup
        .as_ref()
        .and_then(|b| b.sources.iter().find(|s| s.display_name() == args.source))
        .ok_or_else(|| UsageError(format!("no backup source `{}` in tugboat.yml", args.source)))?
        .clone();
    let repo = open_repo(&stack)?;
    let snapshot = pick_snapshot(&repo, &stack.name, &args.source, args.snapshot.as_deref())?
        .ok_or_else(|| UsageError(format!("no snapshot of `{}` yet: run `tug backup {}`", args.source, args.source)))?;
    let mut store = super::open_store(&args.dir, g)?;
    let mut params = json!({"source": args.source, "snapshot": snapshot.short_id, "to": args.to, "force": args.force});

    let result: anyhow::Result<String> = if let Some(db) = &source.database {
        let live = super::parity::endpoint(db, Some(&stack))?;
        let scratch = if args.to.as_deref() == Some("scratch") {
            let server = ScratchServer::start(live.engine)?;
            server.create_database(&live.database)?;
            Some(server)
        } else {
            None
        };
        let target = match (&scratch, &args.to) {
            (Some(server), _) => server.endpoint(&live.database),
            (None, Some(to)) => super::parity::endpoint(to, Some(&stack))?,
            (None, None) => live.clone(),
        };
        let tables = schema::tables(&mut Session::connect(&target)?)?.len();
        if tables > 0 && !args.force {
            return Err(UsageError(format!(
                "{target} holds {tables} tables: pass --force to replace them with snapshot {}",
                snapshot.short_id
            ))
            .into());
        }
        if tables > 0 {
            clear_target(&target)?;
        }
        let file = dump_file_name(&live);
        let started = std::time::Instant::now();
        restore_from(&target, &mut |w| {
            repo.restore_file(&snapshot.id, &file, w).map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map(|bytes| {
            format!(
                "restored snapshot {} ({} of {file}) into {target} in {:.1}s",
                snapshot.short_id,
                crate::render::human_bytes(bytes),
                started.elapsed().as_secs_f64()
            )
        })
        .map_err(anyhow::Error::from)
    } else {
        let dest = std::path::PathBuf::from(args.to.clone().unwrap_or_else(|| "/".into()));
        let occupied = std::fs::read_dir(&dest).map(|mut d| d.next().is_some()).unwrap_or(false);
        if occupied && !args.force {
            return Err(UsageError(format!(
                "{} is not empty: pass --force to restore over it (files in the snapshot are overwritten)",
                dest.display()
            ))
            .into());
        }
        std::fs::create_dir_all(&dest)?;
        repo.restore_to_path(&snapshot.id, &dest)
            .map(|bytes| {
                format!(
                    "restored snapshot {} ({}) to {}",
                    snapshot.short_id,
                    crate::render::human_bytes(bytes),
                    dest.display()
                )
            })
            .map_err(anyhow::Error::from)
    };
    match result {
        Ok(message) => {
            params["result"] = json!(message);
            super::record(&mut store, &stack.name, stack.config_digest(), "restore", params.clone(), Outcome::Ok)?;
            if g.json {
                super::print_json(&params)?;
            } else {
                super::out(&format!("{message}\n"))?;
            }
            Ok(Exit::Ok)
        }
        Err(e) => {
            let reason = e.to_string().lines().next().unwrap_or("").to_string();
            super::record(&mut store, &stack.name, stack.config_digest(), "restore", params, Outcome::Failed(reason))?;
            Err(e)
        }
    }
}
