//! The conversion report: every compose key of every exported service, mapped (to what), mapped with a
//! warning, or refused — each at its file:line, so nothing is dropped silently.

use serde::Serialize;

use crate::stack::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Mapped,
    Warning,
    Refused,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    /// The compose service (or `networks`, `volumes`, `kubernetes`).
    pub service: String,
    /// The compose key (`healthcheck.start_period`, `ports[0]`).
    pub key: String,
    pub verdict: Verdict,
    /// What it became, or why not.
    pub detail: String,
    /// `file:line:col` of the key.
    pub at: String,
}

/// The report as it is built: a list, in the order the keys are met.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub entries: Vec<Conversion>,
}

impl Report {
    pub fn add(&mut self, service: &str, key: &str, span: Option<&Span>, verdict: Verdict, detail: impl Into<String>) {
        self.entries.push(Conversion {
            service: service.to_string(),
            key: key.to_string(),
            verdict,
            detail: detail.into(),
            at: span.map(|s| s.to_string()).unwrap_or_default(),
        });
    }

    pub fn mapped(&mut self, service: &str, key: &str, span: Option<&Span>, detail: impl Into<String>) {
        self.add(service, key, span, Verdict::Mapped, detail);
    }

    pub fn warn(&mut self, service: &str, key: &str, span: Option<&Span>, detail: impl Into<String>) {
        self.add(service, key, span, Verdict::Warning, detail);
    }

    pub fn refuse(&mut self, service: &str, key: &str, span: Option<&Span>, detail: impl Into<String>) {
        self.add(service, key, span, Verdict::Refused, detail);
    }

    pub fn refused(&self) -> impl Iterator<Item = &Conversion> {
        self.entries.iter().filter(|e| e.verdict == Verdict::Refused)
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.entries.iter().filter(|e| e.verdict == verdict).count()
    }

    /// The report as Markdown (written beside the manifests, for review in the same diff).
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "# Conversion report\n\nWritten by `tug export k8s`: every compose key of every service, and what it became.\n\n\
             | service | key | verdict | detail | at |\n|---|---|---|---|---|\n",
        );
        for e in &self.entries {
            let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
            s.push_str(&format!(
                "| {} | `{}` | {} | {} | {} |\n",
                cell(&e.service),
                cell(&e.key),
                match e.verdict {
                    Verdict::Mapped => "mapped",
                    Verdict::Warning => "**warning**",
                    Verdict::Refused => "**refused**",
                },
                cell(&e.detail),
                cell(&relative_at(&e.at)),
            ));
        }
        s
    }
}

/// `file:line:col` with only the file's name, so the report does not depend on where the stack lives.
pub fn relative_at(at: &str) -> String {
    let path = std::path::Path::new(at);
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| at.to_string())
}
