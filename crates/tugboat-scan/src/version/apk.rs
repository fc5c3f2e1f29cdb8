//! apk-tools' version order (Alpine), ported from `apk_version_compare` in apk-tools 3's src/version.c
//! (its rules are those of 2.x plus the `~hash` token and a string sort of leading-zero components;
//! every ordering case of 2.x's test/version.data holds under them):
//!
//! ```text
//! digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}
//! ```
//!
//! Tokens are compared in turn while both have the same kind. When one side runs out of equal tokens
//! first, a pre-release suffix (`_alpha _beta _pre _rc`) makes it older; otherwise the side whose next
//! token comes earlier in the grammar (a `.digit` before a letter before a suffix … before the end) is
//! newer: `1.2.3_rc1-r0 < 1.2.3-r0 < 1.2.3_p1-r0 < 1.2.3a-r0 < 1.2.4-r0`.
//!
//! apk compares even invalid versions (up to the first invalid token); tug returns `None` for them
//! (apk's `apk_version_validate` decides validity). Numbers are compared exactly at any length, where
//! apk-tools' `uint64_t` would wrap past 19 digits.

use std::cmp::Ordering;

/// Token kinds in grammar order; the order matters (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
}

/// Suffixes in order, matched whole; those before the empty slot (a release) are pre-releases.
const SUFFIXES: [&[u8]; 10] = [b"alpha", b"beta", b"pre", b"rc", b"", b"cvs", b"svn", b"git", b"hg", b"p"];
const SUFFIX_NONE: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    /// The digits, letter or hash as written.
    text: &'a [u8],
    /// The suffix's rank, for `Kind::Suffix`.
    suffix: usize,
}

const END: Token<'static> = Token { kind: Kind::End, text: b"", suffix: 0 };

fn suffix_rank(s: &[u8]) -> Option<usize> {
    SUFFIXES.iter().position(|&known| !known.is_empty() && known == s)
}

fn take_while(s: &[u8], pos: usize, f: impl Fn(u8) -> bool) -> usize {
    s[pos..].iter().take_while(|&&c| f(c)).count()
}

/// The tokens of `v`, or `None` where apk's tokenizer reaches `TOKEN_INVALID`.
fn tokenize(v: &str) -> Option<Vec<Token<'_>>> {
    let s = v.as_bytes();
    let n = take_while(s, 0, |c| c.is_ascii_digit());
    if n == 0 {
        return None;
    }
    let mut tokens = vec![Token { kind: Kind::InitialDigit, text: &s[..n], suffix: 0 }];
    let mut pos = n;
    while pos < s.len() {
        let last = tokens.last().map_or(Kind::InitialDigit, |t| t.kind);
        let token = match s[pos] {
            b'a'..=b'z' if last <= Kind::Digit => {
                pos += 1;
                Token { kind: Kind::Letter, text: &s[pos - 1..pos], suffix: 0 }
            }
            c @ (b'.' | b'0'..=b'9') => {
                // A digit right after a suffix is its number; `.digit` only follows digits.
                let kind = match (c, last) {
                    (b'.', Kind::InitialDigit | Kind::Digit) => Kind::Digit,
                    (b'.', _) => return None,
                    (_, Kind::Suffix) => Kind::SuffixNo,
                    _ => return None,
                };
                pos += usize::from(c == b'.');
                let n = take_while(s, pos, |c| c.is_ascii_digit());
                if n == 0 {
                    return None;
                }
                pos += n;
                Token { kind, text: &s[pos - n..pos], suffix: 0 }
            }
            b'_' if last <= Kind::SuffixNo => {
                let n = take_while(s, pos + 1, |c| c.is_ascii_lowercase());
                let name = &s[pos + 1..pos + 1 + n];
                pos += 1 + n;
                Token { kind: Kind::Suffix, text: name, suffix: suffix_rank(name)? }
            }
            b'~' if last < Kind::CommitHash => {
                let n = take_while(s, pos + 1, |c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                if n == 0 {
                    return None;
                }
                pos += 1 + n;
                Token { kind: Kind::CommitHash, text: &s[pos - n..pos], suffix: 0 }
            }
            b'-' if last < Kind::RevisionNo && s.get(pos + 1) == Some(&b'r') => {
                let n = take_while(s, pos + 2, |c| c.is_ascii_digit());
                if n == 0 {
                    return None;
                }
                pos += 2 + n;
                Token { kind: Kind::RevisionNo, text: &s[pos - n..pos], suffix: 0 }
            }
            _ => return None,
        };
        tokens.push(token);
    }
    Some(tokens)
}

/// `token_cmp`: tokens of the same kind.
fn token_cmp(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        // Gentoo's rule: a component with a leading zero compares as a string (1.01 < 1.1, 8.2.0 < 8.2.001).
        Kind::Digit if a.text.first() == Some(&b'0') || b.text.first() == Some(&b'0') => a.text.cmp(b.text),
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => super::cmp_digits(a.text, b.text),
        Kind::Letter => a.text.cmp(b.text),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        Kind::CommitHash | Kind::End => a.text.cmp(b.text),
    }
}

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (ta, tb) = (tokenize(a)?, tokenize(b)?);
    let mut i = 0;
    loop {
        let (x, y) = (ta.get(i).unwrap_or(&END), tb.get(i).unwrap_or(&END));
        if x.kind != y.kind {
            // The shorter run of equal tokens: a pre-release suffix is older, else the later kind is.
            let pre = |t: &Token<'_>| t.kind == Kind::Suffix && t.suffix < SUFFIX_NONE;
            return Some(if pre(x) {
                Ordering::Less
            } else if pre(y) {
                Ordering::Greater
            } else {
                y.kind.cmp(&x.kind)
            });
        }
        if x.kind == Kind::End {
            return Some(Ordering::Equal);
        }
        let ord = token_cmp(x, y);
        if ord != Ordering::Equal {
            return Some(ord);
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Pairs written for tug from the rules above (not copied: apk-tools' own test data is
    /// GPL-2.0-only and this workspace is MIT OR Apache-2.0). Lines `a OP b`, `#` comments,
    /// `!v` for an invalid version.
    const DATA: &str = include_str!("testdata/apk-version.data");

    #[test]
    fn fixture_pairs() {
        let mut checked = 0;
        for (n, line) in DATA.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [bad] if bad.starts_with('!') => {
                    let bad = &bad[1..];
                    assert_eq!(compare(bad, "1.0"), None, "line {}: {bad:?} must be invalid", n + 1);
                    assert_eq!(compare("1.0", bad), None, "line {}: {bad:?} must be invalid", n + 1);
                }
                [good] => assert_eq!(compare(good, good), Some(Equal), "line {}: {good:?} must be valid", n + 1),
                [a, op, b] => {
                    let want = match op {
                        "<" => Less,
                        ">" => Greater,
                        "=" => Equal,
                        _ => panic!("line {}: unknown operator {op:?}", n + 1),
                    };
                    assert_eq!(compare(a, b), Some(want), "line {}: {a} {op} {b}", n + 1);
                    assert_eq!(compare(b, a), Some(want.reverse()), "line {}: {b} vs {a}", n + 1);
                }
                _ => panic!("line {}: cannot read {line:?}", n + 1),
            }
            checked += 1;
        }
        assert!(checked >= 60, "only {checked} fixture lines");
    }

    #[test]
    fn blanks_are_invalid() {
        // apk keeps versions without surrounding blanks; the fixture's lines are trimmed, so here.
        for bad in ["1.0 ", " 1.0", "1.0-r1 ", "1.0\t", "1. 0"] {
            assert_eq!(compare(bad, "1.0"), None, "{bad:?}");
        }
    }

    #[test]
    fn brief_chain() {
        let chain = ["1.2.3_rc1-r0", "1.2.3-r0", "1.2.3_p1-r0", "1.2.3a-r0", "1.2.4-r0"];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Some(Less), "{} < {}", w[0], w[1]);
        }
    }
}
