//! `tug check`: hardening, exposure and secret rules over a loaded [`Stack`].
//!
//! Each rule has a stable id (`TB001`…), a severity, a one-line rationale and a concrete fix. Findings
//! point at the file and line that causes them (in whichever merged file set the value), and an
//! exemption in `policy.exempt` keeps the finding in the report, marked with its reason, without failing.

pub mod kubernetes;
mod rules;

use std::path::PathBuf;

use serde::Serialize;

pub use rules::RULES;

use crate::stack::{ConfigError, Location, Span, Stack};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            _ => Err(format!("unknown severity {s:?}: use low, medium or high")),
        }
    }
}

/// A rule's fixed description.
#[derive(Debug, Serialize)]
pub struct Rule {
    pub id: &'static str,
    /// A short kebab-case name (SARIF `name`).
    pub name: &'static str,
    pub severity: Severity,
    /// Why it matters, in one line.
    pub rationale: &'static str,
    /// What to change.
    pub fix: &'static str,
}

/// The rules as a Markdown table, then what TB008, TB023, TB024 and TB025 look for: docs/rules.md is this
/// text (a test keeps them equal).
pub fn rules_markdown() -> String {
    let mut s = String::from(
        "# Check rules\n\nGenerated from the rule table (`tug check --list-rules`); a test keeps this file current.\n\
         Exempt a service with `policy.exempt: { SERVICE: { RULE: \"reason\" } }` (`*` for stack-wide rules).\n\n\
         | id | name | severity | why it matters | fix |\n|---|---|---|---|---|\n",
    );
    for r in RULES {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.id,
            r.name,
            r.severity.as_str(),
            r.rationale,
            r.fix.replace('|', "\\|")
        ));
    }
    s.push_str(&rules::details_markdown());
    s
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingLocation {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl From<&Span> for FindingLocation {
    fn from(span: &Span) -> Self {
        FindingLocation { file: span.file.to_path_buf(), line: span.line, column: span.col }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// `None` for stack-wide findings (templates, `.env`).
    pub service: Option<String>,
    pub message: String,
    pub location: Option<FindingLocation>,
    /// The reason from `policy.exempt`, when exempted.
    pub exempted: Option<String>,
    /// What to change, when it differs from the rule's (a Kubernetes field instead of a compose key).
    #[serde(skip)]
    pub fix: Option<&'static str>,
}

impl Finding {
    pub fn rule(&self) -> &'static Rule {
        rule(self.rule).unwrap_or(&RULES[0])
    }

    /// The fix for this finding: its own, else the rule's.
    pub fn fix(&self) -> &'static str {
        self.fix.unwrap_or(self.rule().fix)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub stack: String,
    pub environment: Option<String>,
    pub files: Vec<PathBuf>,
    pub services: usize,
    pub findings: Vec<Finding>,
    /// Variables resolved from `.env.template` placeholders because no `.env` exists.
    pub placeholder_variables: Vec<String>,
}

impl Report {
    /// Findings that count toward the exit code: not exempted and at or above `threshold`.
    pub fn failing(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.exempted.is_none() && f.severity >= threshold)
    }
}

/// Runs every rule. Exemptions naming an unknown service or rule are configuration errors.
pub fn check(stack: &Stack) -> Result<Report, ConfigError> {
    validate_exemptions(stack)?;
    let mut findings = rules::run(stack);
    for f in &mut findings {
        let exempt = &stack.config.policy.exempt;
        let reason = f
            .service
            .as_ref()
            .and_then(|s| exempt.get(s))
            .and_then(|rules| rules.get(f.rule))
            .or_else(|| exempt.get("*").and_then(|rules| rules.get(f.rule)));
        f.exempted = reason.cloned();
    }
    findings.sort_by(|a, b| {
        (a.service.is_some(), &a.service, a.rule, &a.location.as_ref().map(|l| l.line)).cmp(&(
            b.service.is_some(),
            &b.service,
            b.rule,
            &b.location.as_ref().map(|l| l.line),
        ))
    });
    Ok(Report {
        stack: stack.name.clone(),
        environment: stack.environment.clone(),
        files: stack.config_file.iter().map(|(p, _)| p.clone()).chain(stack.project.files.iter().cloned()).collect(),
        services: stack.project.services.len(),
        findings,
        placeholder_variables: stack.placeholder_variables.clone(),
    })
}

fn validate_exemptions(stack: &Stack) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    let node = stack.config_file.as_ref().map(|(_, n)| n);
    for (service, rules) in &stack.config.policy.exempt {
        let service_node = node.and_then(|n| n.get_path(&["policy", "exempt"])).and_then(|n| n.entry(service));
        if service != "*" && stack.service(service).is_none() {
            if let Some((k, _)) = service_node {
                errors.push(ConfigError::at(
                    Location::new(k.span.clone(), format!("policy.exempt.{service}")),
                    format!("exemption for unknown service `{service}`"),
                ));
            }
        }
        for id in rules.keys() {
            if rule(id).is_none() {
                if let Some((k, _)) = service_node.and_then(|(_, v)| v.entry(id)) {
                    errors.push(ConfigError::at(
                        Location::new(k.span.clone(), format!("policy.exempt.{service}.{id}")),
                        format!("unknown rule `{id}`; `tug check --list-rules` shows them"),
                    ));
                }
            }
        }
    }
    ConfigError::collect(errors)
}

#[cfg(test)]
mod tests;
