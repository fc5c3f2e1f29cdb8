//! dpkg's version order (Debian Policy 5.6.12): `[epoch:]upstream[-revision]`, ported from dpkg's
//! `parseversion` (lib/dpkg/parse.c) and `verrevcmp` (lib/dpkg/version.c), dpkg 1.21.
//!
//! Validity follows `dpkg --compare-versions`' exit codes: what dpkg rejects with an error (exit 2:
//! empty, embedded blanks, empty/non-numeric/negative/over-`INT_MAX` epoch, nothing after the colon,
//! empty upstream or revision) is `None`; what it only warns about (upstream not starting with a
//! digit, characters outside Policy's set) it still orders, and so does this port.

use std::cmp::Ordering;

struct Version<'a> {
    epoch: u32,
    upstream: &'a [u8],
    revision: &'a [u8],
}

/// dpkg's `c_isblank`: space and tab only.
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn parse(s: &str) -> Option<Version<'_>> {
    let s = s.as_bytes();
    let start = s.iter().position(|&c| !is_blank(c))?;
    let s = &s[start..];
    let end = s.iter().position(|&c| is_blank(c)).unwrap_or(s.len());
    if s[end..].iter().any(|&c| !is_blank(c)) {
        return None; // "version string has embedded spaces"
    }
    let s = &s[..end];
    let (epoch, rest) = match s.iter().position(|&c| c == b':') {
        Some(colon) => (parse_epoch(&s[..colon])?, &s[colon + 1..]),
        None => (0, s),
    };
    if rest.is_empty() {
        return None; // "nothing after colon in version number"
    }
    let (upstream, revision) = match rest.iter().rposition(|&c| c == b'-') {
        Some(hyphen) if hyphen + 1 == rest.len() => return None, // "revision number is empty"
        Some(hyphen) => (&rest[..hyphen], &rest[hyphen + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if upstream.is_empty() {
        return None; // "version number is empty"
    }
    Some(Version { epoch, upstream, revision })
}

/// The epoch as `strtol` reads it in `parseversion`: an optional sign, digits, ending exactly at the
/// colon; negative or above `INT_MAX` is an error (`-0` is 0, as strtol makes it).
fn parse_epoch(s: &[u8]) -> Option<u32> {
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None; // "epoch in version is empty" / "is not number"
    }
    let significant = &digits[digits.iter().take_while(|&&c| c == b'0').count()..];
    if significant.is_empty() {
        return Some(0);
    }
    if negative || significant.len() > 10 {
        return None; // "is negative" / "is too big"
    }
    let value: u64 = significant.iter().fold(0, |v, &c| v * 10 + u64::from(c - b'0'));
    u32::try_from(value).ok().filter(|&v| v <= i32::MAX as u32)
}

/// `order()` in verrevcmp: digits 0 (they end a non-digit run), letters their code, `~` below
/// everything (even the end), other characters after all letters. dpkg reads `char`, signed on the
/// platforms Debian ships (amd64, i386): bytes from 0x80 come out as the byte itself (c - 256 + 256),
/// between the letters and the other ASCII characters, which `dpkg --compare-versions` shows.
fn order(c: u8) -> i32 {
    match c {
        0 => 0,
        c if c.is_ascii_digit() => 0,
        c if c.is_ascii_alphabetic() => i32::from(c),
        b'~' => -1,
        c if c >= 0x80 => i32::from(c),
        c => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit runs (by `order`) and digit runs (numerically).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(at(a, i)), order(at(b, j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let da = a[i.min(a.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b[j.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
        let ord = super::cmp_digits(&a[i..i + da], &b[j..j + db]);
        if ord != Ordering::Equal {
            return ord;
        }
        i += da;
        j += db;
    }
    Ordering::Equal
}

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some(
        a.epoch
            .cmp(&b.epoch)
            .then_with(|| verrevcmp(a.upstream, b.upstream))
            .then_with(|| verrevcmp(a.revision, b.revision)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[track_caller]
    fn check(a: &str, b: &str, want: Option<Ordering>) {
        assert_eq!(compare(a, b), want, "{a:?} vs {b:?}");
        assert_eq!(compare(b, a), want.map(Ordering::reverse), "{b:?} vs {a:?}");
    }

    // Each expectation here was checked with `dpkg --compare-versions` 1.21.22 (the integration test
    // tests/dpkg_order.rs asks dpkg itself for these and thousands of real pairs).
    #[test]
    fn policy_examples() {
        check("1.0~rc1", "1.0", Some(Less));
        check("1.0~~", "1.0~", Some(Less));
        check("1.0~", "1.0", Some(Less));
        check("1.0", "1.0a", Some(Less));
        check("1.0a", "1.0+", Some(Less));
        check("1.0+", "1.0.", Some(Less)); // '+' (43) before '.' (46), both after letters
        check("1:0.1", "2.0", Some(Greater));
        check("0:1.0", "1.0", Some(Equal));
        check("1.0", "1.0-0", Some(Equal));
        check("1.0-0", "1.0-00", Some(Equal));
        check("1.0", "1.0-0.0", Some(Less));
        check("1.0-~", "1.0", Some(Less));
        check("1.002", "1.2", Some(Equal));
        check("1.10", "1.9", Some(Greater));
        check("1:2:3", "1:2", Some(Greater)); // the first colon ends the epoch
        check("1.0-1-2", "1.0-1", Some(Greater)); // the last hyphen starts the revision
        check("+1:1", "1:1", Some(Equal));
        check(" 1.0\t", "1.0", Some(Equal));
        check("2147483647:1", "1", Some(Greater));
    }

    #[test]
    fn digit_runs_longer_than_u64() {
        check("1.99999999999999999999999", "1.100000000000000000000000", Some(Less));
        check("0000000000000000000000001", "1", Some(Equal));
    }

    #[test]
    fn warnings_still_order_errors_do_not() {
        check("a1.0", "1.0", Some(Greater)); // dpkg: warning, exit 1 for lt
        check("1_0", "1", Some(Greater));
        check("1.\u{e9}", "1.z", Some(Greater)); // signed char: 0xc3 after the letters …
        check("1.\u{e9}", "1.+", Some(Less)); // … and before other ASCII
        for bad in [
            "",
            "  ",
            "1 0",
            ":1",
            "a:1",
            "1a:1",
            "1:",
            "-1:1",
            "2147483648:1",
            "99999999999999999999:1",
            "1.0-",
            "1:-1",
            "-1",
        ] {
            check(bad, "1.0", None);
        }
    }
}
