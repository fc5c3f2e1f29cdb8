//! `tug plan show|run|resolve|rollback|report` and `tug approve`: cutover plans (crate tugboat-plan).

use anyhow::Context;
use tugboat::stack::Stack;
use tugboat_plan::approve::{Approve, Resolve};
use tugboat_plan::rollback::RollbackPlan;
use tugboat_plan::run::{RunPlan, Stop};

use crate::cli::{ApproveArgs, Global, PlanCommand, PlanReportArgs, PlanShowArgs, ReportFormat};
use crate::exit::Exit;
use crate::render;

pub fn run(g: &Global, cmd: &PlanCommand) -> anyhow::Result<Exit> {
    match cmd {
        PlanCommand::Show(args) => show(g, args),
        PlanCommand::Run(args) => {
            let stack = super::load_stack(&args.dir, g, false)?;
            let plan = load(&stack, &args.name)?;
            let op = RunPlan { stack: &stack, plan: &plan, new_run: args.new };
            super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
                if g.json {
                    super::print_json(report)?;
                } else {
                    render::plan::print_run(&mut anstream::stdout(), report)?;
                }
                Ok(if report.stop == Stop::Done { Exit::Ok } else { Exit::Problem })
            })
        }
        PlanCommand::Resolve(args) => {
            let stack = super::load_stack(&args.dir, g, false)?;
            let plan = load(&stack, &args.name)?;
            let op = Resolve {
                stack: &stack,
                plan: &plan,
                step: args.step.clone(),
                succeeded: args.succeeded,
                note: args.note.clone(),
            };
            super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
                if g.json {
                    super::print_json(report)?;
                } else {
                    super::out(&format!("step {} recorded as {}\n", report.step, report.outcome))?;
                }
                Ok(Exit::Ok)
            })
        }
        PlanCommand::Rollback(args) => {
            let stack = super::load_stack(&args.dir, g, false)?;
            let plan = load(&stack, &args.name)?;
            let op = RollbackPlan { stack: &stack, plan: &plan };
            super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
                if g.json {
                    super::print_json(report)?;
                } else {
                    render::plan::print_rollback(&mut anstream::stdout(), report)?;
                }
                Ok(if report.failed.is_some() { Exit::Problem } else { Exit::Ok })
            })
        }
        PlanCommand::Report(args) => report(g, args),
    }
}

pub fn approve(g: &Global, args: &ApproveArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let plan = load(&stack, &args.name)?;
    let op = Approve {
        stack: &stack,
        plan: &plan,
        step: args.step.clone(),
        person: args.person.clone(),
        note: args.note.clone(),
    };
    super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
        if g.json {
            super::print_json(report)?;
        } else {
            super::out(&format!(
                "{} approved step {} (approvers so far: {})\n",
                report.person,
                report.step,
                report.approvers.join(", ")
            ))?;
        }
        Ok(Exit::Ok)
    })
}

fn load(stack: &Stack, name: &str) -> anyhow::Result<tugboat_plan::Plan> {
    Ok(tugboat_plan::load(stack, name)?)
}

/// Without a name: the plans, each validated. With one: where it stands.
fn show(g: &Global, args: &PlanShowArgs) -> anyhow::Result<Exit> {
    // Validation and gates need no secrets: the env template stands in when there is no .env.
    let stack = super::load_stack(&args.dir, g, true)?;
    let Some(name) = &args.name else {
        let names = tugboat_plan::file::plan_names(&stack);
        let mut plans = Vec::new();
        for n in &names {
            let plan = load(&stack, n)?;
            plans.push(serde_json::json!({"plan": n, "steps": plan.steps.len(), "rollback": plan.rollback.len(), "path": plan.path}));
        }
        if g.json {
            super::print_json(&plans)?;
        } else if plans.is_empty() {
            super::out(&format!("no plans in {}\n", tugboat_plan::file::plans_dir(&stack).display()))?;
        } else {
            for p in &plans {
                super::out(&format!(
                    "{}  {} steps, {} rollback steps\n",
                    p["plan"].as_str().unwrap_or(""),
                    p["steps"],
                    p["rollback"]
                ))?;
            }
        }
        return Ok(Exit::Ok);
    };
    let plan = load(&stack, name)?;
    let path = super::state_path(&args.dir, g);
    // Reading never creates a state database.
    let store = match path.exists() {
        true => super::open_store(&args.dir, g)?,
        false => tugboat::store::Store::open_in_memory()?,
    };
    let now = tugboat::ops::Clock::now_ms(&tugboat::ops::SystemClock);
    let view = tugboat_plan::view::view(&stack, &plan, &store, now)?;
    if g.json {
        super::print_json(&view)?;
    } else {
        super::out(&format!("{view}"))?;
    }
    Ok(Exit::Ok)
}

fn report(g: &Global, args: &PlanReportArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, true)?;
    let plan = load(&stack, &args.name)?;
    let store = super::open_store(&args.dir, g)?;
    let run = match args.run {
        Some(id) => store.plan_run(id)?.filter(|r| r.plan == plan.name),
        None => store.last_plan_run(&stack.name, &plan.name)?,
    };
    let Some(run) = run else {
        return Err(crate::exit::UsageError(format!("plan {} has no such run to report on", plan.name)).into());
    };
    let events = store.plan_events(run.id)?;
    let audit: Vec<_> = store
        .audit_events(None)?
        .into_iter()
        .filter(|e| e.params["plan_run"]["plan"] == plan.name.as_str() && e.params["plan_run"]["run"] == run.id)
        .collect();
    let head = match store.verify_audit()? {
        tugboat::store::AuditVerification::Intact { head, .. } => Some(head),
        tugboat::store::AuditVerification::Broken { .. } => None,
    };
    let record = tugboat_plan::report::Record {
        plan: &plan,
        run: &run,
        events: &events,
        audit: &audit,
        audit_head: head.as_deref(),
        generated_ms: tugboat::ops::Clock::now_ms(&tugboat::ops::SystemClock),
    };
    let format = match args.format {
        ReportFormat::Html => tugboat_plan::report::Format::Html,
        ReportFormat::Markdown => tugboat_plan::report::Format::Markdown,
    };
    let text = tugboat_plan::report::render(&record, format);
    match &args.output {
        Some(path) => {
            tugboat::fs::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !g.json {
                eprintln!("wrote {}", path.display());
            }
        }
        None => super::out(&text)?,
    }
    Ok(Exit::Ok)
}
