//! Whether an installed package version is affected by an OSV record: the schema's "Evaluation"
//! algorithm (<https://ossf.github.io/osv-schema/#evaluation>), each version compared in its
//! ecosystem's order ([`crate::version::compare`]).
//!
//! - `versions[]` matches by exact string equality, whatever the version looks like.
//! - `SEMVER` ranges always compare as semver; `ECOSYSTEM` ranges with the package's scheme (dpkg, apk,
//!   semver, PEP 440); `GIT` ranges (commit hashes) are ignored: an image holds no commit graph.
//! - A range is evaluated only when the installed version and every event version parse in that order;
//!   otherwise it cannot say anything and does not match, so an unparseable installed version is a
//!   match only through `versions[]`.
//! - Withdrawn records never match.

use std::cmp::Ordering;

use serde::Serialize;

use super::cvss::{self, Severity};
use super::record::{AffectedPackage, EventKind, Range, Record};
use crate::{Ecosystem, Scheme};

/// A record that applies to the installed package.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Affected {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// The lowest `fixed` version above the installed one, in the ecosystem's order; `None`: no fix yet
    /// (or none the record names above this version).
    pub fixed: Option<String>,
    pub severity: Severity,
    /// The CVSS v3 vector the severity was computed from, with its base score.
    pub cvss: Option<(String, f64)>,
}

/// The record's verdict for `name` at `version` in `ecosystem`; `None` when it does not apply.
pub fn evaluate(record: &Record, ecosystem: &Ecosystem, name: &str, version: &str) -> Option<Affected> {
    if record.withdrawn.is_some() {
        return None;
    }
    let eco_key = ecosystem_key(&ecosystem.osv_name());
    let name_key = package_key(ecosystem, name);
    let entries: Vec<&AffectedPackage> = record
        .affected
        .iter()
        .filter(|a| {
            a.package
                .as_ref()
                .is_some_and(|p| ecosystem_key(&p.ecosystem) == eco_key && package_key(ecosystem, &p.name) == name_key)
        })
        .collect();
    let scheme = ecosystem.scheme();
    let hit = entries.iter().any(|a| {
        a.versions.iter().any(|v| v == version)
            || a.ranges.iter().any(|r| range_scheme(r, scheme).is_some_and(|s| includes(r, s, version)))
    });
    if !hit {
        return None;
    }
    let (severity, cvss) = severity_of(record, &entries);
    Some(Affected {
        id: record.id.clone(),
        aliases: record.aliases.clone(),
        summary: record
            .summary
            .clone()
            .or_else(|| record.details.as_ref().and_then(|d| d.lines().next()).map(str::to_owned)),
        fixed: lowest_fix_above(&entries, scheme, version),
        severity,
        cvss,
    })
}

/// The key an OSV ecosystem string is matched (and indexed) by: Ubuntu's `Pro:` and `:LTS` qualifiers
/// dropped (`Ubuntu:Pro:22.04:LTS` and `Ubuntu:22.04:LTS` are both release 22.04; other qualifiers such
/// as `FIPS` stay, so those streams do not match a standard install), Debian reduced to its major
/// release (`Debian:12`), Alpine to `v<major>.<minor>` (`Alpine:v3.19`); any other name as written.
pub fn ecosystem_key(osv_ecosystem: &str) -> String {
    let mut parts = osv_ecosystem.split(':');
    let base = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    match base {
        "Ubuntu" if !rest.is_empty() => {
            let kept: Vec<&str> = rest.into_iter().filter(|p| *p != "Pro" && *p != "LTS").collect();
            format!("Ubuntu:{}", kept.join(":"))
        }
        "Debian" if rest.len() == 1 => {
            let major = rest[0].split('.').next().unwrap_or_default();
            format!("Debian:{major}")
        }
        "Alpine" if rest.len() == 1 => {
            let release = rest[0].strip_prefix('v').unwrap_or(rest[0]);
            let mut nums = release.split('.');
            match (nums.next(), nums.next()) {
                (Some(major), Some(minor)) => format!("Alpine:v{major}.{minor}"),
                _ => format!("Alpine:v{release}"),
            }
        }
        _ => osv_ecosystem.to_owned(),
    }
}

/// The key a package name is matched by: PyPI names normalized as PEP 503 says (case-insensitive,
/// runs of `-`, `_`, `.` equal); every other ecosystem's names as written.
pub fn package_key(ecosystem: &Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::PyPI => pep503(name),
        _ => name.to_owned(),
    }
}

/// [`package_key`] for an OSV ecosystem string (the database indexes records before knowing which
/// [`Ecosystem`] will ask).
pub fn package_key_osv(osv_ecosystem: &str, name: &str) -> String {
    if osv_ecosystem == "PyPI" {
        pep503(name)
    } else {
        name.to_owned()
    }
}

fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The order a range's versions compare in; `None` for GIT (and unknown) range types.
fn range_scheme(range: &Range, package_scheme: Scheme) -> Option<Scheme> {
    match range.kind.as_str() {
        "SEMVER" => Some(Scheme::Semver),
        "ECOSYSTEM" => Some(package_scheme),
        _ => None,
    }
}

fn parses(scheme: Scheme, v: &str) -> bool {
    crate::version::compare(scheme, v, v) == Some(Ordering::Equal)
}

/// The schema's `IncludedInRanges` for one range (with `BeforeLimits`).
fn includes(range: &Range, scheme: Scheme, v: &str) -> bool {
    let events: Vec<EventKind<'_>> = range.events.iter().filter_map(|e| e.kind()).collect();
    // Everything compared must parse, else the walk below would be guessing.
    let comparable = |e: &EventKind<'_>| match e {
        EventKind::Introduced("0") | EventKind::Limit("*") => true,
        EventKind::Introduced(x) | EventKind::Fixed(x) | EventKind::LastAffected(x) | EventKind::Limit(x) => {
            parses(scheme, x)
        }
    };
    if !parses(scheme, v) || !events.iter().all(comparable) {
        return false;
    }
    let cmp = |a: &str, b: &str| crate::version::compare(scheme, a, b);

    // BeforeLimits: no limit event means an implicit "*".
    let limits: Vec<&str> =
        events.iter().filter_map(|e| if let EventKind::Limit(l) = e { Some(*l) } else { None }).collect();
    if !limits.is_empty() && !limits.iter().any(|l| *l == "*" || cmp(v, l) == Some(Ordering::Less)) {
        return false;
    }

    let mut vulnerable = false;
    for event in sorted(events, scheme) {
        match event {
            EventKind::Introduced(i) => {
                if i == "0" || cmp(v, i).is_some_and(Ordering::is_ge) {
                    vulnerable = true;
                }
            }
            EventKind::Fixed(f) => {
                if cmp(v, f).is_some_and(Ordering::is_ge) {
                    vulnerable = false;
                }
            }
            EventKind::LastAffected(l) => {
                if cmp(v, l).is_some_and(Ordering::is_gt) {
                    vulnerable = false;
                }
            }
            EventKind::Limit(_) => {}
        }
    }
    vulnerable
}

/// Events in version order, `introduced: "0"` before everything and `limit: "*"` after. An insertion
/// sort: stable (equal versions keep the record's order) and, unlike `sort_by`, it cannot panic should
/// a comparison ever be inconsistent.
fn sorted(events: Vec<EventKind<'_>>, scheme: Scheme) -> Vec<EventKind<'_>> {
    fn version<'a>(e: &EventKind<'a>) -> &'a str {
        match *e {
            EventKind::Introduced(x) | EventKind::Fixed(x) | EventKind::LastAffected(x) | EventKind::Limit(x) => x,
        }
    }
    let less = |a: &EventKind<'_>, b: &EventKind<'_>| -> bool {
        let bottom = |e: &EventKind<'_>| matches!(e, EventKind::Introduced("0"));
        let top = |e: &EventKind<'_>| matches!(e, EventKind::Limit("*"));
        if bottom(a) || top(b) {
            return !(bottom(b) || top(a));
        }
        if bottom(b) || top(a) {
            return false;
        }
        crate::version::compare(scheme, version(a), version(b)) == Some(Ordering::Less)
    };
    let mut out: Vec<EventKind<'_>> = Vec::with_capacity(events.len());
    for e in events {
        let at = out.iter().rposition(|o| !less(&e, o)).map_or(0, |i| i + 1);
        out.insert(at, e);
    }
    out
}

/// The lowest `fixed` event above `version` in the package's matching entries (GIT ranges aside).
fn lowest_fix_above(entries: &[&AffectedPackage], package_scheme: Scheme, version: &str) -> Option<String> {
    let mut best: Option<(&str, Scheme)> = None;
    for range in entries.iter().flat_map(|a| &a.ranges) {
        let Some(scheme) = range_scheme(range, package_scheme) else { continue };
        for event in &range.events {
            let Some(EventKind::Fixed(f)) = event.kind() else { continue };
            if crate::version::compare(scheme, version, f) != Some(Ordering::Less) {
                continue;
            }
            if best.is_none_or(|(b, s)| crate::version::compare(s, f, b) == Some(Ordering::Less)) {
                best = Some((f, scheme));
            }
        }
    }
    best.map(|(f, _)| f.to_owned())
}

/// Severity from the highest-scoring CVSS v3 vector (the record's or the package entry's); without one,
/// the database's own label; else `Unknown`. CVSS v4 and v2 vectors are not scored (see [`cvss`]).
fn severity_of(record: &Record, entries: &[&AffectedPackage]) -> (Severity, Option<(String, f64)>) {
    let scores = record.severity.iter().chain(entries.iter().flat_map(|a| &a.severity));
    let mut best: Option<(String, f64)> = None;
    for s in scores.clone() {
        if s.kind != "CVSS_V3" {
            continue;
        }
        if let Ok(score) = cvss::base_score(s.score.trim()) {
            if best.as_ref().is_none_or(|(_, b)| score > *b) {
                best = Some((s.score.trim().to_owned(), score));
            }
        }
    }
    if let Some((vector, score)) = best {
        return (Severity::from_score(score), Some((vector, score)));
    }
    let label_of = |v: &Option<serde_json::Value>| -> Option<Severity> {
        v.as_ref()?.get("severity")?.as_str().and_then(Severity::from_label)
    };
    let labels = entries
        .iter()
        .flat_map(|a| [label_of(&a.ecosystem_specific), label_of(&a.database_specific)])
        .chain([label_of(&record.database_specific)])
        .chain(scores.filter(|s| s.kind == "Ubuntu").map(|s| Severity::from_label(&s.score)));
    (labels.flatten().max().unwrap_or(Severity::Unknown), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystem_keys() {
        assert_eq!(ecosystem_key("Ubuntu:22.04:LTS"), "Ubuntu:22.04");
        assert_eq!(ecosystem_key("Ubuntu:Pro:22.04:LTS"), "Ubuntu:22.04");
        assert_eq!(ecosystem_key("Ubuntu:24.10"), "Ubuntu:24.10");
        assert_eq!(ecosystem_key("Ubuntu:Pro:FIPS:22.04:LTS"), "Ubuntu:FIPS:22.04");
        assert_eq!(ecosystem_key("Debian:12"), "Debian:12");
        assert_eq!(ecosystem_key("Debian:12.5"), "Debian:12");
        assert_eq!(ecosystem_key("Alpine:v3.19"), "Alpine:v3.19");
        assert_eq!(ecosystem_key("Alpine:3.19.1"), "Alpine:v3.19");
        assert_eq!(ecosystem_key("crates.io"), "crates.io");
        assert_eq!(ecosystem_key(&Ecosystem::Ubuntu("22.04:LTS".into()).osv_name()), "Ubuntu:22.04");
    }

    #[test]
    fn pypi_names_normalize() {
        assert_eq!(package_key(&Ecosystem::PyPI, "Django"), "django");
        assert_eq!(package_key(&Ecosystem::PyPI, "zope.interface"), "zope-interface");
        assert_eq!(package_key(&Ecosystem::PyPI, "Foo__Bar-.baz"), "foo-bar-baz");
        assert_eq!(package_key(&Ecosystem::Npm, "Foo_Bar"), "Foo_Bar");
        assert_eq!(package_key_osv("PyPI", "Jinja2"), "jinja2");
    }
}
