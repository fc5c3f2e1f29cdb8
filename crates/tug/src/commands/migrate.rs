//! `tug migrate SOURCE TARGET`: plan, stream dump -> restore with a progress bar, prove parity, audit.

use std::io::Write;

use serde_json::json;
use tugboat::db::scratch::ScratchServer;
use tugboat::migrate::{self, MigrateError};
use tugboat::store::Outcome;

use super::parity as shared;
use crate::cli::{Global, MigrateArgs};
use crate::exit::{Exit, UsageError};
use crate::render::{self, style};

pub fn run(g: &Global, args: &MigrateArgs) -> anyhow::Result<Exit> {
    let stack = shared::stack_for(&args.compare, g, &[&args.source, &args.target])?;
    let source = shared::endpoint(&args.source, stack.as_ref())?;
    // `scratch`: a rehearsal into a throwaway server of the same engine, gone when this command ends.
    let scratch = if args.target == "scratch" {
        let server = ScratchServer::start(source.engine)?;
        server.create_database(&source.database)?;
        Some(server)
    } else {
        None
    };
    let target = match &scratch {
        Some(server) => server.endpoint(&source.database),
        None => shared::endpoint(&args.target, stack.as_ref())?,
    };
    let stack_name = stack.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| "-".into());
    let digest = stack.as_ref().map(|s| s.config_digest()).unwrap_or_default();
    let mut store = super::open_store(&args.compare.dir, g)?;

    if let Some(previous) = store.incomplete_migration(&target.to_string())? {
        if !args.replace && scratch.is_none() {
            return Err(UsageError(format!(
                "an earlier migration into {target} (run {}, status {}) did not finish: the target is incomplete; rerun with --replace",
                previous.id, previous.status
            ))
            .into());
        }
    }
    let plan = match migrate::plan(&source, &target, args.replace) {
        Err(
            e @ (MigrateError::TargetNotEmpty(_) | MigrateError::SameDatabase(_) | MigrateError::EngineMismatch(..)),
        ) => return Err(UsageError(e.to_string()).into()),
        other => other?,
    };
    let mut params = json!({
        "source": plan.source, "target": plan.target, "replace": args.replace, "rehearsal": scratch.is_some(),
        "dump": plan.dump_command, "restore": plan.restore_command,
    });
    if args.dry_run {
        super::record(&mut store, &stack_name, digest, "migrate", params.clone(), Outcome::DryRun)?;
        if g.json {
            super::print_json(&json!({"plan": plan, "dry_run": true}))?;
        } else {
            print_plan(&plan);
        }
        return Ok(Exit::Ok);
    }
    if !g.json {
        print_plan(&plan);
    }

    let run_id = store.begin_migration(&plan.source, &plan.target)?;
    if args.replace && plan.target_tables > 0 {
        migrate::clear_target(&target)?;
    }
    let bar = render::progress::bytes(!g.json, "dump -> restore");
    let copied = migrate::copy(&source, &target, &|n| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let copied = match copied {
        Ok(c) => c,
        Err(e) => {
            let reason = first_line(&e.to_string());
            store.finish_migration(run_id, false, &reason)?;
            super::record(&mut store, &stack_name, digest, "migrate", params, Outcome::Failed(reason))?;
            return Err(
                anyhow::Error::new(e).context("the source was only read and is unchanged; the target is incomplete")
            );
        }
    };
    let report = shared::compare(&source, &target, &args.compare, g)?;
    let summary = report.summary();
    store.finish_migration(run_id, report.equal, &format!("{} bytes; parity: {summary}", copied.bytes))?;
    store.record_parity(&report.source, &report.target, report.equal, &summary, &serde_json::to_value(&report)?)?;
    params["bytes"] = json!(copied.bytes);
    params["duration_ms"] = json!(copied.duration_ms);
    params["parity"] = json!(summary);
    let outcome = if report.equal { Outcome::Ok } else { Outcome::Failed(format!("parity: {summary}")) };
    super::record(&mut store, &stack_name, digest, "migrate", params, outcome)?;
    if g.json {
        super::print_json(&json!({"plan": plan, "copied": copied, "parity": report}))?;
    } else {
        let mut out = anstream::stdout();
        let secs = copied.duration_ms as f64 / 1000.0;
        let rate = copied.bytes as f64 / 1_048_576.0 / secs.max(0.001);
        let _ = writeln!(out, "copied {} in {secs:.1}s ({rate:.1} MiB/s)\n", crate::render::human_bytes(copied.bytes));
        render::parity::print(&report);
        if scratch.is_some() {
            let _ = writeln!(out, "{}", style::paint(style::DIM, "rehearsal: the scratch server is removed now"));
        }
    }
    Ok(shared::exit_for(&report))
}

fn print_plan(plan: &migrate::Plan) {
    let mut out = anstream::stdout();
    let b = |s: &str| style::paint(style::BOLD, s);
    let _ = writeln!(out, "{} {}  ({})", b("from"), plan.source, plan.source_version);
    let _ = writeln!(out, "{}   {}  ({})", b("to"), plan.target, plan.target_version);
    let target_state = if plan.target_tables == 0 {
        "empty".to_string()
    } else {
        format!("{} tables, dropped first (--replace)", plan.target_tables)
    };
    let _ = writeln!(out, "{} {target_state}", b("target"));
    let _ = writeln!(out, "{}   {}", b("dump"), plan.dump_command);
    let _ = writeln!(out, "{} {}", b("restore"), plan.restore_command);
    let _ = writeln!(out, "{}   tug parity (tables, columns, counts, row hashes)", b("then"));
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}", style::paint(style::MEDIUM, "warning:"));
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}
