//! The Scan operation: the stack's images (or `--image` references) -> SBOMs -> the advisories of the
//! imported OSV database that affect their packages, with the ignores of `tugboat.yml` applied. It reads
//! only; it is an operation so that every scan, and the database it used, is in the audit log.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{Ctx, Error, ErrorKind, Operation, Subject, Verdict};
use tugboat::stack::config::ScanIgnore;
use tugboat::stack::{Span, Stack};
use tugboat_runtime::engine::{Docker, Engine};

use crate::osv::cvss::Severity;
use crate::osv::db::OsvDb;
use crate::osv::matching::evaluate;
use crate::sbom::{self, Sbom};

/// A database older than this draws a warning (Grype refuses one older than 5 days by default; tug warns
/// and lets `--max-db-age` make it an error, since an offline host updates its database by hand).
pub const WARN_DB_AGE_DAYS: u64 = 7;

pub struct Scan<'a> {
    /// The stack whose services' images are scanned (and whose `scan.ignore` applies); `None` with `images`.
    pub stack: Option<&'a Stack>,
    /// Services to scan (all when empty).
    pub services: Vec<String>,
    /// `--image REF`: these references instead of the stack's.
    pub images: Vec<String>,
    /// The OSV database (`.tugboat/osv.db`); not needed for an SBOM only.
    pub db: PathBuf,
    /// Only the SBOMs: no database, no findings.
    pub sbom_only: bool,
    /// Fail when the database is older than this many days.
    pub max_db_age_days: Option<u64>,
}

/// One image to scan and the services that run it.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub image: String,
    pub services: Vec<String>,
    /// The compose file position of the first service's `image:` (where SARIF points).
    pub location: Option<Location>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct DbSummary {
    pub path: PathBuf,
    pub records: u64,
    /// Days since the newest record was modified.
    pub age_days: Option<u64>,
    pub ecosystems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScanPlan {
    pub targets: Vec<Target>,
    pub db: Option<DbSummary>,
    pub ignores: usize,
}

impl fmt::Display for ScanPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Would scan {} image{}:", self.targets.len(), if self.targets.len() == 1 { "" } else { "s" })?;
        for t in &self.targets {
            writeln!(
                f,
                "  {} ({})",
                t.image,
                if t.services.is_empty() { "--image".into() } else { t.services.join(", ") }
            )?;
        }
        match &self.db {
            Some(db) => writeln!(
                f,
                "against {} ({} records; {}; newest record {} days old)",
                db.path.display(),
                db.records,
                db.ecosystems.join(", "),
                db.age_days.map_or("?".into(), |d| d.to_string())
            )?,
            None => writeln!(f, "SBOM only: no vulnerability database")?,
        }
        if self.ignores > 0 {
            writeln!(
                f,
                "{} ignore entr{} of tugboat.yml apply",
                self.ignores,
                if self.ignores == 1 { "y" } else { "ies" }
            )?;
        }
        Ok(())
    }
}

/// A vulnerability in one package of one image.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub severity: Severity,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    /// The installed package (binary name) and version.
    pub package: String,
    pub version: String,
    /// The package the advisory names (the source package of a deb/apk), when it differs.
    pub advisory_package: Option<String>,
    pub ecosystem: String,
    /// The lowest released version that fixes it; `None`: no fix yet.
    pub fixed: Option<String>,
    /// Where in the image the package was found.
    pub location: String,
    /// Why it is ignored (tugboat.yml `scan.ignore`), while it is.
    pub ignored: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageReport {
    pub image: String,
    pub image_id: Option<String>,
    pub services: Vec<String>,
    #[serde(skip)]
    pub location: Option<Location>,
    pub os: Option<String>,
    pub packages: usize,
    /// Packages no advisory can name (deb/apk packages of an image without os-release).
    pub unmatched_packages: usize,
    pub findings: Vec<Finding>,
    #[serde(skip)]
    pub sbom: Sbom,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    pub stack: Option<String>,
    pub db: Option<DbSummary>,
    pub images: Vec<ImageReport>,
    pub warnings: Vec<String>,
}

impl ScanReport {
    /// Findings not ignored, every image.
    pub fn counted(&self) -> impl Iterator<Item = &Finding> {
        self.images.iter().flat_map(|i| &i.findings).filter(|f| f.ignored.is_none())
    }
}

impl Verdict for ScanReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> Value {
        let mut by_severity: BTreeMap<String, usize> = BTreeMap::new();
        for f in self.counted() {
            *by_severity.entry(format!("{:?}", f.severity).to_lowercase()).or_default() += 1;
        }
        let ignored = self.images.iter().flat_map(|i| &i.findings).filter(|f| f.ignored.is_some()).count();
        json!({"images": self.images.len(), "findings": by_severity, "ignored": ignored,
               "db_age_days": self.db.as_ref().and_then(|d| d.age_days)})
    }
}

fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, message.into())
}

impl Scan<'_> {
    fn targets(&self) -> tugboat::ops::Result<Vec<Target>> {
        if !self.images.is_empty() {
            return Ok(self
                .images
                .iter()
                .map(|i| Target { image: i.clone(), services: vec![], location: None })
                .collect());
        }
        let Some(stack) = self.stack else {
            return Err(err(ErrorKind::Usage, "no stack here: give --dir, or images with --image REF"));
        };
        let known: Vec<&str> = stack.project.services.iter().map(|s| s.name.as_str()).collect();
        if let Some(unknown) = self.services.iter().find(|s| !known.contains(&s.as_str())) {
            return Err(err(
                ErrorKind::Usage,
                format!("no service `{unknown}` in this stack; its services: {}", known.join(", ")),
            ));
        }
        let mut targets: Vec<Target> = Vec::new();
        for s in &stack.project.services {
            if !self.services.is_empty() && !self.services.contains(&s.name) {
                continue;
            }
            // A service that is only built runs the image Compose names after the project and service.
            let image = s.image.clone().unwrap_or_else(|| format!("{}-{}", stack.project.name, s.name));
            match targets.iter_mut().find(|t| t.image == image) {
                Some(t) => t.services.push(s.name.clone()),
                None => targets.push(Target {
                    location: s.node.entry("image").map(|(k, _)| location(&k.span)),
                    image,
                    services: vec![s.name.clone()],
                }),
            }
        }
        Ok(targets)
    }

    fn ignores(&self) -> &[ScanIgnore] {
        self.stack.and_then(|s| s.config.scan.as_ref()).map_or(&[], |s| s.ignore.as_slice())
    }
}

fn location(span: &Span) -> Location {
    Location { file: span.file.to_path_buf(), line: span.line as usize, column: span.col as usize }
}

impl Operation for Scan<'_> {
    type Plan = ScanPlan;
    type Report = ScanReport;

    fn command(&self) -> &'static str {
        "scan"
    }

    fn subject(&self) -> Subject {
        self.stack.map_or_else(Subject::none, Subject::of)
    }

    fn request(&self) -> Value {
        json!({"services": self.services, "images": self.images, "sbom_only": self.sbom_only,
               "max_db_age_days": self.max_db_age_days})
    }

    fn plan(&self, ctx: &mut Ctx) -> tugboat::ops::Result<ScanPlan> {
        let targets = self.targets()?;
        for (i, ignore) in self.ignores().iter().enumerate() {
            if ignore.reason.trim().is_empty() {
                return Err(err(
                    ErrorKind::Config,
                    format!("tugboat.yml scan.ignore[{i}].reason: say why `{}` is accepted", ignore.id),
                ));
            }
            if let Some(until) = &ignore.until {
                parse_day(until)
                    .map_err(|e| err(ErrorKind::Config, format!("tugboat.yml scan.ignore[{i}].until: {e}")))?;
            }
        }
        let db = if self.sbom_only {
            None
        } else {
            let summary = db_summary(&self.db, ctx.clock.now_ms())?;
            if let (Some(max), Some(age)) = (self.max_db_age_days, summary.age_days) {
                if age > max {
                    return Err(err(
                        ErrorKind::CannotAct,
                        format!(
                            "the vulnerability database is {age} days old (--max-db-age {max}): import a current one with \
                             `tug scan db import all.zip` (docs/scan.md)"
                        ),
                    ));
                }
            }
            Some(summary)
        };
        Ok(ScanPlan { targets, db, ignores: self.ignores().len() })
    }

    fn run(&self, plan: &ScanPlan, ctx: &mut Ctx) -> tugboat::ops::Result<ScanReport> {
        let engine = Docker::connect().map_err(Error::from)?;
        let db = match &plan.db {
            Some(_) => Some(OsvDb::open(&self.db).map_err(|e| err(ErrorKind::CannotAct, e.to_string()))?),
            None => None,
        };
        let today = day_of(ctx.clock.now_ms());
        let mut warnings = Vec::new();
        if let Some(age) = plan.db.as_ref().and_then(|d| d.age_days).filter(|a| *a > WARN_DB_AGE_DAYS) {
            warnings.push(format!(
                "the vulnerability database is {age} days old: advisories published since are not known (docs/scan.md)"
            ));
        }
        for (i, ignore) in self.ignores().iter().enumerate() {
            if ignore.until.as_deref().and_then(|u| parse_day(u).ok()).is_some_and(|u| u < today) {
                warnings.push(format!(
                    "tugboat.yml scan.ignore[{i}] ({}) expired on {}: it counts again",
                    ignore.id,
                    ignore.until.as_deref().unwrap_or_default()
                ));
            }
        }
        let mut images = Vec::new();
        for (n, target) in plan.targets.iter().enumerate() {
            ctx.cancel.check()?;
            ctx.progress.started(&target.image, n, plan.targets.len());
            let sbom = read_sbom(&engine, &target.image)?;
            let mut findings = Vec::new();
            let mut unmatched = 0;
            for p in &sbom.packages {
                let Some(ecosystem) = &p.ecosystem else {
                    unmatched += 1;
                    continue;
                };
                let Some(db) = &db else { continue };
                let (name, version) = p.advisory_key();
                let records = db.advisories(ecosystem, name).map_err(|e| err(ErrorKind::CannotAct, e.to_string()))?;
                for record in &records {
                    let Some(a) = evaluate(record, ecosystem, name, version) else { continue };
                    if findings.iter().any(|f: &Finding| f.id == a.id && f.package == p.name) {
                        continue;
                    }
                    let mut finding = Finding {
                        id: a.id.clone(),
                        aliases: a.aliases.clone(),
                        summary: a.summary.clone().unwrap_or_default(),
                        severity: a.severity,
                        cvss_score: a.cvss.as_ref().map(|c| c.1),
                        cvss_vector: a.cvss.as_ref().map(|c| c.0.clone()),
                        package: p.name.clone(),
                        version: p.version.clone(),
                        advisory_package: (name != p.name).then(|| name.to_string()),
                        ecosystem: ecosystem.osv_name(),
                        fixed: a.fixed.clone(),
                        location: p.location.clone(),
                        ignored: None,
                    };
                    finding.ignored = ignored_by(self.ignores(), &finding, today);
                    findings.push(finding);
                }
            }
            findings.sort_by(|a, b| {
                b.severity.cmp(&a.severity).then_with(|| a.package.cmp(&b.package)).then(a.id.cmp(&b.id))
            });
            ctx.progress.finished(&target.image, true);
            images.push(ImageReport {
                image: target.image.clone(),
                image_id: sbom.image_id.clone(),
                services: target.services.clone(),
                location: target.location.clone(),
                os: sbom.os.as_ref().map(|o| o.pretty_name.clone().unwrap_or_else(|| o.id.clone())),
                packages: sbom.packages.len(),
                unmatched_packages: unmatched,
                findings,
                sbom,
            });
        }
        Ok(ScanReport { stack: self.stack.map(|s| s.name.clone()), db: plan.db.clone(), images, warnings })
    }
}

/// The image's archive from the engine, spooled to a temporary file, read into an SBOM.
fn read_sbom(engine: &Docker, image: &str) -> tugboat::ops::Result<Sbom> {
    if engine.image(image).map_err(Error::from)?.is_none() {
        return Err(err(
            ErrorKind::CannotAct,
            format!("the image {image} is not on this engine: `tug up` builds or pulls it (tug scan never pulls)"),
        ));
    }
    let mut spool = tempfile::tempfile().map_err(|e| err(ErrorKind::CannotAct, format!("a temporary file: {e}")))?;
    engine.save_image(image, &mut spool).map_err(Error::from)?;
    use std::io::Seek;
    spool.rewind().map_err(|e| err(ErrorKind::CannotAct, e.to_string()))?;
    sbom::from_image_archive(image, std::io::BufReader::new(spool))
        .map_err(|e| err(ErrorKind::CannotAct, format!("reading the image {image}: {e}")))
}

fn db_summary(path: &Path, now_ms: i64) -> tugboat::ops::Result<DbSummary> {
    if !path.exists() {
        return Err(err(
            ErrorKind::CannotAct,
            format!(
                "no vulnerability database at {}: bring OSV's all.zip archives to this host and run `tug scan db import \
                 FILE` (docs/scan.md explains how, offline)",
                path.display()
            ),
        ));
    }
    let db = OsvDb::open(path).map_err(|e| err(ErrorKind::CannotAct, e.to_string()))?;
    let status = db.status().map_err(|e| err(ErrorKind::CannotAct, e.to_string()))?;
    Ok(DbSummary {
        path: path.to_path_buf(),
        records: status.records,
        age_days: status.age_ms(now_ms).map(|ms| (ms.max(0) / 86_400_000) as u64),
        ecosystems: status.ecosystems.iter().map(|e| e.ecosystem.clone()).collect(),
    })
}

/// Why `finding` is ignored, if an entry of `scan.ignore` covers it today.
fn ignored_by(ignores: &[ScanIgnore], finding: &Finding, today: i64) -> Option<String> {
    ignores
        .iter()
        .filter(|i| i.id == finding.id || finding.aliases.contains(&i.id))
        .filter(|i| {
            i.package.as_ref().is_none_or(|p| *p == finding.package || finding.advisory_package.as_ref() == Some(p))
        })
        .find(|i| i.until.as_deref().and_then(|u| parse_day(u).ok()).is_none_or(|u| u >= today))
        .map(|i| match &i.until {
            Some(until) => format!("{} (until {until})", i.reason),
            None => i.reason.clone(),
        })
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn parse_day(text: &str) -> Result<i64, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), &format)
        // 2 440 588 is the Julian day of 1970-01-01.
        .map(|d| i64::from(d.to_julian_day()) - 2_440_588)
        .map_err(|_| format!("`{text}` is not a date: write YYYY-MM-DD"))
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_ignores() {
        assert_eq!(parse_day("1970-01-02"), Ok(1));
        assert!(parse_day("2026-13-01").is_err());
        let finding = Finding {
            id: "DSA-5678-1".into(),
            aliases: vec!["CVE-2024-0001".into()],
            summary: String::new(),
            severity: Severity::High,
            cvss_score: None,
            cvss_vector: None,
            package: "libssl3".into(),
            version: "3.0.1-1".into(),
            advisory_package: Some("openssl".into()),
            ecosystem: "Debian:12".into(),
            fixed: None,
            location: String::new(),
            ignored: None,
        };
        let ignore = |id: &str, until: Option<&str>, package: Option<&str>| ScanIgnore {
            id: id.into(),
            reason: "not reachable".into(),
            until: until.map(Into::into),
            package: package.map(Into::into),
        };
        let today = parse_day("2026-12-02").unwrap();
        assert_eq!(
            ignored_by(&[ignore("CVE-2024-0001", None, None)], &finding, today).as_deref(),
            Some("not reachable")
        );
        assert_eq!(
            ignored_by(&[ignore("DSA-5678-1", Some("2026-12-02"), Some("openssl"))], &finding, today).as_deref(),
            Some("not reachable (until 2026-12-02)")
        );
        assert_eq!(ignored_by(&[ignore("DSA-5678-1", Some("2026-12-01"), None)], &finding, today), None, "expired");
        assert_eq!(ignored_by(&[ignore("DSA-5678-1", None, Some("zlib"))], &finding, today), None, "other package");
    }
}
