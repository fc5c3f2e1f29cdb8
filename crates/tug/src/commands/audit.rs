//! `tug audit log` and `tug audit verify`.

use anyhow::Context;
use tugboat::stack::probes::HumanDuration;
use tugboat::store::AuditVerification;

use crate::cli::{AuditCommand, Global};
use crate::exit::{Exit, UsageError};
use crate::render;

pub fn run(g: &Global, cmd: &AuditCommand) -> anyhow::Result<Exit> {
    match cmd {
        AuditCommand::Log(args) => {
            let since = args.since.as_deref().map(|s| parse_time("--since", s)).transpose()?;
            // Reading never creates a state database.
            let events = match super::state_path(&args.dir, g).exists() {
                true => super::open_store(&args.dir, g)?.audit_events(since).context("cannot read the audit log")?,
                false => Vec::new(),
            };
            // A cutover as one story: every event tagged with one of the plan's runs.
            let events: Vec<_> = match &args.plan {
                Some(plan) => events.into_iter().filter(|e| e.params["plan_run"]["plan"] == plan.as_str()).collect(),
                None => events,
            };
            if g.json {
                super::print_json(&events)?;
            } else {
                render::audit::log(&mut anstream::stdout(), &events)?;
            }
            Ok(Exit::Ok)
        }
        AuditCommand::Verify(args) => {
            let result = match super::state_path(&args.dir, g).exists() {
                true => super::open_store(&args.dir, g)?.verify_audit().context("cannot read the audit log")?,
                false => AuditVerification::Intact { events: 0, head: "0".repeat(64) },
            };
            if g.json {
                super::print_json(&result)?;
            } else {
                render::audit::verify(&mut anstream::stdout(), &result)?;
            }
            Ok(match result {
                AuditVerification::Intact { .. } => Exit::Ok,
                AuditVerification::Broken { .. } => Exit::Problem,
            })
        }
    }
}

/// `24h`, `7d`, `30m` ago, or an RFC 3339 time, or a `YYYY-MM-DD` date (UTC midnight), as unix ms
/// (`flag` names the option in errors).
pub(super) fn parse_time(flag: &str, s: &str) -> anyhow::Result<i64> {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    // A date is all digits and dashes; a duration starts with digits and ends in a unit.
    if s.starts_with(|c: char| c.is_ascii_digit()) && !s.contains(['-', ':']) {
        let ago = HumanDuration::parse(s).map_err(|e| UsageError(format!("{flag} {s:?}: {e}")))?;
        return i64::try_from(ago.0.as_millis())
            .ok()
            .and_then(|ago| (now_ms as i64).checked_sub(ago))
            .ok_or_else(|| UsageError(format!("{flag} {s:?}: that is too long ago")).into());
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date_format) {
        return Ok(d.midnight().assume_utc().unix_timestamp() * 1000);
    }
    Err(UsageError(format!(
        "{flag} {s:?}: expected a duration like 24h or 7d, an RFC 3339 time, or a date like 2026-11-01"
    ))
    .into())
}
