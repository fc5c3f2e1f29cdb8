//! Running one step: each kind is an engine operation — the capability's own (drill, migrate, smoke,
//! deploy, backup) or one of this crate's (parity, a command, an in-process watch window) — executed
//! through `ops::execute`, so it leaves its own audit event, tagged with the plan run.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{self, Ctx, Error, Executed, Mode, Operation, Result, Subject, Verdict};
use tugboat::stack::Stack;

use crate::file::Action;

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; the evidence (the operation's report) is kept in the run's story.
    Succeeded(Value),
    /// It ran and found a problem (a failed drill source, unequal parity, a failing check, exit code ≠ 0).
    Failed { reason: String, evidence: Value },
}

/// The plan run a step's audit event belongs to: `{"plan": NAME, "run": ID, "step": STEP}`.
pub fn tag(plan: &str, run: i64, step: &str) -> Value {
    json!({"plan": plan, "run": run, "step": step})
}

/// Runs a step's action (not `approve` or a history `watch`, which read the store and run nothing).
pub fn execute(stack: &Stack, action: &Action, tag: &Value, ctx: &mut Ctx) -> Result<Outcome> {
    match action {
        Action::Backup { sources } => operate(&tugboat_backup::Backup::new(stack, sources), tag, ctx),
        Action::Drill { sources, deep } => {
            let drill = tugboat_backup::Drill { deep: *deep, ..tugboat_backup::Drill::new(stack, sources) };
            operate(&drill, tag, ctx)
        }
        Action::Migrate { source, target, replace, tables, exclude } => {
            let migrate = tugboat::migrate::Migrate {
                stack: Some(stack),
                source: source.clone(),
                target: target.clone(),
                replace: *replace,
                parity: parity_options(tables, exclude, false),
            };
            operate(&migrate, tag, ctx)
        }
        Action::Parity { source, target, tables, exclude, counts_only } => {
            let parity = Parity {
                stack,
                source: source.clone(),
                target: target.clone(),
                options: parity_options(tables, exclude, *counts_only),
            };
            operate(&parity, tag, ctx)
        }
        Action::Smoke { suite } => {
            let smoke = tugboat_watch::smoke::Smoke { stack, suite: suite.clone(), concurrency: 8 };
            operate(&smoke, tag, ctx)
        }
        Action::Deploy { service, image } => {
            let engine = tugboat_runtime::engine::Docker::connect().map_err(Error::from)?;
            let router =
                tugboat_runtime::deploy::router::ProxyRouter::new(tugboat_runtime::deploy::router::admin_socket(stack));
            let options = tugboat_runtime::deploy::DeployOptions { service: service.clone(), image: image.clone() };
            operate(&tugboat_runtime::deploy::Deploy { stack, engine: &engine, router: &router, options }, tag, ctx)
        }
        Action::Watch { suite, window, every: Some(every) } => {
            let watch = WatchWindow { stack, suite: suite.clone(), window: window.0, every: every.0 };
            operate(&watch, tag, ctx)
        }
        Action::Run { command, timeout, .. } => {
            let run = RunCommand::new(stack, "plan command", command, timeout.map(|t| t.0), tag);
            operate(&run, tag, ctx)
        }
        Action::Watch { every: None, .. } | Action::Approve { .. } => {
            Err(Error::cannot_act("approvals and history watch windows are evaluated, not executed"))
        }
    }
}

/// Reverses a succeeded step: a `run` step's undo command, a deploy's rollback. `None`: nothing to undo.
pub fn undo(stack: &Stack, action: &Action, tag: &Value, ctx: &mut Ctx) -> Result<Option<Outcome>> {
    match action {
        Action::Run { undo: crate::file::Undo::Command { command }, timeout, .. } => {
            let run = RunCommand::new(stack, "plan undo", command, timeout.map(|t| t.0), tag);
            operate(&run, tag, ctx).map(Some)
        }
        Action::Deploy { service, .. } => {
            let engine = tugboat_runtime::engine::Docker::connect().map_err(Error::from)?;
            let router =
                tugboat_runtime::deploy::router::ProxyRouter::new(tugboat_runtime::deploy::router::admin_socket(stack));
            let rollback =
                tugboat_runtime::deploy::Rollback { stack, engine: &engine, router: &router, service: service.clone() };
            operate(&rollback, tag, ctx).map(Some)
        }
        _ => Ok(None),
    }
}

fn parity_options(tables: &[String], exclude: &[String], counts_only: bool) -> tugboat::parity::ParityOptions {
    tugboat::parity::ParityOptions {
        tables: tables.to_vec(),
        exclude: exclude.to_vec(),
        counts_only,
        ..tugboat::parity::ParityOptions::default()
    }
}

/// Executes `op` with the plan run's tag in its audit event, and reads its report as the step's outcome.
fn operate<O: Operation>(op: &O, tag: &Value, ctx: &mut Ctx) -> Result<Outcome> {
    let tagged = Tagged { op, tag };
    match ops::execute(&tagged, ctx, Mode::Run)? {
        Executed::Ran(_, report) => {
            let evidence = json!({
                "operation": op.command(),
                "summary": report.audit_summary(),
                "report": serde_json::to_value(&report).unwrap_or(Value::Null),
            });
            Ok(match report.problem() {
                Some(reason) => Outcome::Failed { reason, evidence },
                None => Outcome::Succeeded(evidence),
            })
        }
        Executed::Planned(_) => Err(Error::cannot_act("a plan step was only planned")),
    }
}

/// An operation whose audit event also names the plan run (`params.plan_run`), so `tug audit log --plan`
/// shows a cutover as one story.
pub struct Tagged<'a, O> {
    pub op: &'a O,
    pub tag: &'a Value,
}

#[derive(Debug, Serialize)]
pub struct TaggedPlan<P> {
    #[serde(flatten)]
    pub plan: P,
    pub plan_run: Value,
}

impl<P: std::fmt::Display> std::fmt::Display for TaggedPlan<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.plan.fmt(f)
    }
}

impl<O: Operation> Operation for Tagged<'_, O> {
    type Plan = TaggedPlan<O::Plan>;
    type Report = O::Report;

    fn command(&self) -> &'static str {
        self.op.command()
    }
    fn subject(&self) -> Subject {
        self.op.subject()
    }
    fn request(&self) -> Value {
        match self.op.request() {
            Value::Object(mut map) => {
                map.insert("plan_run".into(), self.tag.clone());
                Value::Object(map)
            }
            other => json!({"request": other, "plan_run": self.tag}),
        }
    }
    fn plan(&self, ctx: &mut Ctx) -> Result<Self::Plan> {
        Ok(TaggedPlan { plan: self.op.plan(ctx)?, plan_run: self.tag.clone() })
    }
    fn run(&self, plan: &Self::Plan, ctx: &mut Ctx) -> Result<Self::Report> {
        self.op.run(&plan.plan, ctx)
    }
}

/// A parity step: compare two databases (or two search clusters) and keep the report for gates.
pub struct Parity<'a> {
    pub stack: &'a Stack,
    pub source: String,
    pub target: String,
    pub options: tugboat::parity::ParityOptions,
}

#[derive(Debug, Serialize)]
pub struct ParityPlan {
    pub source: String,
    pub target: String,
    pub search: bool,
}

impl std::fmt::Display for ParityPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "compare {} with {}", self.source, self.target)
    }
}

/// A parity report (SQL or search), with its verdict.
#[derive(Debug, Serialize)]
pub struct ParityResult {
    pub id: i64,
    pub equal: bool,
    pub summary: String,
    pub report: Value,
}

impl Verdict for ParityResult {
    fn problem(&self) -> Option<String> {
        (!self.equal).then(|| format!("parity: {}", self.summary))
    }
    fn audit_summary(&self) -> Value {
        json!({"parity": self.id, "equal": self.equal, "summary": self.summary})
    }
}

impl Operation for Parity<'_> {
    type Plan = ParityPlan;
    type Report = ParityResult;

    fn command(&self) -> &'static str {
        "parity"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"source": self.source, "target": self.target})
    }
    fn plan(&self, _ctx: &mut Ctx) -> Result<ParityPlan> {
        use tugboat::parity::search;
        let search = search::is_search_url(&self.source) && search::is_search_url(&self.target);
        let (source, target) = if search {
            (self.source.clone(), self.target.clone())
        } else {
            let name = |s: &str| -> Result<String> {
                Ok(tugboat::db::resolve::resolve(s, Some(self.stack)).map_err(Error::from)?.to_string())
            };
            (name(&self.source)?, name(&self.target)?)
        };
        Ok(ParityPlan { source, target, search })
    }
    fn run(&self, plan: &ParityPlan, ctx: &mut Ctx) -> Result<ParityResult> {
        use tugboat::parity::search;
        let (equal, summary, report) = if plan.search {
            let parse = |s: &str| search::SearchEndpoint::parse(s).map_err(Error::from);
            let options = search::SearchParityOptions {
                indices: self.options.tables.clone(),
                exclude: self.options.exclude.clone(),
                ..search::SearchParityOptions::default()
            };
            let report = search::compare_indices_with_progress(
                &parse(&self.source)?,
                &parse(&self.target)?,
                &options,
                ctx.progress,
            )
            .map_err(Error::from)?;
            (report.equal, report.summary(), serde_json::to_value(&report).unwrap_or(Value::Null))
        } else {
            let resolve = |s: &str| tugboat::db::resolve::resolve(s, Some(self.stack)).map_err(Error::from);
            let report =
                tugboat::parity::compare(&resolve(&self.source)?, &resolve(&self.target)?, &self.options, ctx.progress)
                    .map_err(Error::from)?;
            (report.equal, report.summary(), serde_json::to_value(&report).unwrap_or(Value::Null))
        };
        let id = ctx.store.record_parity(&plan.source, &plan.target, equal, &summary, &report)?;
        Ok(ParityResult { id, equal, summary, report })
    }
}

/// A `run` step's command (or its undo): `sh -c` in the directory of tugboat.yml, with the stack's
/// variables and `TUG_PLAN`, `TUG_PLAN_RUN`, `TUG_STEP` in its environment.
pub struct RunCommand<'a> {
    stack: &'a Stack,
    command_name: &'static str,
    command: String,
    timeout: Duration,
    tag: Value,
}

/// A command runs at most an hour unless the step says otherwise.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);
/// What of a command's output is kept: the end, where the error is.
const OUTPUT_TAIL: usize = 4096;

impl<'a> RunCommand<'a> {
    pub fn new(
        stack: &'a Stack,
        command_name: &'static str,
        command: &str,
        timeout: Option<Duration>,
        tag: &Value,
    ) -> RunCommand<'a> {
        RunCommand {
            stack,
            command_name,
            command: command.to_string(),
            timeout: timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            tag: tag.clone(),
        }
    }

    fn dir(&self) -> PathBuf {
        let base = self.stack.config_file.as_ref().and_then(|(p, _)| p.parent().map(std::path::Path::to_path_buf));
        base.unwrap_or_else(|| self.stack.dir.clone())
    }
}

#[derive(Debug, Serialize)]
pub struct CommandPlan {
    pub command: String,
    pub dir: String,
    pub timeout_s: u64,
}

impl std::fmt::Display for CommandPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "run `{}` in {} (at most {} s)", self.command, self.dir, self.timeout_s)
    }
}

#[derive(Debug, Serialize)]
pub struct CommandReport {
    pub command: String,
    /// `None`: killed (timeout).
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The end of stdout and stderr together, secrets masked.
    pub output: String,
    pub timed_out: bool,
}

impl Verdict for CommandReport {
    fn problem(&self) -> Option<String> {
        let last = self.output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        match self.exit_code {
            Some(0) => None,
            _ if self.timed_out => Some(format!("`{}` did not finish in time and was killed", self.command)),
            Some(code) => Some(format!("`{}` exited with {code}: {last}", self.command)),
            None => Some(format!("`{}` was killed by a signal: {last}", self.command)),
        }
    }
    fn audit_summary(&self) -> Value {
        json!({"exit_code": self.exit_code, "duration_ms": self.duration_ms})
    }
}

impl Operation for RunCommand<'_> {
    type Plan = CommandPlan;
    type Report = CommandReport;

    fn command(&self) -> &'static str {
        self.command_name
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"command": self.command})
    }
    fn plan(&self, _ctx: &mut Ctx) -> Result<CommandPlan> {
        Ok(CommandPlan {
            command: self.command.clone(),
            dir: self.dir().display().to_string(),
            timeout_s: self.timeout.as_secs(),
        })
    }
    fn run(&self, plan: &CommandPlan, ctx: &mut Ctx) -> Result<CommandReport> {
        use std::os::unix::process::CommandExt;
        let started = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&plan.command).current_dir(&plan.dir).stdin(Stdio::null());
        for entry in self.stack.dotenv.iter().flat_map(|(_, entries)| entries) {
            if std::env::var_os(&entry.name).is_none() {
                cmd.env(&entry.name, &entry.value);
            }
        }
        cmd.env("TUG_PLAN", self.tag["plan"].as_str().unwrap_or_default())
            .env("TUG_PLAN_RUN", self.tag["run"].to_string())
            .env("TUG_STEP", self.tag["step"].as_str().unwrap_or_default());
        // Its own process group, so a timeout or Ctrl-C stops what the command started too.
        cmd.process_group(0);
        let (mut reader, writer) =
            std::io::pipe().map_err(|e| Error::cannot_act(format!("cannot make a pipe: {e}")))?;
        let writer2 = writer.try_clone().map_err(|e| Error::cannot_act(format!("cannot make a pipe: {e}")))?;
        cmd.stdout(writer).stderr(writer2);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::cannot_act(format!("cannot run `sh -c {}` in {}: {e}", plan.command, plan.dir)))?;
        drop(cmd);
        // The output is collected into a shared buffer: a command that leaves a daemon behind holding the
        // pipe open must not keep the step from ending.
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = std::sync::Arc::clone(&output);
        let collector = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut tail = sink.lock().unwrap_or_else(|p| p.into_inner());
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * OUTPUT_TAIL {
                    let excess = tail.len() - OUTPUT_TAIL;
                    tail.drain(..excess);
                }
            }
        });
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(e) => return Err(Error::cannot_act(format!("cannot wait for `{}`: {e}", plan.command))),
            }
            let cancelled = ctx.cancel.is_cancelled();
            if cancelled || started.elapsed() >= self.timeout {
                timed_out = !cancelled;
                stop_group(child.id());
                let _ = child.wait();
                if cancelled {
                    return Err(Error::interrupted());
                }
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let drained = Instant::now() + Duration::from_secs(2);
        while !collector.is_finished() && Instant::now() < drained {
            std::thread::sleep(Duration::from_millis(10));
        }
        let tail = output.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let text = String::from_utf8_lossy(&tail[tail.len().saturating_sub(OUTPUT_TAIL)..]).into_owned();
        Ok(CommandReport {
            command: plan.command.clone(),
            exit_code: status.and_then(|s| s.code()),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            output: redact_output(self.stack, &text),
            timed_out,
        })
    }
}

/// SIGTERM to the command's process group, then SIGKILL if it is still there after 5 s.
fn stop_group(pid: u32) {
    let signal = |sig: &str| {
        let _ = Command::new("kill").args([sig, "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
    };
    signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("-KILL");
}

/// Output is kept in the state database and the report: the values of secret variables (by the one
/// secret policy's names, and those `tugboat.yml` declares secret) and URL passwords are masked.
fn redact_output(stack: &Stack, text: &str) -> String {
    let dotenv = stack.dotenv.iter().flat_map(|(_, entries)| entries).map(|e| (e.name.clone(), e.value.clone()));
    redact(text, &declared_secret_variables(&stack.config), std::env::vars().chain(dotenv))
}

fn redact(text: &str, declared: &[String], variables: impl Iterator<Item = (String, String)>) -> String {
    let mut out = tugboat::secret::mask_urls(text).into_owned();
    for (name, value) in variables {
        if value.len() >= 4 && (tugboat::secret::is_secret_name(&name) || declared.contains(&name)) {
            out = out.replace(&value, "***");
        }
    }
    out
}

pub use tugboat::secret::declared_secret_variables;

/// A short stabilisation window run in process: the suite's checks every `every` for `window`; the
/// first failing check fails the step.
pub struct WatchWindow<'a> {
    pub stack: &'a Stack,
    pub suite: String,
    pub window: Duration,
    pub every: Duration,
}

#[derive(Debug, Serialize)]
pub struct WatchWindowPlan {
    pub suite: String,
    pub checks: Vec<String>,
    pub window_ms: u64,
    pub every_ms: u64,
    #[serde(skip)]
    compiled: Vec<tugboat_watch::probe::Check>,
}

impl std::fmt::Display for WatchWindowPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "probe suite {} ({}) every {} ms for {} ms; any failure fails the step",
            self.suite,
            self.checks.join(", "),
            self.every_ms,
            self.window_ms
        )
    }
}

#[derive(Debug, Serialize)]
pub struct WatchWindowReport {
    pub suite: String,
    pub window_ms: u64,
    pub rounds: u32,
    pub failures: Vec<Value>,
}

impl Verdict for WatchWindowReport {
    fn problem(&self) -> Option<String> {
        self.failures.first().map(|f| {
            format!(
                "{} failed during the window: {}",
                f["check"].as_str().unwrap_or("?"),
                f["message"].as_str().unwrap_or("")
            )
        })
    }
    fn audit_summary(&self) -> Value {
        json!({"rounds": self.rounds, "failures": self.failures.len()})
    }
}

impl Operation for WatchWindow<'_> {
    type Plan = WatchWindowPlan;
    type Report = WatchWindowReport;

    fn command(&self) -> &'static str {
        "plan watch"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"suite": self.suite, "window_ms": self.window.as_millis() as u64})
    }
    fn plan(&self, _ctx: &mut Ctx) -> Result<WatchWindowPlan> {
        let compiled = tugboat_watch::probe::compile(self.stack, Some(std::slice::from_ref(&self.suite)))?;
        Ok(WatchWindowPlan {
            suite: self.suite.clone(),
            checks: compiled.iter().map(|c| c.name.clone()).collect(),
            window_ms: u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX),
            every_ms: u64::try_from(self.every.as_millis()).unwrap_or(u64::MAX),
            compiled,
        })
    }
    fn run(&self, plan: &WatchWindowPlan, ctx: &mut Ctx) -> Result<WatchWindowReport> {
        let runtime =
            tugboat_watch::runtime().map_err(|e| Error::cannot_act(format!("cannot start the probes: {e}")))?;
        let started = Instant::now();
        let mut report =
            WatchWindowReport { suite: plan.suite.clone(), window_ms: plan.window_ms, rounds: 0, failures: Vec::new() };
        loop {
            let round_start = Instant::now();
            let suite = runtime.block_on(tugboat_watch::smoke::run(&plan.suite, &plan.compiled, 8));
            report.rounds += 1;
            for o in suite.checks.iter().filter(|o| !o.passed()) {
                report.failures.push(json!({"check": o.name, "time_ms": o.started_ms, "message": o.failure_summary()}));
            }
            if !report.failures.is_empty() || started.elapsed() >= self.window {
                return Ok(report);
            }
            // Sleep to the next round in slices, so Ctrl-C stops the window promptly.
            let next = round_start + self.every;
            let end = started + self.window;
            while Instant::now() < next.min(end) {
                ctx.cancel.check()?;
                std::thread::sleep(Duration::from_millis(50).min(next.min(end) - Instant::now()));
            }
            if Instant::now() >= end {
                return Ok(report);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_masks_the_variables_tugboat_yml_declares_secret_whatever_their_names() {
        let config: tugboat::stack::TugboatConfig = serde_json::from_value(json!({
            "databases": { "main": { "kind": "mariadb", "url": "mysql://app:${PW}@db:3306/shop" } },
            "backup": { "repository": "./repo", "password_env": "REPO_PW" },
            "alerts": [ { "webhook": { "url": "${HOOK_URL}", "headers": { "X-Token": "${HOOK_KEY}" } } } ],
        }))
        .unwrap();
        let declared = declared_secret_variables(&config);
        let variables = [
            ("PW", "pw-canary-1"),
            ("REPO_PW", "repo-canary-2"),
            ("HOOK_URL", "https://chat.example/hooks/canary-3"),
            ("HOOK_KEY", "hdr-canary-4"),
            ("DB_PASSWORD", "named-canary-5"),
            ("REGION", "eu-west-1"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        let text =
            "pw-canary-1 repo-canary-2 https://chat.example/hooks/canary-3 hdr-canary-4 named-canary-5 eu-west-1";
        let out = redact(text, &declared, variables.into_iter());
        assert_eq!(out, "*** *** *** *** *** eu-west-1");
    }
}
