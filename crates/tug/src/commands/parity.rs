//! `tug parity SOURCE TARGET`: tables, columns, counts and the differing rows; exit 1 on any difference.

use tugboat::db::{self, Endpoint};
use tugboat::parity::search::{self, IndexStatus, SearchEndpoint, SearchParityOptions};
use tugboat::parity::{self, ParityOptions, ParityReport, TableStatus};
use tugboat::stack::{self, LoadOptions, Stack};

use crate::cli::{CompareArgs, Global, ParityArgs};
use crate::exit::{Exit, UsageError};
use crate::render;

pub fn run(g: &Global, args: &ParityArgs) -> anyhow::Result<Exit> {
    if search::is_search_url(&args.source) || search::is_search_url(&args.target) {
        return search_parity(g, args);
    }
    let stack = stack_for(&args.compare, g, &[&args.source, &args.target])?;
    let source = endpoint(&args.source, stack.as_ref())?;
    let target = endpoint(&args.target, stack.as_ref())?;
    let report = compare(&source, &target, &args.compare, g)?;
    remember(&report, &args.compare, g)?;
    if g.json {
        super::print_json(&report)?;
    } else {
        render::parity::print(&report);
    }
    Ok(exit_for(&report))
}

/// Loads the stack when a name (not a URL) needs looking up, or when a tugboat.yml is there anyway.
pub fn stack_for(args: &CompareArgs, g: &Global, specs: &[&str]) -> anyhow::Result<Option<Stack>> {
    let needs = specs.iter().any(|s| !s.contains("://") && *s != "scratch");
    if !needs && stack::find_config(&args.dir).is_none() {
        return Ok(None);
    }
    let options = LoadOptions { environment: g.environment.clone(), template_fallback: true, ..LoadOptions::default() };
    match stack::load(&args.dir, &options) {
        Ok(s) => Ok(Some(s)),
        Err(e) if needs => Err(e.into()),
        Err(_) => Ok(None),
    }
}

pub fn endpoint(spec: &str, stack: Option<&Stack>) -> anyhow::Result<Endpoint> {
    Ok(db::resolve::resolve(spec, stack).map_err(tugboat::ops::Error::from)?)
}

pub fn options(args: &CompareArgs) -> ParityOptions {
    ParityOptions {
        tables: args.tables.clone(),
        exclude: args.exclude.clone(),
        where_clause: args.where_clause.clone(),
        counts_only: args.counts_only,
        max_keys: args.max_keys,
    }
}

pub fn compare(source: &Endpoint, target: &Endpoint, args: &CompareArgs, g: &Global) -> anyhow::Result<ParityReport> {
    let progress = render::progress::Bars::new(!g.json);
    let report = parity::compare(source, target, &options(args), &progress);
    progress.finish();
    Ok(report.map_err(tugboat::ops::Error::from)?)
}

/// Keeps the report in the state database when the stack has one (or `--state` names one), so gates can
/// ask when the two last matched.
pub fn remember(report: &ParityReport, args: &CompareArgs, g: &Global) -> anyhow::Result<()> {
    if g.state.is_none() && stack::find_config(&args.dir).is_none() {
        return Ok(());
    }
    let mut store = super::open_store(&args.dir, g)?;
    store.record_parity(
        &report.source,
        &report.target,
        report.equal,
        &report.summary(),
        &serde_json::to_value(report)?,
    )?;
    Ok(())
}

pub fn exit_for(report: &ParityReport) -> Exit {
    if report.tables.iter().any(|t| t.status == TableStatus::Error) {
        Exit::CannotAct
    } else if report.equal {
        Exit::Ok
    } else {
        Exit::Problem
    }
}

/// `tug parity http://es-old:9200 http://es-new:9200`: index lists, document counts, mappings and a sample of
/// documents compared by `_source` hash. `--tables`/`--exclude` select indices, `--counts-only` skips the sample.
fn search_parity(g: &Global, args: &ParityArgs) -> anyhow::Result<Exit> {
    let c = &args.compare;
    if !(search::is_search_url(&args.source) && search::is_search_url(&args.target)) {
        let msg = "a search cluster (http:// or https:// URL) can only be compared with another search cluster";
        return Err(UsageError(msg.into()).into());
    }
    if c.where_clause.is_some() {
        return Err(UsageError("--where is a SQL condition; it does not apply to search indices".into()).into());
    }
    let parse = |s: &str| SearchEndpoint::parse(s).map_err(tugboat::ops::Error::from);
    let (source, target) = (parse(&args.source)?, parse(&args.target)?);
    let options = SearchParityOptions {
        indices: c.tables.clone(),
        exclude: c.exclude.clone(),
        sample: if c.counts_only { 0 } else { c.sample },
        max_keys: c.max_keys,
        ca_cert: c.ca_cert.clone(),
        ..SearchParityOptions::default()
    };
    let progress = render::progress::Bars::new(!g.json);
    let result = search::compare_indices_with_progress(&source, &target, &options, &progress);
    progress.finish();
    let report = result.map_err(tugboat::ops::Error::from)?;
    if g.state.is_some() || stack::find_config(&c.dir).is_some() {
        let mut store = super::open_store(&c.dir, g)?;
        let json = serde_json::to_value(&report)?;
        store.record_parity(&report.source, &report.target, report.equal, &report.summary(), &json)?;
    }
    if g.json {
        super::print_json(&report)?;
    } else {
        render::search_parity::print(&report);
    }
    Ok(if report.indices.iter().any(|i| i.status == IndexStatus::Error) {
        Exit::CannotAct
    } else if report.equal {
        Exit::Ok
    } else {
        Exit::Problem
    })
}
