//! `tug logs`: reads the stack's container logs through the engine (read only: no operation, no audit).

use tugboat::secret::is_secret_name;
use tugboat::stack::Stack;
use tugboat_runtime::engine::Docker;
use tugboat_runtime::logs::{self, LogsError, Redactor, Regex, Request};

use crate::cli::{Global, LogsArgs};
use crate::exit::{Exit, UsageError};
use crate::render::logs::Printer;

pub fn run(g: &Global, args: &LogsArgs) -> anyhow::Result<Exit> {
    // Times are read to the millisecond; both bounds take in their whole millisecond.
    let nanos = |flag: &str, value: &Option<String>, within: i128| -> anyhow::Result<Option<i128>> {
        let ms = value.as_deref().map(|v| super::audit::parse_time(flag, v)).transpose()?;
        Ok(ms.map(|ms| i128::from(ms) * 1_000_000 + within))
    };
    let grep = args
        .grep
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| UsageError(format!("--grep: not a regular expression: {e}")))?;
    let stack = super::load_stack(&args.dir, g, false)?;
    let request = Request {
        services: args.services.clone(),
        follow: args.follow,
        since: nanos("--since", &args.since, 0)?,
        until: nanos("--until", &args.until, 999_999)?,
        tail: args.tail,
        grep,
        redactor: Redactor::new(secret_values(&stack)),
    };
    let engine = Docker::connect().map_err(tugboat::ops::Error::from)?;
    let defined: Vec<String> = stack.project.services.iter().map(|s| s.name.clone()).collect();
    let sources = match logs::sources(&engine, &stack.project.name, &request.services, &defined) {
        Ok(sources) => sources,
        Err(LogsError::UnknownService(e)) => return Err(UsageError(e.to_string()).into()),
        Err(LogsError::Engine(e)) => return Err(tugboat::ops::Error::from(e).into()),
    };
    let mut printer = Printer::new(g.json, &sources);
    // Following ends with Ctrl-C: the normal way to stop reading, so it exits 0 (as `tug watch` does).
    logs::read(&engine, &sources, &request, &crate::interrupt::token(), &mut |line| printer.print(&line))
        .map_err(tugboat::ops::Error::from)?;
    Ok(Exit::Ok)
}

/// The values the stack treats as secret: variables (of the environment and the stack's .env) named so by
/// the secret policy, or used as secrets by tugboat.yml — the same set `tug plan` masks output with.
fn secret_values(stack: &Stack) -> Vec<String> {
    let declared = tugboat_plan::steps::declared_secret_variables(&stack.config);
    let dotenv = stack.dotenv.iter().flat_map(|(_, entries)| entries).map(|e| (e.name.clone(), e.value.clone()));
    std::env::vars()
        .chain(dotenv)
        .filter(|(name, _)| is_secret_name(name) || declared.contains(name))
        .map(|(_, value)| value)
        .collect()
}
