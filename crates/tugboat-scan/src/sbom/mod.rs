//! What an image contains: the packages read from its layers (applied in order, whiteouts honoured), each
//! with the OSV ecosystem its advisories are filed under and, for distro packages, the source package those
//! advisories name.
//!
//! ```text
//!  docker save / images/get tar ─▶ archive: outer tar read once, layer tars spilled to a temp dir,
//!                                  layers applied in order; only the files the readers need are kept
//!      ─▶ os_release, dpkg, apk, lockfiles, auditable (ELF `.dep-v0`) ─▶ Sbom ─▶ cyclonedx
//! ```
//!
//! Not read yet: RPM's database (`var/lib/rpm/rpmdb.sqlite`, the last item of issue 19 part 1), so RHEL,
//! Fedora and Amazon Linux images list only their lockfiles and Rust binaries.

mod apk;
mod archive;
mod auditable;
mod cyclonedx;
mod dpkg;
mod lockfiles;
mod os_release;

use serde::Serialize;

use crate::Ecosystem;

pub use archive::{from_filesystem_archive, from_image_archive};
pub use cyclonedx::cyclonedx;
pub use os_release::OsRelease;

/// Which kind of package database a package was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PackageKind {
    Deb,
    Apk,
    Crate,
    Npm,
    PyPI,
}

/// The source package a binary package was built from (what distro advisories name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    pub kind: PackageKind,
    pub name: String,
    pub version: String,
    /// The OSV ecosystem advisories name it under: Debian(release) / Ubuntu / Alpine(`v3.19`) from os-release for
    /// deb/apk (None when the OS is unknown), CratesIo / Npm / PyPI for the others.
    pub ecosystem: Option<Ecosystem>,
    /// What distro advisories name: dpkg `Source:` (`openssl`, or `openssl (3.0.11-1)` giving a different source
    /// version), apk origin `o:`; None when the source is the binary package itself or not applicable.
    pub source: Option<Source>,
    /// Where in the image it was found (`var/lib/dpkg/status`, `usr/local/bin/app`, `app/package-lock.json`).
    pub location: String,
    /// Package URL (purl spec): pkg:deb/debian/openssl@3.0.11-1?arch=amd64&distro=debian-12, pkg:apk/alpine/...,
    /// pkg:cargo/serde@1.0.1, pkg:npm/%40scope/name@1.2.3, pkg:pypi/requests@2.31.0
    pub purl: String,
}

impl Package {
    /// The (name, version) advisories are matched on: the source package's for deb/apk when known.
    pub fn advisory_key(&self) -> (&str, &str) {
        match (&self.kind, &self.source) {
            (PackageKind::Deb | PackageKind::Apk, Some(s)) => (&s.name, &s.version),
            _ => (&self.name, &self.version),
        }
    }
}

/// An image's bill of materials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sbom {
    /// The image reference it was read for (`app:1.2`).
    pub image: String,
    /// The image ID (`sha256:` of its config), when the archive carries it.
    pub image_id: Option<String>,
    pub os: Option<OsRelease>,
    pub packages: Vec<Package>,
}

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The archive's own structure (manifest.json, index.json, a layer it names) is not what it should be.
    #[error("image archive: {0}")]
    Archive(String),
    /// A file in the image is bigger than what tug reads of that kind of file.
    #[error("{path}: {size} bytes, over the {cap}-byte limit for {what}")]
    TooLarge { path: String, size: u64, cap: u64, what: &'static str },
    /// A package database or lockfile in the image that cannot be read.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl SbomError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SbomError {
        let context = context.into();
        move |source| SbomError::Io { context, source }
    }

    pub(crate) fn parse(path: &str, message: impl Into<String>) -> SbomError {
        SbomError::Parse { path: path.to_string(), message: message.into() }
    }
}

/// A distribution's package (deb, apk) as found in its database.
pub(crate) struct OsPackage<'a> {
    pub kind: PackageKind,
    /// The purl type (`deb`, `apk`) and the namespace when the image has no os-release (`debian`, `alpine`).
    pub purl_type: &'a str,
    pub default_namespace: &'a str,
    pub path: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub arch: Option<&'a str>,
    pub source: Option<Source>,
    /// The purl's `upstream=` qualifier: the source package, as Syft writes it.
    pub upstream: Option<String>,
    pub os: Option<&'a OsRelease>,
}

impl OsPackage<'_> {
    /// `pkg:TYPE/NAMESPACE/NAME@VERSION?arch=…&distro=…&upstream=…`, and the ecosystem os-release names.
    pub(crate) fn package(self) -> Package {
        let namespace = self.os.map_or(self.default_namespace, |o| o.id.as_str());
        let mut qualifiers = Vec::new();
        if let Some(a) = self.arch {
            qualifiers.push(format!("arch={}", purl_encode(a)));
        }
        if let Some(o) = self.os {
            qualifiers.push(format!("distro={}", purl_encode(&o.purl_distro())));
        }
        if let Some(u) = &self.upstream {
            qualifiers.push(format!("upstream={}", purl_encode(u)));
        }
        let mut purl = format!(
            "pkg:{}/{}/{}@{}",
            self.purl_type,
            purl_encode(namespace),
            purl_encode(self.name),
            purl_encode(self.version)
        );
        if !qualifiers.is_empty() {
            purl.push('?');
            purl.push_str(&qualifiers.join("&"));
        }
        Package {
            kind: self.kind,
            name: self.name.to_string(),
            version: self.version.to_string(),
            ecosystem: self.os.and_then(OsRelease::ecosystem),
            source: self.source,
            location: self.path.to_string(),
            purl,
        }
    }
}

/// Percent-encodes a purl segment: everything but RFC 3986's unreserved characters (so `+` is `%2B` and a
/// dpkg epoch's `:` is `%3A`, as Trivy and Syft write them).
pub(crate) fn purl_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_encoding_escapes_plus_and_epoch() {
        assert_eq!(purl_encode("1:2.36-9+deb12u4"), "1%3A2.36-9%2Bdeb12u4");
        assert_eq!(purl_encode("@scope"), "%40scope");
        assert_eq!(purl_encode("a.b-c_d~e"), "a.b-c_d~e");
    }

    #[test]
    fn advisory_key_prefers_the_source_package() {
        let mut p = Package {
            kind: PackageKind::Deb,
            name: "libssl3".into(),
            version: "3.0.11-1~deb12u2".into(),
            ecosystem: Some(Ecosystem::Debian("12".into())),
            source: Some(Source { name: "openssl".into(), version: "3.0.11-1~deb12u2".into() }),
            location: "var/lib/dpkg/status".into(),
            purl: String::new(),
        };
        assert_eq!(p.advisory_key(), ("openssl", "3.0.11-1~deb12u2"));
        p.source = None;
        assert_eq!(p.advisory_key(), ("libssl3", "3.0.11-1~deb12u2"));
        p.kind = PackageKind::Crate;
        p.source = Some(Source { name: "x".into(), version: "1".into() });
        assert_eq!(p.advisory_key(), ("libssl3", "3.0.11-1~deb12u2"));
    }
}
