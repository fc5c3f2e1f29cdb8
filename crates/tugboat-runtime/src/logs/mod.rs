//! `tug logs`: the stack's container logs through the Engine API. Each container's entries become whole
//! lines (16 KiB partial pieces joined), are filtered by time, redacted, then filtered by `--grep` (on the
//! redacted text, so a search cannot probe for a secret), and merged across containers by timestamp —
//! or, when following, passed on as they arrive.
//!
//! Only what the engine still has is read: a removed container's log is gone (history comes with the
//! collector in `tug watch`).

pub mod collect;
mod entry;
mod merge;
mod redact;
mod select;
pub mod store;

pub use regex::Regex;
use serde::Serialize;
use tugboat::ops::CancelToken;

use crate::engine::{Engine, EngineError};
use crate::observe::project_containers;

pub use entry::PARTIAL_SIZE;
pub use merge::merge_sorted;
pub use redact::Redactor;
pub use select::{select, Source, UnknownService};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What the engine is asked for, per container (whole seconds: the Engine API's resolution).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogsQuery {
    pub follow: bool,
    /// Unix seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The last N entries of each container.
    pub tail: Option<u64>,
}

/// One line of one container.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds, as the engine stamped the line's first piece.
    pub time: String,
    #[serde(skip)]
    pub nanos: i128,
    pub service: String,
    pub container: String,
    /// `service-N`, the prefix of the human output.
    #[serde(skip)]
    pub label: String,
    pub stream: Stream,
    pub line: String,
}

/// What `tug logs` asks for.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Services to read (all when empty).
    pub services: Vec<String>,
    pub follow: bool,
    /// Unix nanoseconds, inclusive.
    pub since: Option<i128>,
    pub until: Option<i128>,
    pub tail: Option<u64>,
    pub grep: Option<Regex>,
    pub redactor: Redactor,
}

impl Request {
    fn query(&self) -> LogsQuery {
        const SECOND: i128 = 1_000_000_000;
        let seconds = |n: i128| i64::try_from(n).ok();
        LogsQuery {
            follow: self.follow,
            since: self.since.and_then(|n| seconds(n.div_euclid(SECOND))),
            // Rounded up: the exact bound is applied to each line.
            until: self.until.and_then(|n| seconds(n.div_euclid(SECOND) + 1)),
            tail: self.tail,
        }
    }

    /// The line an entry of `source` becomes, or `None` when the filters drop it (or it is at or before
    /// the source's checkpoint: `seen` counts the lines at the checkpoint's time passed over).
    fn line(&self, source: &Source, entry: entry::Entry, seen: &mut u32) -> Option<LogLine> {
        if !source.after.admits(entry.nanos, seen) {
            return None;
        }
        let outside = self.since.is_some_and(|s| entry.nanos < s) || self.until.is_some_and(|u| entry.nanos > u);
        if outside && !entry.time.is_empty() {
            return None;
        }
        let line = source.line(entry, &self.redactor);
        if self.grep.as_ref().is_some_and(|re| !re.is_match(&line.line)) {
            return None;
        }
        Some(line)
    }
}

impl Source {
    /// An entry of this container's log as a line, its text masked.
    fn line(&self, entry: entry::Entry, redactor: &Redactor) -> LogLine {
        LogLine {
            line: redactor.apply(&String::from_utf8_lossy(&entry.text)),
            time: entry.time,
            nanos: entry.nanos,
            service: self.service.clone(),
            container: self.container.clone(),
            label: self.label.clone(),
            stream: entry.stream,
        }
    }
}

/// The last `tail` lines of each container (all with `None`), in their order.
pub fn last_per_container(lines: Vec<LogLine>, tail: Option<u64>) -> Vec<LogLine> {
    let Some(tail) = tail else { return lines };
    let mut left: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut kept: Vec<LogLine> = lines
        .into_iter()
        .rev()
        .filter(|l| {
            let n = left.entry(l.container.clone()).or_insert(tail);
            let keep = *n > 0;
            *n = n.saturating_sub(1);
            keep
        })
        .collect();
    kept.reverse();
    kept
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error(transparent)]
    UnknownService(#[from] UnknownService),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The containers of `project` that `services` name (all when empty); `defined` are the services the
/// stack defines (what an unknown name is told about).
pub fn sources(
    engine: &dyn Engine,
    project: &str,
    services: &[String],
    defined: &[String],
) -> Result<Vec<Source>, LogsError> {
    Ok(select(&project_containers(engine, project)?, services, defined)?)
}

/// Reads the logs of `sources` for `request` and hands each line to `emit` (which returns false to
/// stop): in time order across containers, or as they arrive when following (until every container's
/// stream ends or `cancel`).
pub fn read(
    engine: &dyn Engine,
    sources: &[Source],
    request: &Request,
    cancel: &CancelToken,
    emit: &mut dyn FnMut(LogLine) -> bool,
) -> Result<(), EngineError> {
    if sources.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
    let mut assemblers: Vec<entry::Assembler> = sources.iter().map(|_| Default::default()).collect();
    let mut runs: Vec<Vec<LogLine>> = vec![Vec::new(); sources.len()];
    let mut seen = vec![0u32; sources.len()];
    let mut stopped = false;
    engine.logs(&ids, &request.query(), cancel, &mut |i, stream, chunk| {
        for entry in entry::entries(stream, chunk) {
            let Some(line) = assemblers[i].push(entry).and_then(|e| request.line(&sources[i], e, &mut seen[i])) else {
                continue;
            };
            if request.follow {
                stopped = !emit(line);
                if stopped {
                    return false;
                }
            } else {
                runs[i].push(line);
            }
        }
        true
    })?;
    if stopped {
        return Ok(());
    }
    for (i, assembler) in assemblers.iter_mut().enumerate() {
        for e in assembler.finish() {
            runs[i].extend(request.line(&sources[i], e, &mut seen[i]));
        }
    }
    // A container's stdout and stderr are copied into its log by two writers, so the log's order may put a
    // line of one before an earlier line of the other: each run is put in time order (stably) first.
    for run in &mut runs {
        run.sort_by_key(|l| l.nanos);
    }
    for line in merge_sorted(runs, |l| l.nanos) {
        if !emit(line) {
            break;
        }
    }
    Ok(())
}
