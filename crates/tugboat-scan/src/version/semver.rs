//! Semantic Versioning 2.0.0 precedence (crates.io, npm), strict to the spec's grammar:
//! `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, numeric identifiers without leading zeros, no `v` prefix
//! and no surrounding blanks (OSV records for crates.io and npm write neither).
//!
//! §11: major, minor, patch numerically; a pre-release is older than its release; pre-release
//! identifiers one by one, numeric ones numerically and older than alphanumeric ones (ASCII order),
//! a shorter set older when it is a prefix of the longer; build metadata ignored (§10).

use std::cmp::Ordering;

struct Version<'a> {
    core: [&'a [u8]; 3],
    pre: Vec<&'a [u8]>,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn is_numeric(id: &[u8]) -> bool {
    id.iter().all(u8::is_ascii_digit)
}

/// A numeric identifier (§2, §9): digits, `0` or without a leading zero.
fn valid_number(id: &[u8]) -> bool {
    !id.is_empty() && is_numeric(id) && (id.len() == 1 || id[0] != b'0')
}

fn parse(v: &str) -> Option<Version<'_>> {
    let (rest, build) = match v.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (v, None),
    };
    if let Some(build) = build {
        // §10: dot-separated, non-empty identifiers of [0-9A-Za-z-]; leading zeros allowed.
        if !build.split('.').all(|id| !id.is_empty() && id.bytes().all(is_ident_char)) {
            return None;
        }
    }
    // The first hyphen starts the pre-release; later ones belong to its identifiers.
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let mut parts = core.split('.').map(str::as_bytes);
    let core = [parts.next()?, parts.next()?, parts.next()?];
    if parts.next().is_some() || !core.iter().all(|p| valid_number(p)) {
        return None;
    }
    let pre = match pre {
        None => Vec::new(),
        Some(pre) => {
            let ids: Vec<&[u8]> = pre.split('.').map(str::as_bytes).collect();
            let ok = |id: &&[u8]| {
                !id.is_empty() && id.iter().all(|&c| is_ident_char(c)) && (!is_numeric(id) || valid_number(id))
            };
            if !ids.iter().all(ok) {
                return None;
            }
            ids
        }
    };
    Some(Version { core, pre })
}

fn cmp_identifier(a: &[u8], b: &[u8]) -> Ordering {
    match (is_numeric(a), is_numeric(b)) {
        (true, true) => super::cmp_digits(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    let core = a.core.iter().zip(&b.core).map(|(x, y)| super::cmp_digits(x, y)).find(|o| o.is_ne());
    if let Some(ord) = core {
        return Some(ord);
    }
    Some(match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a
            .pre
            .iter()
            .zip(&b.pre)
            .map(|(x, y)| cmp_identifier(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.pre.len().cmp(&b.pre.len())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn spec_section_11_chain() {
        // SemVer 2.0.0 §11, both examples.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(compare(a, b), Some(i.cmp(&j)), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn numbers_and_identifiers() {
        assert_eq!(compare("1.10.0", "1.9.0"), Some(Greater));
        assert_eq!(compare("0.0.10", "0.0.9"), Some(Greater));
        assert_eq!(compare("18446744073709551616.0.0", "18446744073709551615.0.0"), Some(Greater));
        assert_eq!(compare("1.0.0-2", "1.0.0-10"), Some(Less)); // numeric identifiers numerically
        assert_eq!(compare("1.0.0-a10", "1.0.0-a9"), Some(Less)); // alphanumeric ones in ASCII order
        assert_eq!(compare("1.0.0-Z", "1.0.0-a"), Some(Less));
        assert_eq!(compare("1.0.0-1", "1.0.0-a"), Some(Less));
        assert_eq!(compare("1.0.0-0-1", "1.0.0-0"), Some(Greater)); // "0-1" is alphanumeric
        assert_eq!(compare("1.0.0-x-y-z.--", "1.0.0-x-y-z"), Some(Greater));
    }

    #[test]
    fn build_metadata_is_ignored() {
        assert_eq!(compare("1.0.0+20130313144700", "1.0.0"), Some(Equal));
        assert_eq!(compare("1.0.0-beta+exp.sha.5114f85", "1.0.0-beta"), Some(Equal));
        assert_eq!(compare("1.0.0+21AF26D3----117B344092BD", "1.0.0+001"), Some(Equal));
        assert_eq!(compare("1.0.0-alpha+001", "1.0.0"), Some(Less));
    }

    #[test]
    fn invalid_versions() {
        for bad in [
            "",
            "v1.0.0",
            "1.0",
            "1",
            "1.0.0.0",
            "01.0.0",
            "1.00.0",
            "1.0.01",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0-a..b",
            "1.0.0+",
            "1.0.0+a..b",
            "1.0.0-a_b",
            "1.0.0+a+b",
            " 1.0.0",
            "1.0.0 ",
            "=1.0.0",
            "1.x.0",
            "-1.0.0",
            "1.0.0-\u{e9}",
        ] {
            assert_eq!(compare(bad, "1.0.0"), None, "{bad:?}");
            assert_eq!(compare("1.0.0", bad), None, "{bad:?}");
        }
        assert_eq!(compare("1.0.0-0", "1.0.0-00a"), Some(Less)); // "00a" is alphanumeric, so allowed
    }
}
