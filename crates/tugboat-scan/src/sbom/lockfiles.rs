//! Language lockfiles found in the image: Cargo.lock, package-lock.json, requirements*.txt, poetry.lock.
//!
//! No TOML crate is in the tree, and the two TOML lockfiles are generated in a fixed shape (`[[package]]`
//! tables of `key = "string"` lines), so a small line reader of those blocks is enough.

use std::collections::BTreeSet;

use super::{purl_encode, Package, PackageKind, SbomError};
use crate::Ecosystem;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockKind {
    CargoLock,
    PackageLock,
    Requirements,
    PoetryLock,
}

/// Which lockfile a path is, if any. Lockfiles under `node_modules/` and cargo's registry sources are the
/// dependencies' own (not what the image installed) and are left out, as are `proc/ sys/ dev/`.
pub(crate) fn kind_of(path: &str) -> Option<LockKind> {
    if ["proc/", "sys/", "dev/"].iter().any(|p| path.starts_with(p)) {
        return None;
    }
    if path.contains("node_modules/") || path.contains(".cargo/registry/") {
        return None;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "Cargo.lock" => Some(LockKind::CargoLock),
        "package-lock.json" => Some(LockKind::PackageLock),
        "poetry.lock" => Some(LockKind::PoetryLock),
        n if n.starts_with("requirements") && n.ends_with(".txt") => Some(LockKind::Requirements),
        _ => None,
    }
}

pub(crate) fn parse(kind: LockKind, path: &str, text: &str) -> Result<Vec<Package>, SbomError> {
    let pairs = match kind {
        LockKind::CargoLock => cargo_lock(text),
        LockKind::PackageLock => package_lock(path, text)?,
        LockKind::Requirements => requirements(text),
        LockKind::PoetryLock => poetry_lock(text),
    };
    let (pkind, eco) = match kind {
        LockKind::CargoLock => (PackageKind::Crate, Ecosystem::CratesIo),
        LockKind::PackageLock => (PackageKind::Npm, Ecosystem::Npm),
        LockKind::Requirements | LockKind::PoetryLock => (PackageKind::PyPI, Ecosystem::PyPI),
    };
    // One entry per (name, version): npm nests the same version under several parents.
    let mut seen = BTreeSet::new();
    Ok(pairs
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .map(|(name, version)| {
            let purl = purl(&pkind, &name, &version);
            Package {
                kind: pkind.clone(),
                name,
                version,
                ecosystem: Some(eco.clone()),
                source: None,
                location: path.into(),
                purl,
            }
        })
        .collect())
}

/// `pkg:cargo/serde@1.0.1`, `pkg:npm/%40scope/name@1.2.3`, `pkg:pypi/requests@2.31.0` (PyPI names
/// normalised as the purl spec asks: lowercase, `_` as `-`).
pub(crate) fn purl(kind: &PackageKind, name: &str, version: &str) -> String {
    let v = purl_encode(version);
    match kind {
        PackageKind::Crate => format!("pkg:cargo/{}@{v}", purl_encode(name)),
        PackageKind::Npm => match name.split_once('/') {
            Some((scope, n)) => format!("pkg:npm/{}/{}@{v}", purl_encode(scope), purl_encode(n)),
            None => format!("pkg:npm/{}@{v}", purl_encode(name)),
        },
        PackageKind::PyPI => format!("pkg:pypi/{}@{v}", purl_encode(&name.to_ascii_lowercase().replace('_', "-"))),
        PackageKind::Deb | PackageKind::Apk => format!("pkg:generic/{}@{v}", purl_encode(name)),
    }
}

/// `key = "value"` in a TOML lockfile line.
fn toml_string<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
    rest.strip_prefix('"')?.strip_suffix('"')
}

/// `[[package]]` blocks of crates from crates.io (path and git dependencies are not on crates.io; another
/// registry's crates would be matched against crates.io's advisories by mistake).
fn cargo_lock(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut block: Option<(Option<String>, Option<String>, Option<String>)> = None;
    let mut flush = |b: &mut Option<(Option<String>, Option<String>, Option<String>)>| {
        if let Some((Some(n), Some(v), Some(s))) = b.take() {
            if s == "registry+https://github.com/rust-lang/crates.io-index" || s == "sparse+https://index.crates.io/" {
                out.push((n, v));
            }
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            flush(&mut block);
            if line == "[[package]]" {
                block = Some((None, None, None));
            }
            continue;
        }
        if let Some((name, version, source)) = block.as_mut() {
            if let Some(v) = toml_string(line, "name") {
                *name = Some(v.to_string());
            } else if let Some(v) = toml_string(line, "version") {
                *version = Some(v.to_string());
            } else if let Some(v) = toml_string(line, "source") {
                *source = Some(v.to_string());
            }
        }
    }
    flush(&mut block);
    out
}

/// poetry.lock `[[package]]` blocks; packages whose `[package.source]` is a git checkout, a directory, a
/// file or a URL are not PyPI's.
fn poetry_lock(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // (name, version, not from an index, inside [package.source])
    let mut block: Option<(Option<String>, Option<String>, bool, bool)> = None;
    let mut flush = |b: &mut Option<(Option<String>, Option<String>, bool, bool)>| {
        if let Some((Some(n), Some(v), false, _)) = b.take() {
            out.push((n, v));
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            if line == "[package.source]" {
                if let Some(b) = block.as_mut() {
                    b.3 = true;
                }
                continue;
            }
            if line.starts_with("[package.") {
                if let Some(b) = block.as_mut() {
                    b.3 = false;
                }
                continue;
            }
            flush(&mut block);
            if line == "[[package]]" {
                block = Some((None, None, false, false));
            }
            continue;
        }
        if let Some((name, version, foreign, in_source)) = block.as_mut() {
            if *in_source {
                if let Some(t) = toml_string(line, "type") {
                    *foreign = matches!(t, "git" | "directory" | "file" | "url");
                }
            } else if let Some(v) = toml_string(line, "name") {
                *name = Some(v.to_string());
            } else if let Some(v) = toml_string(line, "version") {
                *version = Some(v.to_string());
            }
        }
    }
    flush(&mut block);
    out
}

/// `name==version` pins (extras, environment markers and `--hash` options allowed); ranges, `===`, URLs and
/// option lines are not pins of one version and are left out.
fn requirements(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        // A trailing `\` continues the pin onto `--hash` lines, which are skipped as options.
        let line = line.split(" #").next().unwrap_or("").trim().trim_end_matches('\\').trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        let spec = line.split(';').next().unwrap_or("").trim();
        let spec = spec.split(" --").next().unwrap_or("").trim();
        let Some((name, version)) = spec.split_once("==") else { continue };
        let version = version.trim();
        if version.starts_with('=') || version.is_empty() || version.contains([',', '*', ' ', '<', '>', '!', '~']) {
            continue;
        }
        let name = name.split('[').next().unwrap_or("").trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            continue;
        }
        out.push((name.to_string(), version.to_string()));
    }
    out
}

/// npm's lockfile: v2/v3 `packages` (keys `node_modules/a/node_modules/@s/b`; the root `""` entry, workspace
/// links and dev-only packages left out, as Trivy does by default), else v1's nested `dependencies`.
fn package_lock(path: &str, text: &str) -> Result<Vec<(String, String)>, SbomError> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SbomError::parse(path, format!("not JSON: {e}")))?;
    let mut out = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(|p| p.as_object()) {
        for (key, entry) in packages {
            let Some(idx) = key.rfind("node_modules/") else { continue };
            if entry.get("link").and_then(|l| l.as_bool()) == Some(true)
                || entry.get("dev").and_then(|l| l.as_bool()) == Some(true)
            {
                continue;
            }
            // An aliased install (`"x": "npm:y@1"`) records the real package's name.
            let name = entry.get("name").and_then(|n| n.as_str()).unwrap_or(&key[idx + "node_modules/".len()..]);
            let Some(version) = entry.get("version").and_then(|v| v.as_str()) else { continue };
            out.push((name.to_string(), version.to_string()));
        }
        return Ok(out);
    }
    fn walk(deps: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<(String, String)>) {
        for (name, entry) in deps {
            let dev = entry.get("dev").and_then(|d| d.as_bool()) == Some(true);
            if let Some(v) = entry.get("version").and_then(|v| v.as_str()) {
                // v1 writes a git URL or `file:` path as the version of a non-registry dependency.
                if !dev && !v.contains([':', '/']) {
                    out.push((name.clone(), v.to_string()));
                }
            }
            if let Some(nested) = entry.get("dependencies").and_then(|d| d.as_object()) {
                walk(nested, out);
            }
        }
    }
    if let Some(deps) = doc.get("dependencies").and_then(|d| d.as_object()) {
        walk(deps, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pkgs: &[Package]) -> Vec<String> {
        pkgs.iter().map(|p| format!("{}@{}", p.name, p.version)).collect()
    }

    #[test]
    fn which_files_are_lockfiles() {
        assert_eq!(kind_of("app/Cargo.lock"), Some(LockKind::CargoLock));
        assert_eq!(kind_of("srv/requirements-prod.txt"), Some(LockKind::Requirements));
        assert_eq!(kind_of("app/node_modules/x/package-lock.json"), None);
        assert_eq!(kind_of("proc/1/root/app/poetry.lock"), None);
        assert_eq!(kind_of("app/poetry.lock"), Some(LockKind::PoetryLock));
        assert_eq!(kind_of("app/Cargo.toml"), None);
    }

    #[test]
    fn cargo_lock_registry_crates_only() {
        let text = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "itoa",
]

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"

[[package]]
name = "fork"
version = "0.2.0"
source = "git+https://example.com/fork#abc"

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"

[metadata]
"checksum x" = "y"
"#;
        let pkgs = parse(LockKind::CargoLock, "app/Cargo.lock", text).unwrap();
        assert_eq!(names(&pkgs), ["itoa@1.0.11", "serde@1.0.200"]);
        assert_eq!(pkgs[0].purl, "pkg:cargo/itoa@1.0.11");
        assert_eq!(pkgs[0].ecosystem, Some(Ecosystem::CratesIo));
    }

    #[test]
    fn package_lock_v3_and_v1() {
        let v3 = r#"{"name":"app","lockfileVersion":3,"packages":{
            "":{"name":"app","version":"1.0.0"},
            "node_modules/lodash":{"version":"4.17.20"},
            "node_modules/@babel/core":{"version":"7.24.0"},
            "node_modules/a/node_modules/lodash":{"version":"4.17.20"},
            "node_modules/jest":{"version":"29.0.0","dev":true},
            "node_modules/ws-alias":{"name":"ws","version":"8.0.0"},
            "node_modules/local":{"resolved":"packages/local","link":true},
            "packages/local":{"name":"local","version":"0.0.1"}}}"#;
        let pkgs = parse(LockKind::PackageLock, "app/package-lock.json", v3).unwrap();
        assert_eq!(names(&pkgs), ["lodash@4.17.20", "@babel/core@7.24.0", "ws@8.0.0"]);
        assert_eq!(pkgs[1].purl, "pkg:npm/%40babel/core@7.24.0");

        let v1 = r#"{"lockfileVersion":1,"dependencies":{
            "express":{"version":"4.17.1","dependencies":{"qs":{"version":"6.7.0"}}},
            "mine":{"version":"git+https://example.com/mine.git#abc"},
            "mocha":{"version":"10.0.0","dev":true}}}"#;
        let pkgs = parse(LockKind::PackageLock, "app/package-lock.json", v1).unwrap();
        assert_eq!(names(&pkgs), ["express@4.17.1", "qs@6.7.0"]);

        let err = parse(LockKind::PackageLock, "app/package-lock.json", "{").unwrap_err();
        assert!(err.to_string().starts_with("app/package-lock.json: not JSON"), "{err}");
    }

    #[test]
    fn requirements_pins_only() {
        let text = "# comment\n-r base.txt\nrequests==2.31.0 \\\n    --hash=sha256:abc\nDjango[argon2]==4.2.1 ; \
                    python_version >= \"3.8\"\nflask>=2.0\nnumpy==1.*\nurllib3 == 1.26.18  # pinned\nweird===1.0\n\
                    Typing_Extensions==4.9.0\n";
        let pkgs = parse(LockKind::Requirements, "srv/requirements.txt", text).unwrap();
        assert_eq!(names(&pkgs), ["requests@2.31.0", "Django@4.2.1", "urllib3@1.26.18", "Typing_Extensions@4.9.0"]);
        assert_eq!(pkgs[3].purl, "pkg:pypi/typing-extensions@4.9.0");
    }

    #[test]
    fn poetry_lock_index_packages() {
        let text = r#"
[[package]]
name = "certifi"
version = "2023.7.22"
description = "Python package for providing Mozilla's CA Bundle."
optional = false
python-versions = ">=3.6"
files = [
    {file = "certifi-2023.7.22.tar.gz", hash = "sha256:abc"},
]

[[package]]
name = "mylib"
version = "0.1.0"

[package.source]
type = "git"
url = "https://example.com/mylib.git"

[[package]]
name = "idna"
version = "3.4"

[package.dependencies]
x = ">=1"

[metadata]
lock-version = "2.0"
"#;
        let pkgs = parse(LockKind::PoetryLock, "app/poetry.lock", text).unwrap();
        assert_eq!(names(&pkgs), ["certifi@2023.7.22", "idna@3.4"]);
        assert_eq!(pkgs[0].ecosystem, Some(Ecosystem::PyPI));
    }
}
