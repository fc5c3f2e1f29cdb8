//! `tug logs`: reads the stack's container logs through the engine (read only: no operation, no audit).

use tugboat_runtime::engine::Docker;
use tugboat_runtime::logs::store::{self, HistoryQuery, LogStore};
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
        redactor: Redactor::new(stack.secret_values()),
    };
    let engine = Docker::connect().map_err(tugboat::ops::Error::from)?;
    let defined: Vec<String> = stack.project.services.iter().map(|s| s.name.clone()).collect();
    let mut sources = match logs::sources(&engine, &stack.project.name, &request.services, &defined) {
        Ok(sources) => sources,
        Err(LogsError::UnknownService(e)) => return Err(UsageError(e.to_string()).into()),
        Err(LogsError::Engine(e)) => return Err(tugboat::ops::Error::from(e).into()),
    };
    // What `tug watch` collected: lines of containers gone since, and of live ones up to their checkpoint
    // (the engine is read from there on).
    let history = LogStore::open_read_only(&store::beside(&super::state_path(&args.dir, g)))?;
    let mut backlog = Vec::new();
    if let Some(history) = &history {
        for source in &mut sources {
            source.after = history.checkpoint(&source.id)?.unwrap_or_default();
        }
        let query = HistoryQuery {
            services: request.services.clone(),
            since: request.since,
            until: request.until,
            any_of: args.grep.as_deref().and_then(store::required_literals),
        };
        history.history(&query, &mut |mut line| {
            line.line = request.redactor.apply(&line.line);
            if request.grep.as_ref().is_none_or(|re| re.is_match(&line.line)) {
                backlog.push(line);
            }
            true
        })?;
    }
    let mut printer = Printer::new(g.json, &sources, &backlog);
    let cancel = crate::interrupt::token();
    if history.is_none() {
        // Following ends with Ctrl-C: the normal way to stop reading, so it exits 0 (as `tug watch` does).
        logs::read(&engine, &sources, &request, &cancel, &mut |line| printer.print(&line))
            .map_err(tugboat::ops::Error::from)?;
        return Ok(Exit::Ok);
    }
    // History and what the engine has beyond it, merged by time; then, when following, what comes next.
    let started = std::time::SystemTime::now();
    let backlog_request = Request { follow: false, tail: None, ..request.clone() };
    let mut live = Vec::new();
    logs::read(&engine, &sources, &backlog_request, &cancel, &mut |line| {
        live.push(line);
        true
    })
    .map_err(tugboat::ops::Error::from)?;
    let merged = logs::merge_sorted(vec![backlog, live], |l| l.nanos);
    for source in &mut sources {
        for line in merged.iter().filter(|l| l.container == source.container) {
            source.after = source.after.after(line.nanos);
        }
    }
    for line in logs::last_per_container(merged, request.tail) {
        if !printer.print(&line) {
            return Ok(Exit::Ok);
        }
    }
    if request.follow {
        let since = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        let follow =
            Request { tail: None, since: Some(request.since.unwrap_or(since).max(since - 1_000_000_000)), ..request };
        logs::read(&engine, &sources, &follow, &cancel, &mut |line| printer.print(&line))
            .map_err(tugboat::ops::Error::from)?;
    }
    Ok(Exit::Ok)
}
