//! SARIF 2.1.0 for GitHub code scanning: one run, every rule described, results located in the compose
//! files relative to `%SRCROOT%` (the directory `tug` ran in), exemptions as external suppressions.

use serde_json::{json, Value};
use tugboat::check::{Report, Severity, RULES};

use super::display_path;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub ranks security alerts by this 0–10 score.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.0",
        Severity::Low => "2.0",
    }
}

pub fn sarif(report: &Report) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.rationale},
                "fullDescription": {"text": r.rationale},
                "help": {"text": format!("Fix: {}", r.fix), "markdown": format!("**Fix:** {}", r.fix)},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"tags": ["security", "docker-compose"], "security-severity": security_severity(r.severity)},
            })
        })
        .collect();
    // Code scanning needs a location on every result: stack-wide findings point at the first file.
    let fallback = report.files.first().map(|f| display_path(f)).unwrap_or_else(|| "tugboat.yml".into());
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
            let (uri, line, column) = match &f.location {
                Some(l) => (display_path(&l.file), l.line.max(1), l.column.max(1)),
                None => (fallback.clone(), 1, 1),
            };
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                // A finding with its own fix (a Kubernetes field, not the rule's compose key) says it here.
                "message": {"text": match f.fix { Some(fix) => format!("{} (fix: {fix})", f.message), None => f.message.clone() }},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri.replace('\\', "/"), "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": line, "startColumn": column},
                    }
                }],
                "partialFingerprints": {"tugFinding/v1": format!("{}:{}:{}", f.rule, f.service.as_deref().unwrap_or("-"), f.message)},
            });
            if let Some(reason) = &f.exempted {
                result["suppressions"] = json!([{"kind": "external", "justification": reason}]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tug",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": {"id": format!("tug-check/{}/", report.stack)},
            "results": results,
        }]
    })
}
