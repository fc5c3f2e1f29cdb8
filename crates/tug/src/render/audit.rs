//! `tug audit log` and `tug audit verify`.

use std::io::Write;

use tugboat::store::{AuditEvent, AuditVerification, Outcome};

use super::style::{paint, DIM, HIGH, MEDIUM, OK};

pub fn log(out: &mut dyn Write, events: &[AuditEvent]) -> std::io::Result<()> {
    for e in events {
        let outcome = match &e.outcome {
            Outcome::Ok => paint(OK, "ok"),
            Outcome::DryRun => paint(DIM, "dry-run"),
            Outcome::Failed(why) => paint(HIGH, &format!("failed: {why}")),
            Outcome::Interrupted => paint(MEDIUM, "interrupted"),
            Outcome::Aborted => paint(HIGH, "aborted"),
        };
        writeln!(out, "{:>5}  {}  {:<12} {:<16} {}  {}", e.seq, e.time, e.stack, e.command, e.actor, outcome)?;
        if e.params != serde_json::Value::Null && e.params != serde_json::json!({}) {
            writeln!(out, "       {}", paint(DIM, &e.params.to_string()))?;
        }
    }
    if events.is_empty() {
        writeln!(out, "{}", paint(DIM, "no audit events"))?;
    }
    Ok(())
}

pub fn verify(out: &mut dyn Write, result: &AuditVerification) -> std::io::Result<()> {
    match result {
        AuditVerification::Intact { events, head } => {
            writeln!(out, "{} {events} events, chain intact; head {head}", paint(OK, "ok:"))?;
            writeln!(out, "{}", paint(DIM, "record the head hash elsewhere to detect a rewrite of the whole chain"))
        }
        AuditVerification::Broken { seq, reason, detail } => {
            writeln!(out, "{} event {seq} {reason}: {detail}", paint(HIGH, "broken:"))
        }
    }
}
