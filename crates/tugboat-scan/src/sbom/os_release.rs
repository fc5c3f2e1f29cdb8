//! `etc/os-release` (os-release(5)): which distribution and release the image's OS packages belong to.

use serde::Serialize;

use crate::Ecosystem;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    /// `ID`, lowercase (`debian`, `ubuntu`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `22.04`, `3.19.1`); None on rolling releases (Debian sid, Alpine edge).
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    /// `VERSION` (`22.04.4 LTS (Jammy Jellyfish)`): only Ubuntu's LTS marker is read from it.
    #[serde(skip)]
    pub(crate) version: Option<String>,
}

impl OsRelease {
    /// Parses the shell-like `KEY=value` lines; values may be quoted. None without an `ID`.
    pub(crate) fn parse(text: &str) -> Option<OsRelease> {
        let (mut id, mut version_id, mut pretty_name, mut version) = (None, None, None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else { continue };
            let value = unquote(value.trim());
            match key.trim() {
                "ID" => id = Some(value.to_ascii_lowercase()),
                "VERSION_ID" => version_id = Some(value),
                "PRETTY_NAME" => pretty_name = Some(value),
                "VERSION" => version = Some(value),
                _ => {}
            }
        }
        Some(OsRelease { id: id.filter(|i| !i.is_empty())?, version_id, pretty_name, version })
    }

    /// The OSV ecosystem of the OS packages: `Debian:12`, `Ubuntu:22.04` (`22.04:LTS` for LTS releases, as
    /// OSV writes them), `Alpine:v3.19`. None for other distributions and for releases without a VERSION_ID.
    pub fn ecosystem(&self) -> Option<Ecosystem> {
        let v = self.version_id.as_deref()?;
        match self.id.as_str() {
            // Debian's advisories are per major release (VERSION_ID is `12`; point releases are not in it).
            "debian" => Some(Ecosystem::Debian(v.split('.').next().unwrap_or(v).to_string())),
            "ubuntu" => {
                let lts = self.version.as_deref().is_some_and(|s| s.contains("LTS"));
                Some(Ecosystem::Ubuntu(if lts { format!("{v}:LTS") } else { v.to_string() }))
            }
            "alpine" => {
                // 3.19.1 -> v3.19 (OSV names Alpine branches, not point releases).
                let mut parts = v.split('.');
                let major = parts.next().filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
                let minor: String = parts.next()?.chars().take_while(|c| c.is_ascii_digit()).collect();
                (!minor.is_empty()).then(|| Ecosystem::Alpine(format!("v{major}.{minor}")))
            }
            _ => None,
        }
    }

    /// `distro=` in OS package purls: `debian-12`, `alpine-3.19.1`.
    pub(crate) fn purl_distro(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}-{v}", self.id),
            None => self.id.clone(),
        }
    }
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2 && (bytes[0] == b'"' || bytes[0] == b'\'') && bytes[bytes.len() - 1] == bytes[0] {
        let inner = &v[1..v.len() - 1];
        if bytes[0] == b'"' {
            // Double quotes allow shell escapes of `"`, `\`, `$` and backquote.
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            return out;
        }
        return inner.to_string();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_ubuntu_alpine() {
        let d = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
        )
        .unwrap();
        assert_eq!(d.ecosystem(), Some(Ecosystem::Debian("12".into())));
        assert_eq!(d.pretty_name.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(d.purl_distro(), "debian-12");

        let u =
            OsRelease::parse("ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\n").unwrap();
        assert_eq!(u.ecosystem(), Some(Ecosystem::Ubuntu("22.04:LTS".into())));
        let u = OsRelease::parse("ID=ubuntu\nVERSION_ID=\"23.10\"\nVERSION=\"23.10 (Mantic Minotaur)\"\n").unwrap();
        assert_eq!(u.ecosystem(), Some(Ecosystem::Ubuntu("23.10".into())));

        let a = OsRelease::parse("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n").unwrap();
        assert_eq!(a.ecosystem(), Some(Ecosystem::Alpine("v3.19".into())));
        assert_eq!(a.purl_distro(), "alpine-3.19.1");
    }

    #[test]
    fn unknown_or_rolling_has_no_ecosystem() {
        let sid = OsRelease::parse("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n").unwrap();
        assert_eq!(sid.ecosystem(), None);
        assert_eq!(OsRelease::parse("ID=fedora\nVERSION_ID=39\n").unwrap().ecosystem(), None);
        assert_eq!(OsRelease::parse("NAME=nothing\n"), None);
        assert_eq!(unquote(r#""a \"b\" c""#), "a \"b\" c");
    }
}
