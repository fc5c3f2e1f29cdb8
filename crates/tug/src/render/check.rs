//! `tug check` reports: a text report grouped by service, and the JSON document (docs/check-json.md).

use std::io::Write;

use serde_json::{json, Value};
use tugboat::check::{Finding, Report, Severity, RULES};

use super::display_path;
use super::style::{paint, BOLD, DIM, HIGH, LOW, MEDIUM, OK};

fn severity_style(s: Severity) -> anstyle::Style {
    match s {
        Severity::High => HIGH,
        Severity::Medium => MEDIUM,
        Severity::Low => LOW,
    }
}

fn location(f: &Finding) -> String {
    f.location.as_ref().map(|l| format!("{}:{}:{}", display_path(&l.file), l.line, l.column)).unwrap_or_default()
}

pub fn print_text(report: &Report, threshold: Severity) {
    let mut out = anstream::stdout();
    let env = report.environment.as_deref().map(|e| format!(" --env {e}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "{}{env}: {} services in {}",
        paint(BOLD, &report.stack),
        report.services,
        report.files.iter().map(|f| display_path(f)).collect::<Vec<_>>().join(", ")
    );
    if !report.placeholder_variables.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                DIM,
                &format!(
                    "no .env: {} taken from the env template",
                    plural(report.placeholder_variables.len(), "variable")
                )
            )
        );
    }
    let mut current: Option<&Option<String>> = None;
    for f in &report.findings {
        if current != Some(&f.service) {
            let title = f.service.as_deref().unwrap_or("(stack)");
            let _ = writeln!(out, "\n{}", paint(BOLD, title));
            current = Some(&f.service);
        }
        let rule = f.rule();
        let (label, style) = match &f.exempted {
            Some(_) => ("exempt".to_string(), DIM),
            None => (f.severity.as_str().to_uppercase(), severity_style(f.severity)),
        };
        let _ = writeln!(
            out,
            "  {} {} {}  {}",
            paint(style, &format!("{label:<6}")),
            rule.id,
            rule.name,
            paint(DIM, &location(f))
        );
        let _ = writeln!(out, "         {}", f.message);
        match &f.exempted {
            Some(reason) => {
                let _ = writeln!(out, "         {}", paint(DIM, &format!("exempted: {reason}")));
            }
            None => {
                let _ = writeln!(out, "         {}", paint(DIM, &format!("fix: {}", f.fix())));
            }
        }
    }
    let failing = report.failing(threshold).count();
    let exempted = report.findings.iter().filter(|f| f.exempted.is_some()).count();
    let below = report.findings.len() - failing - exempted;
    let mut tail = Vec::new();
    if exempted > 0 {
        tail.push(format!("{exempted} exempted"));
    }
    if below > 0 {
        tail.push(format!("{below} below {}", threshold.as_str()));
    }
    let tail = if tail.is_empty() { String::new() } else { format!(" ({})", tail.join(", ")) };
    let _ = writeln!(out);
    if failing == 0 {
        let _ = writeln!(out, "{} no findings at or above {}{tail}", paint(OK, "ok:"), threshold.as_str());
    } else {
        let _ = writeln!(
            out,
            "{} {failing} finding{} at or above {}{tail}",
            paint(HIGH, "fail:"),
            if failing == 1 { "" } else { "s" },
            threshold.as_str()
        );
    }
}

pub fn print_rules() {
    let mut out = anstream::stdout();
    for r in RULES {
        let _ = writeln!(out, "{} {:<38} {}", r.id, r.name, paint(severity_style(r.severity), r.severity.as_str()));
        let _ = writeln!(out, "      {}", r.rationale);
        let _ = writeln!(out, "      {}", paint(DIM, &format!("fix: {}", r.fix)));
    }
}

/// The `--format json` document; its schema is documented in docs/check-json.md. Bump `version` on
/// any incompatible change.
pub fn json(report: &Report, threshold: Severity) -> Value {
    let count = |s: Severity| report.findings.iter().filter(|f| f.exempted.is_none() && f.severity == s).count();
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let rule = f.rule();
            json!({
                "rule": rule.id,
                "name": rule.name,
                "severity": f.severity,
                "service": f.service,
                "message": f.message,
                "fix": f.fix(),
                "location": f.location.as_ref().map(|l| json!({"file": display_path(&l.file), "line": l.line, "column": l.column})),
                "exempted": f.exempted,
            })
        })
        .collect();
    json!({
        "version": 1,
        "stack": report.stack,
        "environment": report.environment,
        "files": report.files.iter().map(|f| display_path(f)).collect::<Vec<_>>(),
        "services": report.services,
        "summary": {
            "high": count(Severity::High),
            "medium": count(Severity::Medium),
            "low": count(Severity::Low),
            "exempted": report.findings.iter().filter(|f| f.exempted.is_some()).count(),
            "fail_on": threshold.as_str(),
            "failed": report.failing(threshold).next().is_some(),
        },
        "placeholder_variables": report.placeholder_variables,
        "findings": findings,
    })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
