//! Version ordering per ecosystem, written from each scheme's specification (no version crates):
//!
//! | scheme | source of the rules |
//! |--------|---------------------|
//! | [`Scheme::Dpkg`] | Debian Policy 5.6.12; dpkg's `parseversion` and `verrevcmp` (checked against `dpkg --compare-versions`) |
//! | [`Scheme::Apk`] | apk-tools 3 `src/version.c` (a superset of 2.x: also `~hash`, leading-zero string sort) |
//! | [`Scheme::Semver`] | SemVer 2.0.0 §2, §9–§11 (strict: no `v`, no leading zeros) |
//! | [`Scheme::Pep440`] | PEP 440 "Version scheme", with its normalisations (case, separators, implicit numbers) |
//!
//! A string that is not a version of the scheme gives `None`, never a guessed order: an advisory range
//! evaluated on a guess would hide or invent a finding.

use std::cmp::Ordering;

use crate::Scheme;

mod apk;
mod dpkg;
mod pep440;
mod semver;

/// `a` against `b` in `scheme`'s order; `None` when either is not a valid version of that scheme.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        Scheme::Dpkg => dpkg::compare(a, b),
        Scheme::Apk => apk::compare(a, b),
        Scheme::Semver => semver::compare(a, b),
        Scheme::Pep440 => pep440::compare(a, b),
    }
}

/// Whether `v` is a version `compare` accepts in `scheme`.
pub fn is_valid(scheme: Scheme, v: &str) -> bool {
    compare(scheme, v, v).is_some()
}

/// Two runs of ASCII digits compared as numbers of any length: leading zeros dropped, then the
/// longer is larger, then digit by digit (no overflow, unlike a parse into `u64`).
fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_compare_as_numbers_of_any_length() {
        assert_eq!(cmp_digits(b"007", b"7"), Ordering::Equal);
        assert_eq!(cmp_digits(b"10", b"9"), Ordering::Greater);
        assert_eq!(cmp_digits(b"", b"0"), Ordering::Equal);
        assert_eq!(cmp_digits(b"99999999999999999999999", b"100000000000000000000000"), Ordering::Less);
    }

    #[test]
    fn dispatch_per_scheme() {
        // The same pair orders differently per scheme: `~` is a dpkg pre-release, invalid elsewhere.
        assert_eq!(compare(Scheme::Dpkg, "1.0~rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare(Scheme::Semver, "1.0~rc1", "1.0.0"), None);
        assert_eq!(compare(Scheme::Pep440, "1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(compare(Scheme::Semver, "1.0", "1.0.0"), None);
        assert_eq!(compare(Scheme::Apk, "1.0-r1", "1.0-r0"), Some(Ordering::Greater));
        assert!(is_valid(Scheme::Pep440, "v1.0"));
        assert!(!is_valid(Scheme::Semver, "v1.0.0"));
    }
}
