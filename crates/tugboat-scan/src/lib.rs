//! `tug scan`: what the stack's images contain (an SBOM read from the image's layers), an OSV database
//! the operator carried in (no network, ever), and the vulnerabilities that match, each ecosystem's
//! versions compared by its own rules.
//!
//! ```text
//!  image (Engine API `images/get`, a tar) ─▶ sbom: layers applied, whiteouts honoured ─▶ packages
//!  OSV all.zip / JSON records ─▶ osv::db (SQLite, provenance, age) ─┐         (name, version, ecosystem,
//!                                                                  ▼          source package)
//!                                         osv::matching (version::compare per ecosystem) ─▶ findings
//! ```

pub mod import;
pub mod osv;
pub mod sbom;
pub mod scan;
pub mod version;

use serde::{Deserialize, Serialize};

/// Where a package comes from, as OSV names ecosystems (`Debian:12`, `Alpine:v3.19`, `crates.io`, `npm`,
/// `PyPI`): what an advisory's `affected[].package.ecosystem` must equal for it to apply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    /// Debian with its major release (`12`).
    Debian(String),
    /// Ubuntu with its release (`22.04`, `22.04:LTS` as OSV writes LTS releases).
    Ubuntu(String),
    /// Alpine with its branch (`v3.19`).
    Alpine(String),
    CratesIo,
    Npm,
    PyPI,
}

/// How an ecosystem orders its versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// dpkg's ordering (Debian, Ubuntu): epoch, upstream, revision; `~` before everything.
    Dpkg,
    /// apk-tools' ordering (Alpine): numbers, letters, `_alpha` … `_p` suffixes, `-rN`.
    Apk,
    /// Semantic Versioning 2.0 precedence (crates.io, npm).
    Semver,
    /// PEP 440 (PyPI).
    Pep440,
}

impl Ecosystem {
    /// The OSV ecosystem name.
    pub fn osv_name(&self) -> String {
        match self {
            Ecosystem::Debian(r) => format!("Debian:{r}"),
            Ecosystem::Ubuntu(r) => format!("Ubuntu:{r}"),
            Ecosystem::Alpine(r) => format!("Alpine:{r}"),
            Ecosystem::CratesIo => "crates.io".into(),
            Ecosystem::Npm => "npm".into(),
            Ecosystem::PyPI => "PyPI".into(),
        }
    }

    /// An OSV ecosystem name read back; `None` for ecosystems tug does not scan.
    pub fn from_osv(name: &str) -> Option<Ecosystem> {
        let (base, release) = name.split_once(':').map_or((name, None), |(b, r)| (b, Some(r)));
        match (base, release) {
            ("Debian", Some(r)) => Some(Ecosystem::Debian(r.into())),
            ("Ubuntu", Some(r)) => Some(Ecosystem::Ubuntu(r.into())),
            ("Alpine", Some(r)) => Some(Ecosystem::Alpine(r.into())),
            ("crates.io", None) => Some(Ecosystem::CratesIo),
            ("npm", None) => Some(Ecosystem::Npm),
            ("PyPI", None) => Some(Ecosystem::PyPI),
            _ => None,
        }
    }

    pub fn scheme(&self) -> Scheme {
        match self {
            Ecosystem::Debian(_) | Ecosystem::Ubuntu(_) => Scheme::Dpkg,
            Ecosystem::Alpine(_) => Scheme::Apk,
            Ecosystem::CratesIo | Ecosystem::Npm => Scheme::Semver,
            Ecosystem::PyPI => Scheme::Pep440,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_names_round_trip() {
        for name in ["Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.19", "crates.io", "npm", "PyPI"] {
            assert_eq!(Ecosystem::from_osv(name).map(|e| e.osv_name()).as_deref(), Some(name));
        }
        assert_eq!(Ecosystem::from_osv("Maven"), None);
    }
}
