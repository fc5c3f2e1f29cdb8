//! apk-tools' database `lib/apk/db/installed`: one block per installed package, `K:value` lines, blocks
//! separated by blank lines. `P:` name, `V:` version, `A:` arch, `o:` origin (the source package, named by
//! Alpine's secdb and OSV).

use super::{OsPackage, OsRelease, Package, PackageKind, SbomError, Source};

pub(crate) fn parse(path: &str, text: &str, os: Option<&OsRelease>) -> Result<Vec<Package>, SbomError> {
    let mut out = Vec::new();
    let (mut name, mut version, mut arch, mut origin) = (None, None, None, None);
    let mut start = 1;
    let lines: Vec<&str> = text.lines().chain(std::iter::once("")).collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            if name.is_some() || version.is_some() {
                let Some(n) = name.take() else {
                    return Err(SbomError::parse(path, format!("block at line {start}: no P: (name) line")));
                };
                let Some(v) = version.take() else {
                    return Err(SbomError::parse(path, format!("package {n} (line {start}): no V: (version) line")));
                };
                out.push(package(path, n, v, arch.take(), origin.take(), os));
            }
            (arch, origin) = (None, None);
            start = i + 2;
            continue;
        }
        match line.split_once(':') {
            Some(("P", v)) => name = Some(v.trim()),
            Some(("V", v)) => version = Some(v.trim()),
            Some(("A", v)) => arch = Some(v.trim()),
            Some(("o", v)) => origin = Some(v.trim()),
            _ => {}
        }
    }
    Ok(out)
}

fn package(
    path: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    origin: Option<&str>,
    os: Option<&OsRelease>,
) -> Package {
    // An origin shares the binary package's version (apk builds every subpackage from one APKBUILD).
    let source = origin
        .filter(|o| !o.is_empty() && *o != name)
        .map(|o| Source { name: o.to_string(), version: version.to_string() });
    let upstream = source.as_ref().map(|s| s.name.clone());
    OsPackage {
        kind: PackageKind::Apk,
        purl_type: "apk",
        default_namespace: "alpine",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_with_origins() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\n\
                  o:openssl\nF:usr/lib\nR:libcrypto.so.3\n\n\nP:busybox\nV:1.36.1-r15\nA:x86_64\n";
        let os = OsRelease::parse("ID=alpine\nVERSION_ID=3.19.1\n").unwrap();
        let pkgs = parse("lib/apk/db/installed", db, Some(&os)).unwrap();
        assert_eq!(pkgs.len(), 3);
        assert_eq!(pkgs[0].source, None);
        assert_eq!(pkgs[1].source, Some(Source { name: "openssl".into(), version: "3.1.4-r5".into() }));
        assert_eq!(pkgs[1].advisory_key(), ("openssl", "3.1.4-r5"));
        assert_eq!(
            pkgs[1].purl,
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
        );
        assert_eq!(pkgs[2].name, "busybox");
        assert_eq!(pkgs[2].ecosystem, Some(crate::Ecosystem::Alpine("v3.19".into())));
    }

    #[test]
    fn block_without_version_is_an_error() {
        let err = parse("lib/apk/db/installed", "P:musl\nA:x86_64\n", None).unwrap_err();
        assert_eq!(err.to_string(), "lib/apk/db/installed: package musl (line 1): no V: (version) line");
    }
}
