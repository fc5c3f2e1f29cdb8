//! `tug scan`: findings per image (worst first, fixed-in or "no fix yet"), SARIF 2.1.0 like Trivy's for
//! GitHub code scanning, and the database's import and status.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use tugboat_scan::import::ImportReport;
use tugboat_scan::osv::cvss::Severity;
use tugboat_scan::osv::db::DbStatus;
use tugboat_scan::scan::{Finding, ScanReport};

use super::display_path;
use super::style::{paint, BOLD, DIM, HIGH, LOW, MEDIUM, OK};

fn name(s: Severity) -> &'static str {
    s.as_str()
}

fn painted(s: Severity) -> String {
    let text = format!("{:<8}", name(s).to_uppercase());
    match s {
        Severity::Critical | Severity::High => paint(HIGH, &text),
        Severity::Medium => paint(MEDIUM, &text),
        Severity::Low => paint(LOW, &text),
        Severity::Unknown => paint(DIM, &text),
    }
}

pub fn print(out: &mut dyn Write, r: &ScanReport) -> std::io::Result<()> {
    for image in &r.images {
        let services =
            if image.services.is_empty() { String::new() } else { format!(" ({})", image.services.join(", ")) };
        writeln!(
            out,
            "{}{services}  {} · {} packages",
            paint(BOLD, &image.image),
            image.os.as_deref().unwrap_or("unknown OS"),
            image.packages
        )?;
        if image.unmatched_packages > 0 {
            writeln!(out, "  {} OS packages not matched: the image has no os-release", image.unmatched_packages)?;
        }
        for f in image.findings.iter().filter(|f| f.ignored.is_none()) {
            writeln!(out, "  {} {:<20} {}  {}", painted(f.severity), f.id, package(f), fix(f))?;
            if !f.summary.is_empty() {
                writeln!(out, "  {:<8} {:<20} {}", "", "", paint(DIM, &f.summary))?;
            }
        }
        for f in image.findings.iter().filter(|f| f.ignored.is_some()) {
            let why = f.ignored.as_deref().unwrap_or_default();
            writeln!(out, "  {} {:<20} {}  {}", paint(DIM, "ignored "), f.id, package(f), paint(DIM, why))?;
        }
        if image.findings.is_empty() {
            writeln!(out, "  {}", paint(OK, "no known vulnerabilities"))?;
        }
    }
    let mut counts: BTreeMap<u8, (Severity, usize)> = BTreeMap::new();
    for f in r.counted() {
        counts.entry(rank(f.severity)).or_insert((f.severity, 0)).1 += 1;
    }
    let fixable = r.counted().filter(|f| f.fixed.is_some()).count();
    let parts: Vec<String> = counts.values().rev().map(|(s, n)| format!("{n} {}", name(*s))).collect();
    let total = r.counted().count();
    let summary =
        if total == 0 { "no findings".to_string() } else { format!("{} ({fixable} fixable)", parts.join(", ")) };
    let db = r.db.as_ref().map_or(String::new(), |d| {
        format!(
            "; database: {} records, newest {} days old",
            d.records,
            d.age_days.map_or("?".into(), |a| a.to_string())
        )
    });
    writeln!(out, "{} {summary}{db}", paint(BOLD, "scan:"))
}

fn package(f: &Finding) -> String {
    match &f.advisory_package {
        Some(source) => format!("{} {} (source {source})", f.package, f.version),
        None => format!("{} {}", f.package, f.version),
    }
}

fn fix(f: &Finding) -> String {
    match &f.fixed {
        Some(v) => paint(OK, &format!("fixed in {v}")),
        None => paint(DIM, "no fix yet"),
    }
}

/// Higher is worse.
fn rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 4,
        Severity::High => 3,
        Severity::Medium => 2,
        Severity::Low => 1,
        Severity::Unknown => 0,
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// The score GitHub ranks security alerts by: the CVSS base score, else the middle of the severity's band.
fn security_severity(f: &Finding) -> String {
    let score = f.cvss_score.unwrap_or(match f.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    });
    format!("{score:.1}")
}

/// SARIF 2.1.0 as Trivy writes it for images: a rule per vulnerability id, a result per affected package,
/// located at the compose file's `image:` of the service (or at the image reference for `--image`).
pub fn sarif(r: &ScanReport) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut results = Vec::new();
    for image in &r.images {
        for f in &image.findings {
            let rule = *index.entry(f.id.clone()).or_insert_with(|| {
                rules.push(json!({
                    "id": f.id,
                    "name": "OsVulnerability",
                    "shortDescription": {"text": if f.summary.is_empty() { f.id.clone() } else { f.summary.clone() }},
                    "fullDescription": {"text": f.summary},
                    "helpUri": format!("https://osv.dev/vulnerability/{}", f.id),
                    "help": {"text": format!("{}: {} {}, {}", f.id, f.package, f.version, fix_text(f)),
                             "markdown": format!("**{}** in `{} {}`: {}", f.id, f.package, f.version, fix_text(f))},
                    "defaultConfiguration": {"level": level(f.severity)},
                    "properties": {"precision": "very-high", "security-severity": security_severity(f),
                                   "tags": ["vulnerability", "security", name(f.severity).to_uppercase()]},
                }));
                rules.len() - 1
            });
            let (uri, line, column) = match &image.location {
                Some(l) => (display_path(&l.file).replace('\\', "/"), l.line.max(1), l.column.max(1)),
                None => (image.image.clone(), 1, 1),
            };
            let mut result = json!({
                "ruleId": f.id,
                "ruleIndex": rule,
                "level": level(f.severity),
                "message": {"text": format!(
                    "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nImage: {}\nLocation: {}",
                    f.package, f.version, f.id, name(f.severity).to_uppercase(), f.fixed.as_deref().unwrap_or(""),
                    image.image, f.location)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": line, "startColumn": column},
                }}],
                "partialFingerprints": {"tugVulnerability/v1": format!("{}:{}:{}", image.image, f.package, f.id)},
            });
            if let Some(reason) = &f.ignored {
                result["suppressions"] = json!([{"kind": "external", "justification": reason}]);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "tug", "informationUri": "https://github.com/tugboat", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "automationDetails": {"id": format!("tug-scan/{}/", r.stack.as_deref().unwrap_or("images"))},
            "results": results,
        }]
    })
}

fn fix_text(f: &Finding) -> String {
    match &f.fixed {
        Some(v) => format!("fixed in {v}"),
        None => "no fix yet".into(),
    }
}

pub fn print_import(out: &mut dyn Write, r: &ImportReport) -> std::io::Result<()> {
    for i in &r.imports {
        writeln!(
            out,
            "{} {}: {} records ({} new, {} replaced, {} unchanged, {} withdrawn) · {} · sha256 {}",
            paint(OK, "imported"),
            i.source,
            i.records,
            i.inserted,
            i.replaced,
            i.unchanged,
            i.withdrawn,
            i.ecosystems.join(", "),
            i.sha256
        )?;
    }
    writeln!(out, "database: {}", display_path(&r.db))
}

pub fn print_status(out: &mut dyn Write, path: &Path, s: &DbStatus) -> std::io::Result<()> {
    writeln!(out, "{} · {} records ({} withdrawn)", paint(BOLD, &display_path(path)), s.records, s.withdrawn)?;
    for e in &s.ecosystems {
        writeln!(out, "  {:<24} {:>8}", e.ecosystem, e.records)?;
    }
    if let Some(newest) = &s.newest_modified {
        writeln!(out, "newest record modified {newest}")?;
    }
    if let Some(last) = &s.last_import {
        writeln!(
            out,
            "last import: {} ({} records, sha256 {}) at {}",
            last.source,
            last.records,
            last.sha256,
            tugboat_watch::watch::notify::format_time(last.imported_at)
        )?;
    }
    Ok(())
}
