//! dpkg's database: `var/lib/dpkg/status` (stanzas of every package dpkg knows, installed or not) and the
//! distroless `var/lib/dpkg/status.d/NAME` (one installed package per file, usually without a Status line).

use super::{OsPackage, OsRelease, Package, PackageKind, SbomError, Source};

/// The packages of one status file. `require_status`: only stanzas whose Status is `install ok installed`
/// (or `hold ok installed`) count (the main status file also lists removed, half-configured and purged-but-remembered packages).
pub(crate) fn parse(
    path: &str,
    text: &str,
    os: Option<&OsRelease>,
    require_status: bool,
) -> Result<Vec<Package>, SbomError> {
    let mut out = Vec::new();
    for (stanza_line, stanza) in stanzas(text) {
        let field = |name: &str| stanza.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let installed = match field("Status") {
            // `install ok installed`, and `hold ok installed` (held at its version, still on disk); not
            // half-installed, config-files only, or marked for removal.
            Some(s) => matches!(s.split_whitespace().collect::<Vec<_>>()[..], ["install" | "hold", "ok", "installed"]),
            None => !require_status,
        };
        if !installed {
            continue;
        }
        let Some(name) = field("Package") else {
            return Err(SbomError::parse(path, format!("stanza at line {stanza_line}: no Package field")));
        };
        let Some(version) = field("Version") else {
            return Err(SbomError::parse(path, format!("package {name} (line {stanza_line}): no Version field")));
        };
        let source = field("Source").and_then(|s| source_of(name, version, s));
        let arch = field("Architecture");
        out.push(package(path, name, version, arch, source, os));
    }
    Ok(out)
}

/// `Source: openssl` or `Source: openssl (3.0.11-1)`; None when it names the binary package at its own version.
fn source_of(name: &str, version: &str, field: &str) -> Option<Source> {
    let field = field.trim();
    let (src, src_version) = match field.split_once('(') {
        Some((s, v)) => (s.trim(), v.trim_end().trim_end_matches(')').trim()),
        None => (field, version),
    };
    if src.is_empty() || (src == name && src_version == version) {
        return None;
    }
    Some(Source { name: src.to_string(), version: src_version.to_string() })
}

fn package(
    path: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    source: Option<Source>,
    os: Option<&OsRelease>,
) -> Package {
    // Syft's qualifier for the source package: the name, `@version` when it differs from the binary's.
    let upstream =
        source
            .as_ref()
            .map(|s| if s.version == version { s.name.clone() } else { format!("{}@{}", s.name, s.version) });
    OsPackage {
        kind: PackageKind::Deb,
        purl_type: "deb",
        default_namespace: "debian",
        path,
        name,
        version,
        arch,
        source,
        upstream,
        os,
    }
    .package()
}

/// RFC 822-style stanzas separated by blank lines: (first line number, fields). Continuation lines (starting
/// with a space or tab: Description, Conffiles) are skipped, no field tug reads spans lines.
pub(crate) fn stanzas(text: &str) -> Vec<(usize, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push((start, std::mem::take(&mut current)));
            }
            start = i + 2;
            continue;
        }
        if line.starts_with([' ', '\t']) || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 continuation: not a field

Package: removed-one
Status: deinstall ok config-files
Version: 1.0

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1

Package: tar
Status: install ok installed
Architecture: amd64
Version: 1.34+dfsg-1.2

Package: half
Status: install reinstreq half-installed
Version: 1

Package: held
Status: hold ok installed
Version: 2
";

    #[test]
    fn installed_stanzas_with_their_sources() {
        let os = OsRelease::parse("ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        let pkgs = parse("var/lib/dpkg/status", STATUS, Some(&os), true).unwrap();
        let names: Vec<_> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libssl3", "libgcc-s1", "zlib1g", "tar", "held"]);
        assert_eq!(pkgs[0].source, Some(Source { name: "openssl".into(), version: "3.0.11-1~deb12u2".into() }));
        assert_eq!(pkgs[0].advisory_key(), ("openssl", "3.0.11-1~deb12u2"));
        assert_eq!(
            pkgs[0].purl,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
        );
        assert_eq!(pkgs[1].source, Some(Source { name: "gcc-12".into(), version: "12.2.0-14".into() }));
        // A Source naming the package itself at its own version is no different source.
        assert_eq!(pkgs[2].source, Some(Source { name: "zlib".into(), version: "1:1.2.13.dfsg-1".into() }));
        assert_eq!(pkgs[2].purl, "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib");
        assert_eq!(pkgs[3].source, None);
        assert_eq!(pkgs[3].ecosystem, Some(crate::Ecosystem::Debian("12".into())));
        assert_eq!(source_of("tar", "1.34", "tar (1.34)"), None);
        assert_eq!(
            source_of("tar", "1.34+b1", "tar (1.34)"),
            Some(Source { name: "tar".into(), version: "1.34".into() })
        );
    }

    #[test]
    fn status_d_needs_no_status_and_unknown_os_has_no_ecosystem() {
        let pkgs = parse("var/lib/dpkg/status.d/base", "Package: base-files\nVersion: 12.4\n", None, false).unwrap();
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].ecosystem, None);
        assert_eq!(pkgs[0].purl, "pkg:deb/debian/base-files@12.4");
    }

    #[test]
    fn missing_version_names_the_package() {
        let err = parse("var/lib/dpkg/status", "Package: x\nStatus: install ok installed\n", None, true).unwrap_err();
        assert_eq!(err.to_string(), "var/lib/dpkg/status: package x (line 1): no Version field");
    }
}
