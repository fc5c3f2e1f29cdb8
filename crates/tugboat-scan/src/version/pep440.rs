//! PEP 440 versions (PyPI): `[v][N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the
//! normalisations PEP 440 asks tools to accept ("Normalization"): any case, surrounding whitespace, a
//! leading `v`, `-`/`_`/`.` or nothing as separators before and inside the pre/post/dev parts, the
//! spellings `alpha beta c pre preview` (for `a b rc rc rc`) and `rev r` (for `post`), `-N` as a post
//! release, implicit numbers (`1.0a` = `1.0a0`), and `-`/`_` in local parts.
//!
//! Order ("Summary of permitted suffixes and relative ordering"): epoch; release with trailing zeros
//! insignificant (1.0 == 1.0.0); a dev release of a release sorts before its pre-releases; pre
//! (a < b < rc) before the release; post after it; dev before the release it qualifies; a local
//! version after the same public version, segment by segment (numbers numerically and above strings,
//! strings case-insensitively, more segments above a prefix):
//! `1.0.dev0 < 1.0a1.dev0 < 1.0a1 < 1.0a1.post0.dev0 < 1.0a1.post0 < 1.0b1 < 1.0rc1 < 1.0 < 1.0+local
//! < 1.0.post0.dev0 < 1.0.post0`.

use std::cmp::Ordering;

use super::cmp_digits;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    Alpha,
    Beta,
    Rc,
}

/// A number as written (ASCII digits, maybe leading zeros), compared numerically at any length.
type Num = Vec<u8>;

#[derive(Debug)]
struct Version {
    epoch: Num,
    release: Vec<Num>,
    pre: Option<(Pre, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    /// Segments split at `.`, `-` or `_` (all normalise to `.`).
    local: Option<Vec<Vec<u8>>>,
}

/// A cursor over the lower-cased version. Each optional part is tried and rewound when it does not
/// match, as the optional groups of PEP 440's regular expression (Appendix B) are.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }
    fn eat_separator(&mut self) {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
        }
    }
    /// The first of `words` the input continues with (the regex's alternation order).
    fn eat_word(&mut self, words: &[&str]) -> Option<usize> {
        let rest = &self.s[self.pos..];
        let i = words.iter().position(|w| rest.starts_with(w.as_bytes()))?;
        self.pos += words[i].len();
        Some(i)
    }
    fn digits(&mut self) -> Option<Num> {
        let n = self.s[self.pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        self.pos += n;
        Some(self.s[self.pos - n..self.pos].to_vec())
    }
    /// `[-_.]?WORD[-_.]?N?`, the shape of the pre, post and dev parts; the number defaults to 0.
    fn labelled(&mut self, words: &[&str]) -> Option<(usize, Num)> {
        let start = self.pos;
        self.eat_separator();
        let Some(word) = self.eat_word(words) else {
            self.pos = start;
            return None;
        };
        self.eat_separator();
        Some((word, self.digits().unwrap_or_else(|| b"0".to_vec())))
    }
}

fn parse(v: &str) -> Option<Version> {
    // Surrounding whitespace is ignored, case is not significant (PEP 440, "Normalization").
    let lower = v.trim().to_ascii_lowercase();
    let mut c = Cursor { s: lower.as_bytes(), pos: 0 };
    c.eat(b'v');

    let start = c.pos;
    let epoch = match c.digits() {
        Some(n) if c.eat(b'!') => n,
        _ => {
            c.pos = start;
            b"0".to_vec()
        }
    };
    let mut release = vec![c.digits()?];
    while c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
        c.pos += 1;
        release.push(c.digits()?);
    }

    // The regex lists `alpha` before `a` and `preview` before `pre`: the first listed spelling wins.
    let pre = c.labelled(&["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]).map(|(word, n)| {
        let kind = match word {
            0 | 1 => Pre::Alpha,
            2 | 3 => Pre::Beta,
            _ => Pre::Rc,
        };
        (kind, n)
    });

    // A post release: `-N` (implicit label), or `[-_.]?(post|rev|r)[-_.]?N?`.
    let start = c.pos;
    let post = if c.eat(b'-') && c.peek().is_some_and(|d| d.is_ascii_digit()) {
        c.digits()
    } else {
        c.pos = start;
        c.labelled(&["post", "rev", "r"]).map(|(_, n)| n)
    };

    let dev = c.labelled(&["dev"]).map(|(_, n)| n);

    let local = if c.eat(b'+') {
        let mut segments = Vec::new();
        loop {
            let n = c.s[c.pos..].iter().take_while(|d| d.is_ascii_alphanumeric()).count();
            if n == 0 {
                return None; // empty local segment: `1.0+`, `1.0+a..b`
            }
            segments.push(c.s[c.pos..c.pos + n].to_vec());
            c.pos += n;
            if !matches!(c.peek(), Some(b'-' | b'_' | b'.')) {
                break;
            }
            c.pos += 1;
        }
        Some(segments)
    } else {
        None
    };

    (c.pos == c.s.len()).then_some(Version { epoch, release, pre, post, dev, local })
}

/// Where the pre-release part puts a version among its release's versions: packaging's `_cmpkey`
/// sends a dev release with no pre or post part below every pre-release (`1.0.dev0 < 1.0a1`), and a
/// version with no pre-release above them all.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreKey<'a> {
    DevOnly,
    Pre(Pre, &'a [u8]),
    None,
}

fn pre_key(v: &Version) -> PreKey<'_> {
    match (&v.pre, &v.post, &v.dev) {
        (Some((kind, n)), _, _) => PreKey::Pre(*kind, n),
        (None, None, Some(_)) => PreKey::DevOnly,
        (None, _, _) => PreKey::None,
    }
}

fn cmp_release(a: &[Num], b: &[Num]) -> Ordering {
    // Trailing zeros are insignificant: the shorter release is padded with zeros.
    let zero: &[u8] = b"0";
    (0..a.len().max(b.len()))
        .map(|i| cmp_digits(a.get(i).map_or(zero, Vec::as_slice), b.get(i).map_or(zero, Vec::as_slice)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn cmp_pre(a: &Version, b: &Version) -> Ordering {
    match (pre_key(a), pre_key(b)) {
        (PreKey::Pre(ka, na), PreKey::Pre(kb, nb)) => ka.cmp(&kb).then_with(|| cmp_digits(na, nb)),
        (x, y) => x.cmp(&y),
    }
}

/// `None` sorts below any number (post) or above (dev).
fn cmp_optional(a: &Option<Num>, b: &Option<Num>, none_high: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => cmp_digits(x, y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) if none_high => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) if none_high => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

fn cmp_local(a: &Option<Vec<Vec<u8>>>, b: &Option<Vec<Vec<u8>>>) -> Ordering {
    let (a, b) = match (a, b) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Less,
        (Some(_), None) => return Ordering::Greater,
        (Some(a), Some(b)) => (a, b),
    };
    let numeric = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    a.iter()
        .zip(b)
        .map(|(x, y)| match (numeric(x), numeric(y)) {
            (true, true) => cmp_digits(x, y),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.cmp(y),
        })
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some(
        cmp_digits(&a.epoch, &b.epoch)
            .then_with(|| cmp_release(&a.release, &b.release))
            .then_with(|| cmp_pre(&a, &b))
            .then_with(|| cmp_optional(&a.post, &b.post, false))
            .then_with(|| cmp_optional(&a.dev, &b.dev, true))
            .then_with(|| cmp_local(&a.local, &b.local)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[track_caller]
    fn ordered(chain: &[&str]) {
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(compare(a, b), Some(i.cmp(&j)), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn brief_chain() {
        ordered(&[
            "1.0.dev0",
            "1.0a1.dev0",
            "1.0a1",
            "1.0a1.post0.dev0",
            "1.0a1.post0",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post0.dev0",
            "1.0.post0",
        ]);
    }

    #[test]
    fn pep440_summary_of_ordering() {
        // "Summary of permitted suffixes and relative ordering", PEP 440's own example list.
        ordered(&[
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ]);
    }

    #[test]
    fn normalisation_gives_equal_versions() {
        // PEP 440 "Normalization": each pair is the same version spelled two ways.
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0.0.0", "1"),
            ("1.0a1", "1.0A1"),
            ("1.0a1", "1.0alpha1"),
            ("1.0a1", "1.0-a1"),
            ("1.0a1", "1.0_a_1"),
            ("1.0a1", "1.0.a.1"),
            ("1.0a0", "1.0a"),
            ("1.0b2", "1.0beta2"),
            ("1.0rc1", "1.0c1"),
            ("1.0rc1", "1.0pre1"),
            ("1.0rc1", "1.0preview1"),
            ("1.0rc1", "1.0-RC-1"),
            ("1.0.post1", "1.0-1"),
            ("1.0.post1", "1.0post1"),
            ("1.0.post1", "1.0-post1"),
            ("1.0.post1", "1.0.rev1"),
            ("1.0.post1", "1.0r1"),
            ("1.0.post0", "1.0.post"),
            ("1.0.post0", "1.0-r"),
            ("1.0.dev0", "1.0.dev"),
            ("1.0.dev1", "1.0-dev1"),
            ("1.0.dev1", "1.0dev1"),
            ("1.0.post0.dev0", "1.0.post-dev"),
            ("1.0+ubuntu.1", "1.0+ubuntu-1"),
            ("1.0+ubuntu.1", "1.0+UBUNTU_1"),
            ("1.0+ubuntu.1", "1.0+ubuntu.01"),
            ("1.0", "v1.0"),
            ("1.0", "V1.0"),
            ("1.0", "  1.0\n"),
            ("0!1.0", "1.0"),
            ("1.01", "1.1"),
            ("00!1.0", "1.0"),
        ] {
            assert_eq!(compare(a, b), Some(Equal), "{a} == {b}");
        }
    }

    #[test]
    fn epochs_releases_and_locals() {
        assert_eq!(compare("1!0.1", "2.0"), Some(Greater));
        assert_eq!(compare("2!1.0", "1!9.0"), Some(Greater));
        assert_eq!(compare("1.10", "1.9"), Some(Greater));
        assert_eq!(compare("1.0.1", "1.0"), Some(Greater));
        assert_eq!(compare("1.99999999999999999999999", "1.100000000000000000000000"), Some(Less));
        assert_eq!(compare("1.0a10", "1.0a9"), Some(Greater));
        assert_eq!(compare("1.0rc1", "1.0b9"), Some(Greater));
        assert_eq!(compare("1.0.post1", "1.0.1"), Some(Less));
        assert_eq!(compare("1.0.dev1", "0.9.post9"), Some(Greater));
        assert_eq!(compare("1.0+abc", "1.0+abd"), Some(Less));
        assert_eq!(compare("1.0+abc", "1.0+abc.1"), Some(Less)); // more segments above a prefix
        assert_eq!(compare("1.0+1", "1.0+abc"), Some(Greater)); // numbers above strings
        assert_eq!(compare("1.0+10", "1.0+9"), Some(Greater));
        assert_eq!(compare("1.0+local", "1.0.post0"), Some(Less));
        assert_eq!(compare("1.0a1+local", "1.0a1"), Some(Greater));
        assert_eq!(compare("1.0.dev0+x", "1.0.dev0"), Some(Greater));
    }

    #[test]
    fn invalid_versions() {
        for bad in [
            "",
            " ",
            "1.0-",
            "1.0.",
            ".1",
            "a1",
            "1..0",
            "1.0+",
            "1.0+a..b",
            "1.0+a+b",
            "1.0+ä",
            "1.0 1",
            "1.0a1b1",
            "1.0.dev1.dev2",
            "1.0.post1.post2",
            "1.0-dev1a1",
            "vv1.0",
            "1!",
            "!1.0",
            "1.0x",
            "1.0_",
            "1.*",
            "1.0+local.",
            "1.0a1.a2",
            "1,0",
        ] {
            assert_eq!(compare(bad, "1.0"), None, "{bad:?}");
            assert_eq!(compare("1.0", bad), None, "{bad:?}");
        }
    }
}
